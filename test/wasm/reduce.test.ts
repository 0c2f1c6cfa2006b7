// Reductions over the middle axis of [outer, n, inner], argmax/argmin and softmax against
// float64 loops. Sums must be accurate for long axes and bit-reproducible.
import { describe, expect, it } from 'vitest';
import type { ReduceOp } from '../../src/engine/backend.js';
import { assertClose } from '../helpers/assert.js';
import { Rng } from '../helpers/random.js';
import { f32, newBackend, takeF32, takeI32, upF32 } from './helpers.js';

const b = await newBackend();
const rng = new Rng('wasm-reduce');
const randomValues = (n: number, scale = 1) => Array.from({ length: n }, () => f32(rng.normal() * scale) || 0.25);

function naive(xs: ArrayLike<number>, outer: number, n: number, inner: number, f: (acc: number, v: number) => number, init: (first: number) => number): number[] {
  const out: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = init(xs[(o * n) * inner + i]!);
      for (let j = 1; j < n; j++) acc = f(acc, xs[(o * n + j) * inner + i]!);
      out.push(acc);
    }
  }
  return out;
}

const nanMax = (a: number, v: number) => (Number.isNaN(a) || Number.isNaN(v) ? NaN : Math.max(a, v));
const nanMin = (a: number, v: number) => (Number.isNaN(a) || Number.isNaN(v) ? NaN : Math.min(a, v));

const SHAPES: [number, number, number][] = [[1, 1, 1], [3, 20, 1], [2, 37, 5], [4, 16, 16], [1, 200, 19], [5, 3, 130], [2, 1, 7]];

describe('wasm reduce', () => {
  for (const [outer, n, inner] of SHAPES) {
    it(`sum, max, min over [${outer}, ${n}, ${inner}]`, () => {
      const xs = randomValues(outer * n * inner);
      const x = upF32(b, xs);
      const size = outer * inner;
      const sum = naive(xs, outer, n, inner, (a, v) => a + v, (v) => v);
      // |Σ x| can be small by cancellation: compare against Σ|x| (the sum's own error scale).
      const mag = naive(xs, outer, n, inner, (a, v) => a + Math.abs(v), Math.abs);
      const got = takeF32(b, b.reduce('sum', x, outer, n, inner), size);
      const bad = [...got.keys()].filter((i) => !(Math.abs(got[i]! - sum[i]!) <= 4 * 2 ** -24 * mag[i]! * Math.log2(n + 1) + 1e-30));
      if (bad.length > 0) expect.fail(`sum: ${bad.length} elements off, first ${bad[0]}: got ${got[bad[0]!]}, expected ${sum[bad[0]!]}`);
      for (const [op, f] of [['max', nanMax], ['min', nanMin]] as const) {
        expect(Array.from(takeF32(b, b.reduce(op, x, outer, n, inner), size))).toEqual(naive(xs, outer, n, inner, f, (v) => v));
      }
      b.free(x);
    });
  }

  it('sums 100 000 values (blocked order) with float64-like accuracy and identical bits twice', () => {
    for (const [outer, n, inner] of [[1, 100_000, 1], [1, 40_000, 3]] as const) {
      const xs = Array.from({ length: outer * n * inner }, () => f32(rng.uniform(0, 1)));
      const x = upF32(b, xs);
      const want = naive(xs, outer, n, inner, (a, v) => a + v, (v) => v);
      const first = takeF32(b, b.reduce('sum', x, outer, n, inner), inner);
      const second = takeF32(b, b.reduce('sum', x, outer, n, inner), inner);
      expect(Array.from(second)).toEqual(Array.from(first));
      // A running float32 sum would be off by ~1e-4 relative here; blocked summation stays ~1e-6.
      assertClose(first, want, { rtol: 2e-6, atol: 0, what: `sum over ${n}` });
      b.free(x);
    }
  });

  it('max and min propagate NaN; an empty sum is 0', () => {
    const xs = randomValues(40);
    xs[23] = NaN;
    const x = upF32(b, xs);
    expect(Array.from(takeF32(b, b.reduce('max', x, 2, 20, 1), 2)).map(Number.isNaN)).toEqual([false, true]);
    expect(Array.from(takeF32(b, b.reduce('min', x, 1, 20, 2), 2)).map(Number.isNaN)).toEqual([false, true]);
    expect(Array.from(takeF32(b, b.reduce('sum', x, 2, 0, 3), 6))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(() => b.reduce('max' as ReduceOp, x, 2, 0, 3)).toThrow(/empty axis/);
    b.free(x);
  });
});

describe('wasm argmax / argmin', () => {
  function naiveArg(xs: number[], outer: number, n: number, inner: number, max: boolean): number[] {
    const out: number[] = [];
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let best = 0;
        for (let j = 1; j < n; j++) {
          const v = xs[(o * n + j) * inner + i]!;
          const bv = xs[(o * n + best) * inner + i]!;
          if (Number.isNaN(bv)) break;
          if (Number.isNaN(v) || (max ? v > bv : v < bv)) best = j;
        }
        out.push(best);
      }
    }
    return out;
  }

  for (const [outer, n, inner] of SHAPES) {
    it(`first extreme index over [${outer}, ${n}, ${inner}], with ties and NaN`, () => {
      // Few distinct values: many ties, where the first index must win.
      const xs = Array.from({ length: outer * n * inner }, () => rng.int(-3, 4) * 0.5);
      if (xs.length > 9) xs[9] = NaN;
      const x = upF32(b, xs);
      for (const max of [true, false]) {
        const got = takeI32(b, b.argReduce(max ? 'argmax' : 'argmin', x, outer, n, inner), outer * inner);
        expect(Array.from(got)).toEqual(naiveArg(xs, outer, n, inner, max));
      }
      b.free(x);
    });
  }
});

