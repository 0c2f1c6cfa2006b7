// TvDistiller against the paper's objective written in PyTorch on torchvision 0.14's own modules
// (scripts/fixtures-tv-distill.py -> test/fixtures/models/tv-distill.json): a
// MobileNetV3-Large-320-FPN student in training mode, a ResNet-18-FPN teacher in eval mode, three
// 1×1 adapters, generated weights, three images (one without objects), every anchor and ROI
// sampled. The five terms, the level matching, the share of anchors matched, and full gradients of
// the total with respect to student and adapter tensors.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import { createWasmBackend } from '../../src/backends/wasm/index.js';
import { Rng } from '../../src/engine/random.js';
import { valueAndGradsAsync } from '../../src/engine/tape.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { tvFasterRCNN } from '../../src/detection/tv-faster-rcnn.js';
import type { TvPresetName } from '../../src/detection/tv-presets.js';
import { defaultDistillConfig } from '../../src/distillation/config.js';
import { matchLevels, TvDistiller } from '../../src/distillation/tv-distiller.js';
import type { Module } from '../../src/nn/module.js';
import { assertClose } from '../helpers/assert.js';
import type { FixtureArray } from '../helpers/fixtures.js';
import { generate, type GeneratedSpec } from '../models/torchvision-weights.js';
import { f32 } from '../detection/tv-fixture.js';

interface DistillFixture {
  student: TvPresetName;
  teacher: TvPresetName;
  kwargs: { num_classes: number; min_size: number; max_size: number; rpn_batch_size_per_image: number; box_batch_size_per_image: number; rpn_post_nms_top_n_train: number };
  config: { mu: number; T: number; w_bg: number; nu: number; margin: number; gamma: number };
  student_tensors: GeneratedSpec[];
  teacher_tensors: GeneratedSpec[];
  adapter_tensors: GeneratedSpec[];
  images: GeneratedSpec[];
  targets: { boxes: number[][]; labels: number[] }[];
  image_sizes: [number, number][];
  padded: [number, number];
  num_proposals: number[];
  levels: (string | null)[];
  matched_anchor_fraction: number;
  terms: Record<string, number>;
  grads: Record<string, FixtureArray>;
  torch_f32_grad_err: Record<string, number>;
}
const fx = JSON.parse(readFileSync(new URL('../fixtures/models/tv-distill.json', import.meta.url), 'utf8')) as DistillFixture;

let backend: Backend;
beforeAll(async () => {
  backend = await createWasmBackend({ threads: 1 });
  k.setBackend(backend);
});
afterAll(() => backend.dispose());

/** Load generated weights into `m`, each spec's name minus `strip` being the tensor's. */
function load(m: Module, specs: readonly GeneratedSpec[], strip = ''): void {
  const byName = new Map(specs.map((s) => [s.name.slice(strip.length), s]));
  m.loadStateDict(new Map(m.namedParameters().map(([name, p]) => {
    const s = byName.get(name);
    return [name, s ? k.tensor(generate(s.name, s.shape, s.lo, s.hi), s.shape, { backend }) : k.zeros([...p.shape], { backend })];
  })));
}

it("the five terms and the gradients equal the paper's objective written in PyTorch on torchvision's modules (wasm)", async () => {
  const kw = fx.kwargs;
  const opts = { minSize: kw.min_size, maxSize: kw.max_size, rpn: { batchSizePerImage: kw.rpn_batch_size_per_image, postNmsTopN: { training: kw.rpn_post_nms_top_n_train, testing: 1000 } }, box: { batchSizePerImage: kw.box_batch_size_per_image }, backend };
  const before = k.memoryStats(backend);
  const student = tvFasterRCNN(fx.student, kw.num_classes, new Rng(1), opts);
  const teacher = tvFasterRCNN(fx.teacher, kw.num_classes, new Rng(2), opts);
  load(student, fx.student_tensors);
  load(teacher, fx.teacher_tensors, 'teacher.');
  const c = fx.config;
  const d = new TvDistiller(student.train(), teacher, defaultDistillConfig({ mu: c.mu, temperature: c.T, backgroundWeight: c.w_bg, nu: c.nu, margin: c.margin, gamma: c.gamma, soft: true, regression: 'bounded', hint: true, adapter: '1x1', hintNorm: 'l2', hintReduction: 'mean' }), new Rng(3));
  load(d.adapters, fx.adapter_tensors, 'adapters.');
  const images = fx.images.map((s) => ({ image: generate(s.name, s.shape, s.lo, s.hi), height: s.shape[1]!, width: s.shape[2]! }));
  const t = student.transform.batch(images, fx.targets.map((g) => Float32Array.from(g.boxes.flat())));
  expect([t.imageSizes, t.shape.slice(2)]).toEqual([fx.image_sizes, fx.padded]);
  const x = k.tensor(t.images, t.shape, { backend });
  const named = new Map(d.namedParameters().map(([n, p]) => [n.replace(/^student\./, ''), p]));
  const wanted = Object.keys(fx.grads);
  const parts: Record<string, number> = {};
  const { value, grads } = await valueAndGradsAsync(async () => {
    const out = await d.losses(x, { boxes: t.boxes!, labels: fx.targets.map((g) => Int32Array.from(g.labels)), imageSizes: t.imageSizes }, new Rng(1), 1000);
    for (const [n, v] of Object.entries(out)) parts[n] = await v.itemAsync();
    return Object.values(out).reduce((a, b) => k.add(a, b));
  }, wanted.map((n) => named.get(n)!.value));
  x.dispose();
  for (const [name, want] of Object.entries(fx.terms)) expect(Math.abs(parts[name]! - want), `${name}: ${parts[name]} vs ${want}`).toBeLessThanOrEqual(1e-4 * Math.abs(want));
  expect(d.matchedAnchorFraction).toBeCloseTo(fx.matched_anchor_fraction, 10);
  const bad: string[] = [];
  for (const [i, n] of wanted.entries()) {
    try {
      assertClose(await grads[i]!.data(), f32(fx.grads[n]!), { rtol: Math.max(1e-2, 3 * fx.torch_f32_grad_err[n]!), what: `grad ${n}` });
    } catch (e) {
      bad.push((e as Error).message);
    }
  }
  expect(bad).toEqual([]);
  console.log(`[wasm] TvDistiller terms ${Object.entries(parts).map(([n, v]) => `${n} ${v.toFixed(5)}`).join(', ')} (PyTorch: ${Object.values(fx.terms).map((v) => v.toFixed(5)).join(', ')})`);
  value.dispose();
  grads.forEach((g: Tensor) => g.dispose());
  d.dispose();
  teacher.dispose();
  await backend.sync();
  expect(k.memoryStats(backend)).toEqual(before);
}, 400_000);

it("matches levels as the fixture's script did: the student's stride-32 levels imitate the ResNet's '3', 'pool' its 'pool'", () => {
  const fm = (sizes: [string, number][]) => new Map(sizes.map(([n, s]) => [n, { shape: [1, 256, s, s] } as unknown as Tensor]));
  expect(matchLevels(fm([['0', 4], ['1', 4], ['pool', 2]]), fm([['0', 32], ['1', 16], ['2', 8], ['3', 4], ['pool', 2]]))).toEqual(fx.levels);
});
