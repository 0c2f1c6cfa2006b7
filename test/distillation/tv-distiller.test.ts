// The paper's terms on torchvision's FPN detectors (src/distillation/tv-distiller.ts): a
// MobileNetV3-Large-320-FPN student and a ResNet-18-FPN teacher with random weights on two 64²
// images. Checked here: which anchors and levels are matched; that with every teacher term off the
// objective is the student's own torchvision losses exactly; that a teacher identical to the
// student adds exactly nothing where the paper's terms must vanish (bounded regression, hints
// through an identity adapter) and the soft targets' entropy where they cannot; that gradients
// reach the student and adapters and never the teacher; that nothing leaks; clear refusals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import { createWasmBackend } from '../../src/backends/wasm/index.js';
import { Rng } from '../../src/engine/random.js';
import { valueAndGradsAsync } from '../../src/engine/tape.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { MultiLevelAnchorGenerator } from '../../src/detection/anchors-multilevel.js';
import type { TargetBatch } from '../../src/detection/faster-rcnn.js';
import { tvFasterRCNN } from '../../src/detection/tv-faster-rcnn.js';
import { TV_PRESETS } from '../../src/detection/tv-presets.js';
import { defaultDistillConfig, type DistillConfig } from '../../src/distillation/config.js';
import { MemoryFeatureStore } from '../../src/distillation/teacher-cache.js';
import { matchAnchors, TvDistiller } from '../../src/distillation/tv-distiller.js';
import { roundToFloat16 } from '../../src/distillation/tv-teacher-cache.js';

let backend: Backend;
beforeAll(async () => {
  backend = await createWasmBackend({ threads: 1 });
  k.setBackend(backend);
});
afterAll(() => backend.dispose());

const SIZE = 64;
const build = (name: 'fasterrcnn_mobilenet_v3_large_320_fpn' | 'fasterrcnn_resnet18_fpn', seed: number) =>
  tvFasterRCNN(name, 3, new Rng(seed), { minSize: SIZE, maxSize: SIZE, backend, rpn: { batchSizePerImage: 64 }, box: { batchSizePerImage: 32 } });

function batch(): { images: Tensor; targets: TargetBatch } {
  const r = new Rng(11);
  const x = Float32Array.from({ length: 2 * 3 * SIZE * SIZE }, () => r.uniform());
  return {
    images: k.tensor(x, [2, 3, SIZE, SIZE], { backend }),
    targets: { boxes: [Float32Array.of(4, 6, 40, 44), Float32Array.of(10, 10, 60, 50, 2, 30, 20, 62)], labels: [Int32Array.of(1), Int32Array.of(2, 1)], imageSizes: [[SIZE, SIZE], [SIZE, SIZE]] },
  };
}

async function losses(d: TvDistiller, seed = 5): Promise<Record<string, number>> {
  const { images, targets } = batch();
  const out = await d.losses(images, targets, new Rng(seed), 100);
  const values = Object.fromEntries(await Promise.all(Object.entries(out).map(async ([name, t]) => [name, await t.itemAsync()] as const)));
  Object.values(out).forEach((t) => t.dispose());
  images.dispose();
  return values;
}

