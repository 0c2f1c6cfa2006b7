import { tensor } from '../../engine/ops/creation.js';
import { drawBoxes, savePng, upscale } from '../../data/draw.js';
import { decodeImage, resizeChw, rgbToChw } from '../../data/image.js';
import { parseArgs, usage, UsageError, type FlagSpec } from '../args.js';
import { BACKEND_NAMES, useBackend } from '../backend.js';
import { prepareOutFile, readBytes, writeFailed } from '../files.js';
import { buildDetector, readDetectorFile } from '../load-model.js';
import { RANGE } from '../validate.js';

/** Largest drawing (64 Mpx of RGB is 192 MB). */
const MAX_PIXELS = 64 * 1024 * 1024;

const flags = {
  checkpoint: { type: 'string', default: 'models/teacher.safetensors', help: 'detector checkpoint' },
  out: { type: 'string', default: 'detections.png', help: 'PNG to write (-o works too)' },
  o: { type: 'string', default: '', help: 'same as --out' },
  threshold: { type: 'number', default: 0.5, ...RANGE.probability, help: 'draw detections scoring at least this' },
  zoom: { type: 'int', default: 3, ...RANGE.zoom, help: 'pixel zoom of the picture' },
  backend: { type: 'string', default: 'wasm', choices: BACKEND_NAMES, help: 'compute backend' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

/** `kdet detect <image>`: run a detector on a PNG or JPEG and draw its boxes into a PNG. */
export async function detectCommand(argv: string[]): Promise<void> {
  // Accept the conventional single-dash `-o file`.
  const args = argv.map((a) => (a === '-o' ? '--o' : a));
  const { flags: f, positionals } = parseArgs('detect', args, flags, { positionals: 1 });
  if (f.help) return void console.log(usage('detect', 'Detect objects in a PNG or JPEG image and draw them into a PNG.', flags, '<image>'));
  if (positionals.length !== 1) throw new UsageError('kdet detect: give exactly one image (PNG or JPEG)');
  const path = positionals[0]!;
  const out = f.o || f.out;
  // Everything is checked before the backend or the model exists: image, checkpoint, output.
  const bytes = await readBytes(path, 'image');
  let img;
  try {
    img = decodeImage(bytes, path);
  } catch (e) {
    throw new UsageError(`kdet detect: ${(e as Error).message}`);
  }
  if (img.width * f.zoom * img.height * f.zoom > MAX_PIXELS) throw new UsageError(`kdet detect: the drawing would be ${img.width * f.zoom}×${img.height * f.zoom} pixels; lower --zoom (the image is ${img.width}×${img.height})`);
  const file = await readDetectorFile(f.checkpoint);
  await prepareOutFile(f.o ? '-o' : '--out', out);
  await useBackend(f.backend);
  const model = buildDetector(file);
  const meta = file.meta;
  // The detector was trained on square scenes of one size: resize to it and scale boxes back.
  const size = meta.data.size;
  const chw = resizeChw(rgbToChw(img), 3, img.height, img.width, size, size);
  const images = tensor(chw, [1, 3, size, size]);
  const [det] = await model.detect(images);
  images.dispose();
  const sx = img.width / size;
  const sy = img.height / size;
  const boxes = Float32Array.from(det!.boxes, (v, i) => v * (i % 2 === 0 ? sx : sy));
  const picture = upscale(img, f.zoom);
  const scaled = Float32Array.from(boxes, (v) => v * f.zoom);
  drawBoxes(picture, { boxes: scaled, labels: det!.labels, scores: det!.scores }, { classNames: meta.classNames, scoreThreshold: f.threshold });
  await savePng(out, picture).catch(writeFailed(out));
  const shown = Array.from(det!.scores).filter((s) => s >= f.threshold).length;
  console.log(`${shown} detections ≥ ${f.threshold} (of ${det!.scores.length}) drawn into ${out}`);
  for (let i = 0; i < det!.scores.length && det!.scores[i]! >= f.threshold; i++) {
    const b = Array.from(boxes.subarray(i * 4, i * 4 + 4), (v) => v.toFixed(1)).join(', ');
    console.log(`  ${meta.classNames[det!.labels[i]! - 1]} ${det!.scores[i]!.toFixed(3)} [${b}]`);
  }
  model.dispose();
}
