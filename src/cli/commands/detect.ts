import { open, readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { drawBoxes, savePng, upscale } from '../../data/draw.js';
import { decodeImage, isJpeg, isPng, rgbToChw, type RgbImage } from '../../data/image.js';
import type { Detections } from '../../detection/faster-rcnn.js';
import { parseArgs, usage, UsageError, type FlagSpec } from '../args.js';
import { BACKEND_NAMES, useBackend } from '../backend.js';
import { prepareOutDir, prepareOutFile, readBytes, writeAtomic, writeFailed } from '../files.js';
import { buildAnyDetector, readAnyDetectorFile, type RunnableDetector } from '../load-model.js';
import { RANGE } from '../validate.js';

/** Largest drawing (64 Mpx of RGB is 192 MB). */
const MAX_PIXELS = 64 * 1024 * 1024;
const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

const flags = {
  checkpoint: { type: 'string', default: 'models/teacher.safetensors', help: 'detector checkpoint (kdet train/distill, or a torchvision model brought in by kdet import)' },
  out: { type: 'string', default: '', help: 'one image: the PNG to write (default detections.png); several: the folder for one PNG each (default detections/)' },
  o: { type: 'string', default: '', help: 'same as --out' },
  json: { type: 'string', default: '', help: 'also write every image\'s detections (≥ --threshold) as JSON to this file' },
  threshold: { type: 'number', default: 0.5, ...RANGE.probability, help: 'keep detections scoring at least this' },
  zoom: { type: 'int', default: 0, min: 0, max: 16, help: 'pixel zoom of the drawing (0: enough to make small images legible, 1 for large ones)' },
  backend: { type: 'string', default: 'wasm', choices: BACKEND_NAMES, help: 'compute backend' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

/** One record of `--json`: boxes in the image's own pixels, labels as indices into the class names. */
interface ImageRecord {
  file: string;
  width: number;
  height: number;
  /**
   * `label`: the class's index in the checkpoint's class names (0 = the first class). An imported
   * torchvision model's detections also carry `torchvisionLabel`, the label torchvision's model
   * returns (background at 0, so label + 1).
   */
  detections: { box: [number, number, number, number]; label: number; name: string; score: number; torchvisionLabel?: number }[];
}

/**
 * `kdet detect <image|folder>...`: run a detector on PNG and JPEG files (a folder: every such file
 * in it, sorted) and draw its boxes with class names and scores, one PNG per image.
 */
export async function detectCommand(argv: string[]): Promise<void> {
  // Accept the conventional single-dash `-o file`.
  const args = argv.map((a) => (a === '-o' ? '--o' : a));
  const { flags: f, positionals } = parseArgs('detect', args, flags, { positionals: Infinity });
  if (f.help) return void console.log(usage('detect', 'Detect objects in PNG or JPEG images (or every one in a folder) and draw them into PNGs.', flags, '<image|folder>...'));
  if (positionals.length === 0) throw new UsageError('kdet detect: give at least one image (PNG or JPEG) or folder');
  // Everything is checked before the backend or the model exists: inputs, checkpoint, outputs.
  const files = await listImages(positionals);
  const file = await readAnyDetectorFile(f.checkpoint);
  const single = files.length === 1 && positionals.length === 1 && !(await isFolder(positionals[0]!));
  const outFlag = f.o ? '-o' : '--out';
  const out = f.o || f.out || (single ? 'detections.png' : 'detections');
  if (single) await prepareOutFile(outFlag, out);
  else await prepareOutDir(outFlag, out);
  if (f.json) await prepareOutFile('--json', f.json);
  const outputs = single ? [out] : uniqueNames(files).map((n) => join(out, `${n}.png`));
  await useBackend(f.backend);
  // Any image size, aspect ratio kept: a model trained on the square built-in scenes gets the
  // transform eval, distill and the browser example give it (anySizeTransform), not a stretch.
  // An imported torchvision model has its own (torchvision's, from the checkpoint).
  const model = buildAnyDetector(file, { anySize: true });
  const records: ImageRecord[] = [];
  const imported = 'imported' in file;
  try {
    for (let k = 0; k < files.length; k++) {
      const path = files[k]!;
      const img = decodeImage(await readBytes(path, 'image'), path);
      const det = await detectOne(model, img);
      const keep = Array.from(det.scores).findIndex((s) => s < f.threshold);
      const n = keep < 0 ? det.scores.length : keep;
      const record: ImageRecord = { file: path, width: img.width, height: img.height, detections: [] };
      for (let i = 0; i < n; i++) {
        // 1e-4 px and 1e-6 in score: enough to compare with torchvision's own output.
        const b = Array.from(det.boxes.subarray(4 * i, 4 * i + 4), (v) => Math.round(v * 1e4) / 1e4) as [number, number, number, number];
        const label = det.labels[i]! - 1;
        record.detections.push({ box: b, label, name: file.meta.classNames[label]!, score: Math.round(det.scores[i]! * 1e6) / 1e6, ...(imported ? { torchvisionLabel: label + 1 } : {}) });
      }
      records.push(record);
      await draw(img, det, file.meta.classNames, f.threshold, f.zoom, outputs[k]!);
      console.log(`${path}: ${n} detection${n === 1 ? '' : 's'} ≥ ${f.threshold} → ${outputs[k]}`);
      for (const d of record.detections) console.log(`  ${d.name} ${d.score.toFixed(3)} [${d.box.map((v) => v.toFixed(1)).join(', ')}]`);
    }
  } finally {
    model.dispose();
  }
  if (f.json) {
    await writeAtomic(f.json, JSON.stringify(records, null, 1) + '\n');
    console.log(`wrote ${f.json} (${records.length} image${records.length === 1 ? '' : 's'})`);
  }
}

/** The model's detections on one image, in the image's own pixels (its transform resizes and maps back). */
async function detectOne(model: RunnableDetector, img: RgbImage): Promise<Detections> {
  return (await model.detectImages([{ image: rgbToChw(img), height: img.height, width: img.width }]))[0]!;
}

async function draw(img: RgbImage, det: Detections, classNames: readonly string[], threshold: number, zoomFlag: number, out: string): Promise<void> {
  const zoom = zoomFlag || Math.max(1, Math.min(4, Math.floor(512 / Math.max(img.width, img.height))));
  if (img.width * zoom * img.height * zoom > MAX_PIXELS) throw new UsageError(`kdet detect: the drawing would be ${img.width * zoom}×${img.height * zoom} pixels; lower --zoom (the image is ${img.width}×${img.height})`);
  const picture = upscale(img, zoom);
  drawBoxes(picture, { boxes: Float32Array.from(det.boxes, (v) => v * zoom), labels: det.labels, scores: det.scores }, { classNames, scoreThreshold: threshold });
  await savePng(out, picture).catch(writeFailed(out));
}

async function isFolder(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}

/** The image files named, a folder standing for its PNG and JPEG files (sorted); each checked to exist. */
async function listImages(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = await stat(p);
    } catch {
      throw new UsageError(`kdet detect: image '${p}' cannot be read: ENOENT (no such file or folder)`);
    }
    if (st.isDirectory()) {
      const names = (await readdir(p)).filter((n) => IMAGE_EXTENSIONS.includes(extname(n).toLowerCase())).sort();
      if (names.length === 0) throw new UsageError(`kdet detect: folder '${p}' holds no PNG or JPEG file`);
      out.push(...names.map((n) => join(p, n)));
    } else if (st.isFile()) {
      await checkImageHeader(p);
      out.push(p);
    } else {
      throw new UsageError(`kdet detect: image '${p}' is not a regular file`);
    }
  }
  return out;
}

/** A named file must start as a PNG or JPEG does (read before any model is built; cheap). */
async function checkImageHeader(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    const head = new Uint8Array(8);
    await handle.read(head, 0, 8, 0);
    if (!isPng(head) && !isJpeg(head)) throw new UsageError(`kdet detect: ${path}: not a JPEG or PNG file`);
  } finally {
    await handle.close();
  }
}

/** Output names from the inputs' base names, made unique (a.png and a.jpg → a.png, a-2.png). */
function uniqueNames(files: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return files.map((f) => {
    const stem = basename(f, extname(f));
    const k = (seen.get(stem) ?? 0) + 1;
    seen.set(stem, k);
    return k === 1 ? stem : `${stem}-${k}`;
  });
}