describe('anchor and level matching', () => {
  it('matches anchors as boxes: the identity for one generator; across MobileNetV3 and ResNet FPN anchors, only equal boxes', () => {
    const mob = TV_PRESETS.fasterrcnn_mobilenet_v3_large_320_fpn;
    const res = TV_PRESETS.fasterrcnn_resnet18_fpn;
    const a = new MultiLevelAnchorGenerator(mob.anchorSizes, mob.aspectRatios).anchors([SIZE, SIZE], [[2, 2], [2, 2], [1, 1]]).boxes;
    const b = new MultiLevelAnchorGenerator(res.anchorSizes, res.aspectRatios).anchors([SIZE, SIZE], [[16, 16], [8, 8], [4, 4], [2, 2], [1, 1]]).boxes;
    // The first of equal boxes wins: MobileNetV3's two stride-32 levels carry the same anchors.
    // Levels '0' and '1' have 2×2 locations × 15 anchors each, 'pool' 1×15.
    const self = matchAnchors(a, a);
    expect(Array.from(self.subarray(0, 60))).toEqual(Array.from({ length: 60 }, (_, i) => i));
    expect(self[60]).toBe(0);
    const map = matchAnchors(a, b);
    let matched = 0;
    map.forEach((j, i) => {
      if (j < 0) return;
      matched++;
      expect(Array.from(b.subarray(4 * j, 4 * j + 4))).toEqual(Array.from(a.subarray(4 * i, 4 * i + 4)));
    });
    // Sizes 32–256 on the stride-32 grid exist in the ResNet pyramid (on its stride-4 to -32
    // levels); size 512 only where the stride-64 'pool' grid meets it.
    expect(matched).toBeGreaterThan(0);
    expect(matched).toBeLessThan(map.length);
  });
});

