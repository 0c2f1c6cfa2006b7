/**
 * How strongly does each term of the distillation objective pull on the student? For a few
 * training batches, the value of each term and the norm of its gradient on the student's
 * backbone, RPN head and box head, at initialisation and for a trained student. Issue 6 asks for
 * "the normalisation and scale of each term (the hint above all)": this measures it instead of
 * guessing it.
 *
 *   node scripts/run.mjs scripts/term-scales.ts [--trained results/ablation-1500/runs/student-s0/best.safetensors]
 *      [--teacher models/teacher.safetensors] [--batches 4] [--out results/term-scales.md]
 *
 * Terms are measured at unit weight (μ, ν, γ, λ = 1 where they scale a term) so that a weight
 * can be read off the table: the pull of γ·L_hint is γ × its row.
 */
import { writeFileSync } from 'node:fs';
import { add, mul } from '../src/engine/ops/elementwise.js';
import { Rng } from '../src/engine/random.js';
import { valueAndGradsAsync } from '../src/engine/tape.js';
import type { Tensor } from '../src/engine/tensor.js';
import { BatchLoader } from '../src/data/loader.js';
import { batchToTensors } from '../src/detection/batch.js';
import { FasterRCNN } from '../src/detection/faster-rcnn.js';
import { defaultDistillConfig, type DistillConfig } from '../src/distillation/config.js';
import { Distiller } from '../src/distillation/distiller.js';
import { useBackend } from '../src/cli/backend.js';
import { loadDetector } from '../src/cli/load-model.js';
import { modelConfig, openDataSet, type DataSpec } from '../src/cli/presets.js';
import type { Parameter } from '../src/nn/parameter.js';

const argv = process.argv.slice(2);
const flag = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1]! : dflt;
};
const teacherPath = flag('teacher', 'models/teacher.safetensors');
const trainedPath = flag('trained', 'results/ablation-1500/runs/student-s0/best.safetensors');
const batches = Number(flag('batches', '4'));
const outPath = flag('out', 'results/term-scales.md');

await useBackend('wasm');
const { model: teacher, meta } = await loadDetector(teacherPath, '--teacher');
const train = await openDataSet(meta.data as DataSpec, 'train'); // the built-in scenes

const OFF: Partial<DistillConfig> = { soft: false, regression: 'none', hint: false, lambda: 1 };
/** Each row: a config, which logged terms to sum, and (optionally) a baseline to subtract. */
const TERMS: { name: string; cfg: Partial<DistillConfig>; keys: string[]; minus?: Partial<DistillConfig> }[] = [
  { name: 'hard CE (RPN + ROI), ground truth', cfg: OFF, keys: ['rpnCls', 'roiCls'] },
  { name: 'soft CE (RPN + ROI), w_bg 1.5, T 1', cfg: { ...OFF, soft: true, mu: 0, backgroundWeight: 1.5 }, keys: ['rpnCls', 'roiCls'] },
  { name: 'soft CE (RPN + ROI), unweighted', cfg: { ...OFF, soft: true, mu: 0, backgroundWeight: 1 }, keys: ['rpnCls', 'roiCls'] },
  { name: 'smooth-L1 (RPN + ROI), ground truth', cfg: OFF, keys: ['rpnReg', 'roiReg'] },
  { name: 'L_b, teacher-bounded (ν = 1)', cfg: { ...OFF, regression: 'bounded', nu: 1 }, keys: ['rpnReg', 'roiReg'], minus: OFF },
  { name: 'plain L2 to teacher (ν = 1)', cfg: { ...OFF, regression: 'l2', nu: 1 }, keys: ['rpnReg', 'roiReg'], minus: OFF },
  { name: 'hint L2, mean, 1×1 adapter (γ = 1)', cfg: { ...OFF, hint: true, gamma: 1, adapter: '1x1' }, keys: ['hint'] },
  { name: 'hint L2, mean, no adapter (γ = 1)', cfg: { ...OFF, hint: true, gamma: 1, adapter: 'none' }, keys: ['hint'] },
  { name: 'hint L2, fine-grained, 3×3 adapter (γ = 1)', cfg: { ...OFF, hint: true, gamma: 1, adapter: '3x3', fineGrained: true }, keys: ['hint'] },
];

type Groups = { backbone: Parameter[]; rpn: Parameter[]; box: Parameter[] };
const groupsOf = (s: FasterRCNN): Groups => ({ backbone: s.backbone.parameters(), rpn: s.rpnHead.parameters(), box: s.boxHead.parameters() });

