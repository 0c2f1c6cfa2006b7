// Broadcasting binary ops, where, fill, cast and oneHot against naive float64 loops.
import { describe, expect, it } from 'vitest';
import type { BinaryOp } from '../../src/engine/backend.js';
import { Rng } from '../helpers/random.js';
import { f32, newBackend, sizeOf, stridesOf, takeF32, takeI32, ulpError, unravel, upF32, upI32 } from './helpers.js';

const b = await newBackend();
const rng = new Rng('wasm-elementwise');

function randomValues(n: number): number[] {
  return Array.from({ length: n }, () => {
    const v = f32(rng.normal() * 3);
    return v === 0 ? 0.5 : v;
  });
}

/** out[i] = f(values of each operand at i), operands broadcast to outShape (NumPy rules). */
function naiveBroadcast(outShape: number[], shapes: number[][], datas: ArrayLike<number>[], f: (...v: number[]) => number): number[] {
  const out: number[] = [];
  const strides = shapes.map(stridesOf);
  for (let i = 0; i < sizeOf(outShape); i++) {
    const idx = unravel(i, outShape);
    const vals = shapes.map((s, k) => {
      const lead = outShape.length - s.length;
      let off = 0;
      s.forEach((d, j) => (off += (d === 1 ? 0 : idx[lead + j]!) * strides[k]![j]!));
      return datas[k]![off]!;
    });
    out.push(f(...vals));
  }
  return out;
}

function broadcastShape(...shapes: number[][]): number[] {
  const r = Math.max(...shapes.map((s) => s.length));
  return Array.from({ length: r }, (_, i) => shapes.map((s) => s[s.length - r + i] ?? 1).find((d) => d !== 1) ?? 1);
}

const cPow = (a: number, e: number) => (a === 1 || e === 0 ? 1 : a === -1 && Math.abs(e) === Infinity ? 1 : Math.pow(a, e));
const OPS: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => x / y,
  max: (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.max(x, y)),
  min: (x, y) => (Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.min(x, y)),
  pow: cPow,
  gt: (x, y) => +(x > y),
  ge: (x, y) => +(x >= y),
  lt: (x, y) => +(x < y),
  le: (x, y) => +(x <= y),
  eq: (x, y) => +(x === y),
  ne: (x, y) => +(x !== y),
};

const SHAPE_PAIRS: [string, number[], number[]][] = [
  ['same shape', [3, 5, 7], [3, 5, 7]],
  ['scalar right', [4, 9], []],
  ['scalar left', [], [4, 9]],
  ['bias row', [6, 13], [13]],
  ['column', [6, 1], [6, 13]],
  ['channel bias', [2, 3, 4, 5], [1, 3, 1, 1]],
  ['both broadcast', [3, 1, 5], [1, 4, 1]],
  ['seven alternating axes', [2, 1, 2, 1, 2, 1, 3], [1, 2, 1, 2, 1, 2, 1]],
  ['empty', [0, 3], [3]],
  ['two scalars', [], []],
];

describe('wasm binary', () => {
  for (const [name, aShape, bShape] of SHAPE_PAIRS) {
    it(`every op, ${name} ${JSON.stringify(aShape)} ∘ ${JSON.stringify(bShape)}`, () => {
      const outShape = broadcastShape(aShape, bShape);
      const av = randomValues(sizeOf(aShape));
      const bv = randomValues(sizeOf(bShape));
      // Ties and specials in the same-shape case: comparisons, NaN propagation, pow's C rules.
      if (name === 'same shape') {
        bv[0] = av[0]!;
        av[1] = NaN;
        bv[2] = NaN;
        av[3] = 1;
        bv[3] = NaN;
        av[4] = -1;
        bv[4] = Infinity;
        bv[5] = 0;
        av[6] = -2;
        bv[6] = 3;
      }
      const a = upF32(b, av);
      const bb = upF32(b, bv);
      for (const op of Object.keys(OPS) as BinaryOp[]) {
        const got = takeF32(b, b.binary(op, a, aShape, bb, bShape, outShape), sizeOf(outShape));
        const want = naiveBroadcast(outShape, [aShape, bShape], [av, bv], OPS[op]);
        got.forEach((g, i) => {
          // Correctly rounded, except pow: float64 pow rounded to float32 (within 1 ulp of exact).
          const w = op === 'pow' ? want[i]! : f32(want[i]!);
          const ok = op === 'pow' ? ulpError(g, w) <= 1 : Object.is(g, w);
          if (!ok && !(Number.isNaN(g) && Number.isNaN(w))) {
            expect.fail(`${op} element ${i} ${JSON.stringify(unravel(i, outShape))}: got ${g}, expected ${w}`);
          }
        });
      }
      b.free(a);
      b.free(bb);
    });
  }

  it('random shapes and broadcasts up to rank 5', () => {
    for (let t = 0; t < 40; t++) {
      const rank = rng.int(1, 6);
      const outShape = Array.from({ length: rank }, () => rng.int(1, 6));
      const pick = () => outShape.slice(rng.int(0, rank)).map((d) => (rng.next() < 0.4 ? 1 : d));
      const aShape = pick();
      const bShape = pick();
      const full = broadcastShape(aShape, bShape);
      const av = randomValues(sizeOf(aShape));
      const bv = randomValues(sizeOf(bShape));
      const a = upF32(b, av);
      const bb = upF32(b, bv);
      const got = takeF32(b, b.binary('sub', a, aShape, bb, bShape, full), sizeOf(full));
      expect(Array.from(got)).toEqual(naiveBroadcast(full, [aShape, bShape], [av, bv], (x, y) => f32(x - y)));
      b.free(a);
      b.free(bb);
    }
  });
});