describe('TvDistiller (MobileNetV3-320-FPN student, ResNet-18-FPN teacher, wasm)', () => {
  it('with every teacher term off, the objective is the student alone: the same four losses exactly', async () => {
    const student = build('fasterrcnn_mobilenet_v3_large_320_fpn', 1).train();
    const teacher = build('fasterrcnn_resnet18_fpn', 2);
    const d = new TvDistiller(student, teacher, defaultDistillConfig({ soft: false, regression: 'none', hint: false }), new Rng(3));
    const got = await losses(d);
    const { images, targets } = batch();
    const own = await student.forwardTrain(images, targets, new Rng(5));
    const want = Object.fromEntries(await Promise.all(Object.entries(own.losses).map(async ([n, t]) => [n, await t.itemAsync()] as const)));
    expect(got).toEqual(want);
    Object.values(own.losses).forEach((t) => t.dispose());
    for (const f of own.features.values()) f.dispose();
    own.rpn.objectness.dispose();
    own.rpn.deltas.dispose();
    own.roi.classLogits.dispose();
    own.roi.boxRegression.dispose();
    images.dispose();
    d.dispose();
    teacher.dispose();
  }, 120_000);

  it('every term finite; gradients reach the student and every adapter, never the teacher; nothing leaks', async () => {
    const before = k.memoryStats(backend);
    const student = build('fasterrcnn_mobilenet_v3_large_320_fpn', 1).train();
    const teacher = build('fasterrcnn_resnet18_fpn', 2);
    const d = new TvDistiller(student, teacher, defaultDistillConfig(), new Rng(3));
    const { images, targets } = batch();
    const params = d.trainableParameters();
    expect(teacher.trainableParameters()).toHaveLength(0);
    expect(params.filter((p) => d.adapters.namedParameters().some(([, q]) => q === p))).toHaveLength(3 * 2); // '0', '1', 'pool': weight and bias
    const parts: Record<string, number> = {};
    const { value, grads } = await valueAndGradsAsync(async () => {
      const out = await d.losses(images, targets, new Rng(5), 100);
      for (const [n, t] of Object.entries(out)) parts[n] = await t.itemAsync();
      return Object.values(out).reduce((a, b) => k.add(a, b));
    }, params.map((p) => p.value));
    expect(Object.keys(parts).sort()).toEqual(['hint', 'roiCls', 'roiReg', 'rpnCls', 'rpnReg']);
    for (const v of Object.values(parts)) expect(Number.isFinite(v)).toBe(true);
    expect(parts.hint).toBeGreaterThan(0);
    const norm = (x: Float32Array) => Math.sqrt(x.reduce((a, v) => a + v * v, 0));
    const norms = await Promise.all(grads.map(async (g) => norm((await g.data()) as Float32Array)));
    expect(norms.every(Number.isFinite)).toBe(true);
    // The adapters' and the student's head gradients are not zero.
    const named = new Map(d.namedParameters().map(([n, p]) => [p, n]));
    const gradOf = (name: string) => norms[params.findIndex((p) => named.get(p) === name)]!;
    for (const name of ['adapters.0.conv.weight', 'adapters.2.conv.weight', 'student.roi_heads.box_predictor.cls_score.weight', 'student.rpn.head.cls_logits.weight']) expect(gradOf(name)).toBeGreaterThan(0);
    value.dispose();
    grads.forEach((g) => g.dispose());
    images.dispose();
    d.dispose();
    teacher.dispose();
    expect(k.memoryStats(backend)).toEqual(before);
  }, 120_000);

  it('with a teacher cache: a cold and a warm cache give the same terms bit for bit, within float16 rounding of none; nothing leaks', async () => {
    const before = k.memoryStats(backend);
    const teacher = build('fasterrcnn_resnet18_fpn', 2);
    const run = async (store: MemoryFeatureStore | null, times = 1) => {
      const d = new TvDistiller(build('fasterrcnn_mobilenet_v3_large_320_fpn', 1).train(), teacher, defaultDistillConfig(), new Rng(3), store);
      const got: Record<string, number>[] = [];
      // As the trainer runs a step: the terms and their gradients on a tape, whose scope frees
      // the intermediates.
      for (let i = 0; i < times; i++) {
        const { images, targets } = batch();
        const parts: Record<string, number> = {};
        const { value, grads } = await valueAndGradsAsync(async () => {
          const out = await d.losses(images, targets, new Rng(5), 100);
          for (const [n, t] of Object.entries(out)) parts[n] = await t.itemAsync();
          return Object.values(out).reduce((a, b) => k.add(a, b));
        }, d.trainableParameters().map((p) => p.value));
        value.dispose();
        grads.forEach((g) => g.dispose());
        images.dispose();
        got.push(parts);
      }
      const stats = { ...d.teacherCache };
      d.dispose();
      return { got, stats };
    };
    const none = await run(null);
    const store = new MemoryFeatureStore();
    const cached = await run(store, 2);
    // The first batch computes both images and keeps every level of each; the second reads them.
    expect(cached.stats).toEqual({ hits: 2, misses: 2 });
    expect(store.size).toBe(2);
    expect(cached.got[1]).toEqual(cached.got[0]);
    // A new run on the warm store: the same bits as the run that filled it.
    const warm = await run(store);
    expect(warm.stats).toEqual({ hits: 2, misses: 0 });
    expect(warm.got[0]).toEqual(cached.got[0]);
    // Against no cache: the teacher's levels rounded to float16 (relative 2⁻¹¹) move each term a little.
    for (const [name, v] of Object.entries(none.got[0]!)) {
      expect(Math.abs(cached.got[0]![name]! - v), name).toBeLessThanOrEqual(2e-3 * Math.abs(v) + 1e-5);
    }
    expect(cached.got[0]).not.toEqual(none.got[0]);
    teacher.dispose();
    expect(k.memoryStats(backend)).toEqual(before);
  }, 240_000);

  it('roundToFloat16 rounds to the nearest float16 and leaves a vector with an out-of-range value alone', () => {
    const x = Float32Array.of(1 + 2 ** -12, 1 + 2 ** -10 + 2 ** -12, -0.1, 65504);
    expect(roundToFloat16(x)).toBe(true);
    expect(Array.from(x)).toEqual([1, 1 + 2 ** -10, -0.0999755859375, 65504]);
    const big = Float32Array.of(0.1, 70000);
    expect(roundToFloat16(big)).toBe(false);
    expect(big[0]).toBe(Math.fround(0.1));
    expect(roundToFloat16(Float32Array.of(NaN))).toBe(false);
  });

  it('a teacher equal to the student: bounded regression and identity hints add exactly nothing; the soft term is the targets’ own entropy', async () => {
    const student = build('fasterrcnn_mobilenet_v3_large_320_fpn', 1);
    const teacher = build('fasterrcnn_mobilenet_v3_large_320_fpn', 1);
    // Frozen statistics on both sides, so the two forwards are the same function.
    student.eval();
    student.rpn.train();
    student.roiHeads.train();
    const config: DistillConfig = defaultDistillConfig({ adapter: 'none', mu: 0, backgroundWeight: 1 });
    const d = new TvDistiller(student, teacher, config, new Rng(3));
    const got = await losses(d);
    const plain = await losses(new TvDistiller(student, teacher, { ...config, soft: false, regression: 'none', hint: false }, new Rng(3)));
    expect(got.hint).toBe(0);
    expect(got.rpnReg).toBe(plain.rpnReg);
    expect(got.roiReg).toBe(plain.roiReg);
    // μ = 0: the classification terms are the soft cross-entropy alone, which for equal
    // distributions is their entropy: positive, and at most ln 2 (RPN) / ln 3 (three classes).
    expect(got.rpnCls).toBeGreaterThan(0);
    expect(got.rpnCls).toBeLessThanOrEqual(Math.log(2) + 1e-6);
    expect(got.roiCls).toBeGreaterThan(0);
    expect(got.roiCls).toBeLessThanOrEqual(Math.log(3) + 1e-6);
    d.dispose();
    teacher.dispose();
  }, 120_000);

  it("headsFromTeacher copies every head tensor of equal name and shape (the box head, the RPN's conv), at headsLrScale", () => {
    const student = build('fasterrcnn_mobilenet_v3_large_320_fpn', 1);
    const teacher = build('fasterrcnn_resnet18_fpn', 2);
    const d = new TvDistiller(student, teacher, defaultDistillConfig({ headsFromTeacher: true, headsLrScale: 0.2 }), new Rng(3));
    expect([...d.copiedHeads].sort()).toEqual([
      'roi_heads.box_head.fc6.bias', 'roi_heads.box_head.fc6.weight', 'roi_heads.box_head.fc7.bias', 'roi_heads.box_head.fc7.weight',
      'roi_heads.box_predictor.bbox_pred.bias', 'roi_heads.box_predictor.bbox_pred.weight', 'roi_heads.box_predictor.cls_score.bias', 'roi_heads.box_predictor.cls_score.weight',
      'rpn.head.conv.0.0.bias', 'rpn.head.conv.0.0.weight',
    ]);
    const mine = new Map(student.namedParameters());
    const theirs = new Map(teacher.namedParameters());
    for (const name of d.copiedHeads) {
      expect(Array.from(mine.get(name)!.value.dataSync() as Float32Array)).toEqual(Array.from(theirs.get(name)!.value.dataSync() as Float32Array));
      expect(mine.get(name)!.lrScale).toBe(0.2);
    }
    // 15 anchors per location against 3: the RPN's outputs keep the student's own weights.
    expect(mine.get('rpn.head.cls_logits.weight')!.shape).toEqual([15, 256, 1, 1]);
    expect(mine.get('rpn.head.cls_logits.weight')!.lrScale).toBe(1);
    d.dispose();
    teacher.dispose();
  });

  it('refuses what these models cannot do, in one line naming the option', () => {
    const student = build('fasterrcnn_mobilenet_v3_large_320_fpn', 1);
    const teacher = build('fasterrcnn_resnet18_fpn', 2);
    expect(() => new TvDistiller(student, teacher, defaultDistillConfig({ fineGrained: true }), new Rng(3))).toThrow(/kdet\.TvDistiller: fine-grained imitation \(fineGrained\) is not available for torchvision models yet/);
    expect(() => new TvDistiller(student, teacher, defaultDistillConfig({ hintFirstSteps: 10 }), new Rng(3))).toThrow(/hint-only first stage \(hintFirstSteps\)/);
    const other = tvFasterRCNN('fasterrcnn_resnet18_fpn', 5, new Rng(2), { backend });
    expect(() => new TvDistiller(student, other, defaultDistillConfig(), new Rng(3))).toThrow(/the same classes, got 2 and 4/);
    other.dispose();
    student.dispose();
    teacher.dispose();
  });
});
