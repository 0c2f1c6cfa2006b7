/**
 * The README's picture: a teacher's detections beside a distilled student's on the same held-out
 * scenes (Fashion-MNIST test items only), the ground truth dashed under both.
 *
 * Usage: node scripts/run.mjs scripts/figure-teacher-student.ts --teacher models/teacher.safetensors \
 *          --student models/student.safetensors --scenes 4 --out docs/img/teacher-vs-student.png
 */
import { parseArgs, usage, type FlagSpec } from '../src/cli/args.js';
import { useBackend } from '../src/cli/backend.js';
import { loadDetector } from '../src/cli/load-model.js';
import { openDataSet, type DataSpec } from '../src/cli/presets.js';
import { drawText, renderSample, savePng, tile } from '../src/data/draw.js';
import type { RgbImage } from '../src/data/image.js';
import { tensor } from '../src/engine/ops/creation.js';

const flags = {
  teacher: { type: 'string', default: 'models/teacher.safetensors', help: 'teacher checkpoint' },
  student: { type: 'string', default: 'models/student.safetensors', help: 'student checkpoint' },
  scenes: { type: 'int', default: 4, help: 'held-out scenes to show' },
  first: { type: 'int', default: 0, help: 'index of the first held-out scene' },
  threshold: { type: 'number', default: 0.5, help: 'draw detections scoring at least this' },
  out: { type: 'string', default: 'docs/img/teacher-vs-student.png', help: 'PNG to write' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

const { flags: f } = parseArgs('figure', process.argv.slice(2), flags);
if (f.help) {
  console.log(usage('figure', 'A teacher’s detections beside a student’s on held-out scenes.', flags));
  process.exit(0);
}
await useBackend('wasm');
const teacher = await loadDetector(f.teacher, '--teacher');
const student = await loadDetector(f.student, '--student');
// The teacher's own held-out scenes: the student was evaluated on the same split.
const data = teacher.meta.data as DataSpec; // the built-in scenes
const scenes = await openDataSet(data, 'test');
const size = data.size;

/** One row: a label, then each scene with this model's detections. */
async function row(label: string, model: typeof teacher): Promise<RgbImage[]> {
  const pictures: RgbImage[] = [];
  for (let i = f.first; i < f.first + f.scenes; i++) {
    const sample = scenes.get(i);
    const images = tensor(sample.image, [1, 3, size, size]);
    const [det] = await model.model.detect(images);
    images.dispose();
    const img = renderSample(sample, { detections: det!, classNames: model.meta.classNames, scoreThreshold: f.threshold, scale: 3 });
    drawText(img, label, 6, img.height - 20, [255, 255, 255], 2);
    pictures.push(img);
  }
  return pictures;
}

const picture = tile([...(await row('teacher', teacher)), ...(await row('student', student))], f.scenes);
await savePng(f.out, picture);
console.log(`wrote ${f.out}: ${f.scenes} held-out scenes from ${f.first}, teacher (top) and student (bottom), detections ≥ ${f.threshold}`);
