// PKD (Cao et al. 2022) and CWD (Shu et al. 2021), src/distillation/feature-losses.ts, against
// PyTorch 1.13 (scripts/fixtures-feature-kd.py -> test/fixtures/distillation/feature-losses.json)
// on every backend under test: loss and d/dS, no gradient into the teacher, NaN never hidden,
// shape errors that name the loss and both shapes, memory flat; finite differences on the
// reference backend.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import { KdetError } from '../../src/engine/errors.js';
import * as k from '../../src/engine/index.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { cwdLoss, pkdLoss } from '../../src/distillation/feature-losses.js';
import { assertClose } from '../helpers/assert.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { decode, type FixtureArray } from '../helpers/fixtures.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { expectMemoryFlat } from '../helpers/memory.js';
import { randn, Rng } from '../helpers/random.js';

interface FeatureCase {
  name: string;
  shape: number[];
  student: FixtureArray;
  teacher: FixtureArray;
  loss: number;
  grad: FixtureArray;
  tau?: number;
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/distillation/feature-losses.json', import.meta.url), 'utf8')) as {
  pkd: FeatureCase[];
  cwd: FeatureCase[];
};

type LossFn = (s: Tensor, t: Tensor) => Tensor;
const LOSSES: { name: 'pkd' | 'cwd'; op: string; cases: FeatureCase[]; fn: (c?: { tau?: number }) => LossFn }[] = [
  { name: 'pkd', op: 'pkdLoss', cases: fixture.pkd, fn: () => pkdLoss },
  { name: 'cwd', op: 'cwdLoss', cases: fixture.cwd, fn: (c) => (s, t) => cwdLoss(s, t, c?.tau ?? 1) },
];

const numel = (shape: readonly number[]) => shape.reduce((p, d) => p * d, 1);

it('the fixtures cover N = 2, C ≥ 3, H ≠ W, CWD at τ 1 and 2, and no input is zero', () => {
  const all = [...fixture.pkd, ...fixture.cwd];
  expect(all.some((c) => c.shape[0] === 2 && c.shape[1]! >= 3 && c.shape[2] !== c.shape[3])).toBe(true);
  expect(new Set(fixture.cwd.map((c) => c.tau))).toEqual(new Set([1, 2]));
  expect(fixture.pkd.some((c) => c.name.endsWith('constant channels'))).toBe(true);
  for (const c of all) for (const a of [c.student, c.teacher]) expect(Array.from(decode(a)).every((v) => v !== 0 && Number.isFinite(v)), c.name).toBe(true);
});