describe('wasm where, fill, cast, oneHot', () => {
  it('where broadcasts all three operands and treats NaN as true', () => {
    for (const [cs, as, bs] of [[[4, 6], [4, 6], [4, 6]], [[4, 1], [6], []], [[1, 6], [4, 1], [4, 6]], [[2, 1, 3, 1], [1, 2, 1, 2], [3, 1]]]) {
      const out = broadcastShape(cs!, as!, bs!);
      const cv = Array.from({ length: sizeOf(cs!) }, () => (rng.next() < 0.5 ? 0 : rng.normal()));
      if (cv.length > 1) cv[1] = NaN;
      const av = randomValues(sizeOf(as!));
      const bv = randomValues(sizeOf(bs!));
      const bufs = [upF32(b, cv), upF32(b, av), upF32(b, bv)] as const;
      const got = takeF32(b, b.where(bufs[0], cs!, bufs[1], as!, bufs[2], bs!, out), sizeOf(out));
      expect(Array.from(got)).toEqual(naiveBroadcast(out, [cs!, as!, bs!], [cv.map(f32), av, bv], (c, x, y) => (c !== 0 ? x : y)));
      for (const x of bufs) b.free(x);
    }
  });

  it('fill writes float32 and int32 values (int32 truncated toward zero)', () => {
    expect(Array.from(takeF32(b, b.fill('float32', 7, 0.1), 7))).toEqual(Array(7).fill(f32(0.1)));
    expect(Array.from(takeI32(b, b.fill('int32', 5, -3.7), 5))).toEqual(Array(5).fill(-3));
    expect(Array.from(takeF32(b, b.fill('float32', 3, -Infinity), 3))).toEqual(Array(3).fill(-Infinity));
    expect(takeF32(b, b.fill('float32', 0, 1), 0).length).toBe(0);
  });

  it('cast float32 → int32 truncates, and NaN / out-of-range give INT_MIN as PyTorch on x86', () => {
    const xs = [2.7, -2.7, 0.5, -0.5, 1e9, 2147483520, -2147483648, 2147483648, -3e9, NaN, Infinity, -Infinity, 7, -0];
    const x = upF32(b, xs);
    const got = takeI32(b, b.cast(x, xs.length, 'float32', 'int32'), xs.length);
    const want = xs.map((v) => {
      const r = f32(v);
      return Number.isNaN(r) || r >= 2 ** 31 || r < -(2 ** 31) ? -(2 ** 31) : Math.trunc(r) | 0;
    });
    expect(Array.from(got)).toEqual(want);
    b.free(x);
  });

  it('cast int32 → float32 rounds to nearest; same-dtype casts copy', () => {
    const xs = [0, 1, -1, 16777217, -16777219, 2147483647, -2147483648, 123456789];
    const x = upI32(b, xs);
    expect(Array.from(takeF32(b, b.cast(x, xs.length, 'int32', 'float32'), xs.length))).toEqual(xs.map(f32));
    const copy = b.cast(x, xs.length, 'int32', 'int32');
    expect(copy.ptr).not.toBe(x.ptr);
    expect(Array.from(takeI32(b, copy, xs.length))).toEqual(xs);
    b.free(x);
  });

  it('oneHot gives zero rows for labels outside [0, classes)', () => {
    const labels = [2, 0, -1, 5, 4, 3];
    const x = upI32(b, labels);
    const got = takeF32(b, b.oneHot(x, labels.length, 5), labels.length * 5);
    const want = labels.flatMap((l) => Array.from({ length: 5 }, (_, c) => +(c === l)));
    expect(Array.from(got)).toEqual(want);
    b.free(x);
  });

  it('leaves nothing allocated', () => {
    expect(b.memory()).toEqual({ bytes: 0, buffers: 0 });
  });
});