type Term = (typeof TERMS)[number];

/** One term on one batch: its value and gradient norms (a difference term through the gradient of the difference). */
async function termOnce(student: FasterRCNN, t: Term, images: Tensor, targets: Parameters<Distiller['losses']>[1], seed: number): Promise<{ value: number; norms: Record<keyof Groups, number> }> {
  const d = new Distiller(student, teacher, defaultDistillConfig(t.cfg), new Rng(99));
  const base = t.minus ? new Distiller(student, teacher, defaultDistillConfig(t.minus), new Rng(99)) : null;
  const g = groupsOf(student);
  const params = [...g.backbone, ...g.rpn, ...g.box].map((p) => p.value);
  const sum = (parts: Record<string, Tensor>): Tensor => t.keys.map((k) => parts[k]!).reduce((a, b) => add(a, b));
  const r = await valueAndGradsAsync(async () => {
    // The same sampling seed for both, so that they score the same anchors and ROIs.
    const x = sum(await d.losses(images, targets, new Rng(seed), 1_000_000));
    return base ? add(x, mul(sum(await base.losses(images, targets, new Rng(seed), 1_000_000)), -1)) : x;
  }, params);
  const value = await r.value.itemAsync();
  const norms = { backbone: 0, rpn: 0, box: 0 };
  let i = 0;
  for (const k of ['backbone', 'rpn', 'box'] as const) {
    for (let j = 0; j < g[k].length; j++) for (const x of (await r.grads[i++]!.data()) as Float32Array) norms[k] += x * x;
  }
  r.value.dispose();
  r.grads.forEach((q) => q.dispose());
  d.adapter.dispose();
  base?.adapter.dispose();
  return { value, norms };
}

async function measure(student: FasterRCNN): Promise<{ name: string; value: number; backbone: number; rpn: number; box: number }[]> {
  const loader = new BatchLoader(train, { batchSize: 4, shuffle: true, seed: 7, dropLast: true, hflip: 0 });
  const rows = TERMS.map((t) => ({ name: t.name, value: 0, backbone: 0, rpn: 0, box: 0 }));
  let b = 0;
  for await (const batch of loader.epoch(0)) {
    if (b++ >= batches) break;
    const { images, targets } = batchToTensors(batch);
    for (const [i, t] of TERMS.entries()) {
      const { value, norms } = await termOnce(student, t, images, targets, 1000 + b);
      rows[i]!.value += value / batches;
      rows[i]!.backbone += Math.sqrt(norms.backbone) / batches;
      rows[i]!.rpn += Math.sqrt(norms.rpn) / batches;
      rows[i]!.box += Math.sqrt(norms.box) / batches;
    }
    images.dispose();
  }
  return rows;
}

const fresh = new FasterRCNN(
  { ...modelConfig('student', meta.classNames.length), anchors: meta.model.anchors },
  new Rng(0),
);
const { model: trained } = await loadDetector(trainedPath, '--trained');
const table = (title: string, rows: Awaited<ReturnType<typeof measure>>): string[] => {
  const hard = rows[0]!;
  return [
    `### ${title}`,
    '',
    '| term (unit weight) | value | ‖∇ backbone‖ | ‖∇ RPN head‖ | ‖∇ box head‖ | backbone pull ÷ hard CE |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.name} | ${r.value.toFixed(4)} | ${r.backbone.toExponential(2)} | ${r.rpn.toExponential(2)} | ${r.box.toExponential(2)} | ${(r.backbone / hard.backbone).toFixed(2)} |`),
    '',
  ];
};
fresh.train();
trained.train();
const lines = [
  '# The scale of each distillation term',
  '',
  `Mean over ${batches} training batches of 4 scenes (loader seed 7, no flips) of each term's value and the L2 norm of its gradient on each part of the student, with the teacher \`${teacherPath}\`. Terms at unit weight; adapters freshly initialised. Command: \`node scripts/run.mjs scripts/term-scales.ts --teacher ${teacherPath} --batches ${batches}\`.`,
  '',
  ...table('Student at initialisation (seed 0)', await measure(fresh)),
  ...table(`Student trained alone (\`${trainedPath}\`)`, await measure(trained)),
];
writeFileSync(outPath, lines.join('\n'));
console.log(lines.join('\n'));