describeEachBackend(await loadBackendsUnderTest(), (backend: Backend, name: string) => {
  // The reference computes in float64, the fixtures are float64 answers rounded to float32; the
  // float32 backends accumulate sums of up to 120 values (a channel's statistics, a whole loss).
  const rtol = name === 'reference' ? 1e-5 : 1e-4;
  const up = (a: FixtureArray): Tensor => k.tensor(decode(a) as Float32Array, a.shape, { backend });
  const upArray = (v: ArrayLike<number>, shape: readonly number[]): Tensor => k.tensor(Float32Array.from(v), shape, { backend });

  for (const loss of LOSSES) {
    for (const c of loss.cases) {
      it(`${c.name}: loss and d/dS match PyTorch; the teacher gets no gradient`, async () => {
        k.setBackend(backend);
        const before = k.memoryStats(backend);
        const s = up(c.student);
        const t = up(c.teacher);
        const { value, grads } = k.valueAndGrads(() => loss.fn(c)(s, t), [s, t]);
        assertClose(await value.data(), [c.loss], { rtol, what: `${c.name} loss` });
        // A constant student channel's gradient is ~1e6 × the others' (PKD: PyTorch masks a zero
        // std's gradient, the (std + 1e-6) stays): each group is compared on its own scale.
        const [, ch, h, w] = c.shape as [number, number, number, number];
        const sv = decode(c.student);
        const channelOf = (i: number) => Math.floor(i / (h * w)) % ch;
        const constant = Array.from({ length: ch }, (_, j) => sv.every((v, i) => channelOf(i) !== j || v === sv[j * h * w]));
        const [got, want] = [await grads[0]!.data(), decode(c.grad)];
        for (const flat of [false, true]) {
          const idx = Array.from(want.keys()).filter((i) => constant[channelOf(i)] === flat);
          if (idx.length) assertClose(idx.map((i) => got[i]!), idx.map((i) => want[i]!), { rtol, what: `${c.name} d/dS${flat ? ', constant channels' : ''}` });
        }
        expect(Array.from(await grads[1]!.data()).every((v) => v === 0), 'teacher gradient is zero').toBe(true);
        k.dispose([s, t, value, ...grads]);
        await backend.sync();
        expect(k.memoryStats(backend)).toEqual(before);
      });
    }

    it(`${loss.name}: a NaN anywhere in the student or the teacher never gives a finite loss; finite input gives a finite loss`, async () => {
      k.setBackend(backend);
      const shape = [2, 3, 5, 4];
      const n = numel(shape);
      const rng = new Rng(`${loss.name} nan`);
      const sv = Float32Array.from(randn(rng, n, 1.5));
      const tv = Float32Array.from(randn(rng, n, 2)).map((v) => v + 0.5);
      const value = async (a: Float32Array, b: Float32Array): Promise<number> => {
        const [s, t] = [upArray(a, shape), upArray(b, shape)];
        const y = k.scope(() => loss.fn({ tau: 2 })(s, t));
        const v = (await y.data())[0]!;
        k.dispose([s, t, y]);
        return v;
      };
      expect(Number.isFinite(await value(sv, tv))).toBe(true);
      // First, last and an inner element of a map (a kernel that skips NaN in a max or a sum
      // would hide it at some position), on either side.
      for (const at of [0, 7, 19, n - 1]) {
        for (const side of ['student', 'teacher'] as const) {
          const [a, b] = [sv.slice(), tv.slice()];
          (side === 'student' ? a : b)[at] = NaN;
          expect(Number.isNaN(await value(a, b)), `NaN in the ${side} at ${at}`).toBe(true);
        }
      }
    });

    it(`${loss.name}: mismatched shapes are refused with the loss's name and both shapes, before anything is allocated`, async () => {
      k.setBackend(backend);
      const s = upArray(randn(new Rng('shape s'), 120), [2, 3, 5, 4]);
      const before = k.memoryStats(backend);
      for (const [tShape, why] of [
        [[2, 4, 5, 4], 'channels'],
        [[2, 3, 4, 5], 'H×W'],
        [[1, 3, 5, 4], 'batch'],
        [[2, 3, 20], 'rank'],
      ] as const) {
        const t = upArray(new Float32Array(numel(tShape)).fill(1), tShape);
        const mid = k.memoryStats(backend);
        const call = () => loss.fn({ tau: 1 })(s, t);
        expect(call, why).toThrow(KdetError);
        expect(call, why).toThrow(`kdet.${loss.op}: adapted student features [2, 3, 5, 4] must match the teacher's features [${tShape.join(', ')}]`);
        expect(k.memoryStats(backend), why).toEqual(mid);
        t.dispose();
      }
      expect(k.memoryStats(backend)).toEqual(before);
      s.dispose();
    });

    it(`${loss.name}: no leak over repeated forward/backward passes and tape-free forwards`, async () => {
      k.setBackend(backend);
      const shape = [2, 4, 3, 5];
      const rng = new Rng(`${loss.name} mem`);
      const s = upArray(randn(rng, numel(shape)), shape);
      const t = upArray(randn(rng, numel(shape), 2), shape);
      await expectMemoryFlat(backend, () => {
        const { value, grads } = k.valueAndGrads(() => loss.fn({ tau: 2 })(s, t), [s]);
        k.dispose([value, ...grads]);
        k.dispose(k.scope(() => loss.fn({ tau: 1 })(s, t)));
        k.dispose(k.noGrad(() => k.scope(() => loss.fn({ tau: 1 })(s, t))));
      });
      k.dispose([s, t]);
    });
  }

  it('pkd: needs two values per channel for the unbiased std; cwd: τ must be a finite number > 0', () => {
    k.setBackend(backend);
    const one = upArray([0.5, -0.25, 1.5], [1, 3, 1, 1]);
    expect(() => pkdLoss(one, one)).toThrow('kdet.pkdLoss: the unbiased std of a channel needs at least 2 values over N, H, W; features [1, 3, 1, 1] have 1');
    const s = upArray(randn(new Rng('tau'), 24), [2, 3, 2, 2]);
    for (const tau of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => cwdLoss(s, s, tau)).toThrow(`kdet.cwdLoss: temperature τ must be a finite number > 0, got ${tau}`);
    k.dispose([one, s]);
  });

  it('pkd is unchanged by a per-channel affine map of either side with a positive scale (it imitates correlations, not magnitudes); cwd by a per-(n, c) offset', async () => {
    k.setBackend(backend);
    const shape = [2, 3, 4, 5];
    const rng = new Rng('invariance');
    const s = upArray(randn(rng, numel(shape)), shape);
    const t = upArray(randn(rng, numel(shape)), shape);
    const scaleC = upArray([3, 0.5, 7], [1, 3, 1, 1]);
    const shiftC = upArray([-2, 4, 0.3], [1, 3, 1, 1]);
    const shiftNC = upArray([1, -3, 0.5, 2, 6, -1], [2, 3, 1, 1]);
    const read = async (x: Tensor) => (await x.data())[0]!;
    const [p0, p1, c0, c1] = [
      pkdLoss(s, t),
      pkdLoss(k.add(k.mul(s, scaleC), shiftC), k.sub(k.mul(t, 2.5), shiftC)),
      cwdLoss(s, t, 2),
      cwdLoss(k.add(s, shiftNC), k.sub(t, shiftNC), 2),
    ];
    // The ε of (std + 1e-6) is the only difference: relative ~1e-6 / std.
    expect(await read(p1)).toBeCloseTo(await read(p0), 4);
    expect(await read(c1)).toBeCloseTo(await read(c0), 4);
    k.dispose([s, t, scaleC, shiftC, shiftNC, p0, p1, c0, c1]);
  });
});

// Finite differences on the reference backend, in float64: d/dS of both losses on fresh inputs
// (N = 2, C = 3, H ≠ W), the teacher a constant.
const rng = new Rng('feature gradcheck');
const SHAPE = [2, 3, 3, 4];
const gs = { data: randn(rng, numel(SHAPE), 1.2).map((v) => v + 0.3), shape: SHAPE };
const gt = { data: randn(rng, numel(SHAPE), 2).map((v) => v - 0.5), shape: SHAPE, grad: false };

it('gradcheck: pkd d/dS (reference backend, float64)', () => {
  gradcheck('pkdLoss', (s, t) => pkdLoss(s!, t!), [gs, gt], { rtol: 1e-6 });
});

for (const tau of [1, 2, 0.5]) {
  it(`gradcheck: cwd d/dS, τ ${tau} (reference backend, float64)`, () => {
    gradcheck(`cwdLoss τ ${tau}`, (s, t) => cwdLoss(s!, t!, tau), [gs, gt], { rtol: 1e-6 });
  });
}
