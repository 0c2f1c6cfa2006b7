import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import { conv2d, memoryStats, tensor, valueAndGrads, type Tensor } from '../../src/engine/index.js';
import { boundedRegression, distillClassification, distillRegression, hintLoss } from '../../src/distillation/losses.js';
import { assertClose } from '../helpers/assert.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';

// Computed by PyTorch 1.13 in float64 from the paper's formulas: scripts/fixtures-distill.py.
const { cases } = JSON.parse(readFileSync(new URL('../fixtures/distillation/losses.json', import.meta.url), 'utf8'));
const loaded = await loadBackendsUnderTest();

describeEachBackend(loaded, (backend: Backend) => {
  const f = (v: number[], shape: number[]): Tensor => tensor(Float32Array.from(v), shape, { backend });

  for (const c of cases.filter((x: { kind: string }) => x.kind === 'classification')) {
    it(`weighted soft + hard CE matches PyTorch (C=${c.c}, T=${c.temperature}, μ=${c.mu}, w_bg=${c.wbg})`, async () => {
      const zs = f(c.zs, [c.n, c.c]);
      const zt = f(c.zt, [c.n, c.c]);
      const y = tensor(Int32Array.from(c.labels), [c.n], { dtype: 'int32', backend });
      const weights = [c.wbg, ...Array(c.c - 1).fill(1)];
      const { value, grads } = valueAndGrads(() => {
        const r = distillClassification(zs, zt, y, { mu: c.mu, temperature: c.temperature, classWeights: weights });
        return r.total;
      }, [zs]);
      assertClose(await value.data(), [c.total], { rtol: 1e-4, what: 'total' });
      assertClose(await grads[0]!.data(), c.grad, { rtol: 1e-4, atol: 1e-6, what: 'd/dZs' });
      // Weights apply to the soft term only: the hard term equals the plain cross-entropy.
      const sep = distillClassification(zs, zt, y, { mu: c.mu, temperature: c.temperature, classWeights: weights });
      assertClose(await sep.hard.data(), [c.hard], { rtol: 1e-4, what: 'hard' });
      assertClose(await sep.soft.data(), [c.soft], { rtol: 1e-4, what: 'soft' });
      [zs, zt, y, value, ...grads, sep.total, sep.hard, sep.soft].forEach((t) => t.dispose());
    });
  }

  for (const c of cases.filter((x: { kind: string }) => x.kind === 'classification-t2')) {
    it(`soft CE scaled by T² (Hinton) matches PyTorch (C=${c.c}, T=${c.temperature}); without the flag it is T² smaller`, async () => {
      const zs = f(c.zs, [c.n, c.c]);
      const zt = f(c.zt, [c.n, c.c]);
      const y = tensor(Int32Array.from(c.labels), [c.n], { dtype: 'int32', backend });
      const opts = { mu: c.mu, temperature: c.temperature, classWeights: [c.wbg, ...Array(c.c - 1).fill(1)] };
      const { value, grads } = valueAndGrads(() => distillClassification(zs, zt, y, { ...opts, scaleByTemperatureSquared: true }).total, [zs]);
      assertClose(await value.data(), [c.total], { rtol: 1e-4, what: 'total' });
      assertClose(await grads[0]!.data(), c.grad, { rtol: 1e-4, atol: 1e-6, what: 'd/dZs' });
      const plain = distillClassification(zs, zt, y, opts);
      assertClose(await plain.soft.data(), [c.soft / c.temperature ** 2], { rtol: 1e-4, what: 'soft without T²' });
      [zs, zt, y, value, ...grads, plain.total, plain.hard, plain.soft].forEach((t) => t.dispose());
    });
  }

  for (const c of cases.filter((x: { kind: string }) => x.kind === 'regression')) {
    it(`teacher-bounded regression matches PyTorch (margin ${c.margin}, ν ${c.nu})`, async () => {
      const rs = f(c.rs, [c.p, 4]);
      const rt = f(c.rt, [c.p, 4]);
      const y = f(c.y, [c.p, 4]);
      const active = boundedRegression(rs, rt, y, c.margin);
      const act = Array.from(await active.data(), (v) => (v > 0 ? 1 : 0));
      expect(act).toEqual(c.active);
      // The switch is exercised on both sides in every case.
      expect(act.some((v) => v === 1) && act.some((v) => v === 0)).toBe(true);
      const { value, grads } = valueAndGrads(
        () => distillRegression(rs, rt, y, { nu: c.nu, margin: c.margin, beta: 1 / 9, normaliser: c.normaliser }).total,
        [rs],
      );
      assertClose(await value.data(), [c.total], { rtol: 1e-4, what: 'total' });
      assertClose(await grads[0]!.data(), c.grad, { rtol: 1e-4, atol: 1e-6, what: 'd/dRs' });
      [rs, rt, y, active, value, ...grads].forEach((t) => t.dispose());
    });
  }

  for (const c of cases.filter((x: { kind: string }) => x.kind === 'regression-smooth-l1')) {
    it(`${c.mode === 'bounded' ? 'teacher-bounded' : 'plain teacher'} regression with smooth-L1 distance matches PyTorch (margin ${c.margin}, ν ${c.nu})`, async () => {
      const rs = f(c.rs, [c.p, 4]);
      const rt = f(c.rt, [c.p, 4]);
      const y = f(c.y, [c.p, 4]);
      // Coordinates on both sides of β = 1/9, so both branches of smooth-L1 are exercised.
      const err = c.rs.map((v: number, i: number) => Math.abs(v - c.y[i]));
      expect(err.some((e: number) => e < 1 / 9) && err.some((e: number) => e > 1 / 9)).toBe(true);
      if (c.mode === 'bounded') {
        const active = boundedRegression(rs, rt, y, c.margin, 'smooth-l1', 1 / 9);
        const act = Array.from(await active.data(), (v) => (v > 0 ? 1 : 0));
        expect(act).toEqual(c.active);
        expect(act.some((v) => v === 1) && act.some((v) => v === 0)).toBe(true);
        active.dispose();
      }
      const opts = { nu: c.nu, margin: c.margin, beta: 1 / 9, normaliser: c.normaliser, mode: c.mode, distance: 'smooth-l1' } as const;
      const parts = distillRegression(rs, rt, y, opts);
      assertClose(await parts.smoothL1.data(), [c.smoothL1], { rtol: 1e-4, what: 'ground-truth smooth-L1' });
      assertClose(await parts.bounded.data(), [c.bounded], { rtol: 1e-4, what: 'teacher term' });
      const { value, grads } = valueAndGrads(() => distillRegression(rs, rt, y, opts).total, [rs]);
      assertClose(await value.data(), [c.total], { rtol: 1e-4, what: 'total' });
      assertClose(await grads[0]!.data(), c.grad, { rtol: 1e-4, atol: 1e-6, what: 'd/dRs' });
      [rs, rt, y, value, ...grads, parts.total, parts.smoothL1, parts.bounded].forEach((t) => t.dispose());
    });
  }

  for (const c of cases.filter((x: { kind: string }) => x.kind === 'hint')) {
    it(`hint loss through a 1×1 adapter matches PyTorch (${c.norm}, ${c.reduction}${c.masked ? ', fine-grained mask' : ''})`, async () => {
      const v = f(c.v, [2, 3, 4, 5]);
      const w = f(c.w, [6, 3, 1, 1]);
      const z = f(c.z, [2, 6, 4, 5]);
      const mask = c.masked ? f(c.mask, [2, 1, 4, 5]) : null;
      const { value, grads } = valueAndGrads(() => hintLoss(conv2d(v, w), z, { norm: c.norm, reduction: c.reduction, mask }), [v, w]);
      assertClose(await value.data(), [c.loss], { rtol: 1e-4, what: 'loss' });
      assertClose(await grads[0]!.data(), c.gradV, { rtol: 1e-4, atol: 1e-6, what: 'd/dV' });
      assertClose(await grads[1]!.data(), c.gradW, { rtol: 1e-4, atol: 1e-6, what: 'd/dW' });
      [v, w, z, value, ...grads].forEach((t) => t.dispose());
      mask?.dispose();
    });
  }

  it('teacher tensors never receive gradients and nothing leaks', async () => {
    const before = memoryStats(backend);
    const c = cases[0];
    const zs = f(c.zs, [c.n, c.c]);
    const zt = f(c.zt, [c.n, c.c]);
    const y = tensor(Int32Array.from(c.labels), [c.n], { dtype: 'int32', backend });
    const { value, grads } = valueAndGrads(() => distillClassification(zs, zt, y, { mu: 0.5, temperature: 1 }).total, [zs, zt]);
    assertClose(await grads[1]!.data(), new Array(c.n * c.c).fill(0), { atol: 0, what: 'teacher gradient' });
    [zs, zt, y, value, ...grads].forEach((t) => t.dispose());
    expect(memoryStats(backend)).toEqual(before);
  });
});