describe('wasm softmax', () => {
  function naiveSoftmax(xs: number[], rows: number, cols: number, log: boolean): number[] {
    const out: number[] = [];
    for (let r = 0; r < rows; r++) {
      const row = xs.slice(r * cols, (r + 1) * cols);
      const m = Math.max(...row);
      const s = row.reduce((a, v) => a + Math.exp(v - m), 0);
      out.push(...row.map((v) => (log ? v - m - Math.log(s) : Math.exp(v - m) / s)));
    }
    return out;
  }

  for (const [rows, cols, scale] of [[1, 1, 1], [7, 3, 2], [5, 10, 1], [3, 1000, 4], [4, 37, 40]] as const) {
    it(`softmax and log-softmax of [${rows}, ${cols}] values of scale ${scale}`, () => {
      const xs = randomValues(rows * cols, scale);
      const x = upF32(b, xs);
      for (const log of [false, true]) {
        const got = takeF32(b, b.softmax(x, rows, cols, log), rows * cols);
        const want = naiveSoftmax(xs, rows, cols, log).map(f32);
        if (log) assertClose(got, want, { rtol: 1e-6, atol: 1e-6 * Math.max(1, ...want.map(Math.abs)), what: 'logSoftmax' });
        // Relative to each probability, down to float32's subnormal spacing.
        else assertClose(got, want, { rtol: 1e-5, atol: 1e-44, what: 'softmax' });
      }
      b.free(x);
    });
  }

  it('stays finite for huge logits and gives NaN rows where PyTorch does', () => {
    const xs = [1000, 999, -1000, 88, 89, 90, -Infinity, 0, 1, NaN, 2, 3];
    const x = upF32(b, xs);
    const got = takeF32(b, b.softmax(x, 4, 3, false), 12);
    assertClose(got.subarray(0, 9), naiveSoftmax(xs.slice(0, 9), 3, 3, false), { rtol: 1e-6, atol: 0 });
    expect(Array.from(got.subarray(9)).every(Number.isNaN)).toBe(true);
    b.free(x);
  });

  it('leaves nothing allocated', () => {
    expect(b.memory()).toEqual({ bytes: 0, buffers: 0 });
  });
});
