import { afterAll, describe, expect, it } from 'vitest';
import type { BinaryOp, UnaryOp } from '../../src/engine/backend.js';
import { downF, downI, expectClose, expectEqual, openBackend, prod, randf, randi, rng, stridesOf, title, unravel, up } from './helpers.js';

const o = await openBackend();
const b = o.backend!;

const FLT_MIN = 1.1754943508222875e-38;

/** Inputs that exercise the edge cases PyTorch defines. */
const SPECIAL = [0, -0, 1, -1, 0.5, -0.5, 1e-5, -1e-5, 1.0001, 0.9999, 3, -3, 20, -20, 100, -100, Infinity, -Infinity, NaN];

const UNARY: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  relu: (x) => (x < 0 ? 0 : x),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  tanh: Math.tanh,
  square: (x) => x * x,
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  reciprocal: (x) => 1 / x,
  step: (x) => (x > 0 ? 1 : 0),
};

/** C / PyTorch pow. */
function powRef(a: number, e: number): number {
  if (e === 0 || a === 1 || (a === -1 && !Number.isFinite(e) && !Number.isNaN(e))) return 1;
  return Math.pow(a, e);
}

const BINARY: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, c) => a + c,
  sub: (a, c) => a - c,
  mul: (a, c) => a * c,
  div: (a, c) => a / c,
  max: (a, c) => (Number.isNaN(a) || Number.isNaN(c) ? NaN : Math.max(a, c)),
  min: (a, c) => (Number.isNaN(a) || Number.isNaN(c) ? NaN : Math.min(a, c)),
  pow: powRef,
  gt: (a, c) => +(a > c),
  ge: (a, c) => +(a >= c),
  lt: (a, c) => +(a < c),
  le: (a, c) => +(a <= c),
  eq: (a, c) => +(a === c),
  ne: (a, c) => +(a !== c),
};

/** Reference of a broadcast op over float32 inputs. */
function broadcastRef(shapes: number[][], out: number[], data: Float32Array[], f: (...v: number[]) => number): Float64Array {
  const r = new Float64Array(prod(out));
  const strides = shapes.map((s) => stridesOf(s));
  for (let i = 0; i < r.length; i++) {
    const c = unravel(i, out);
    const vals = shapes.map((s, j) => {
      let off = 0;
      s.forEach((d, k) => (off += (d === 1 ? 0 : c[out.length - s.length + k]!) * strides[j]![k]!));
      return data[j]![off]!;
    });
    r[i] = Math.fround(f(...vals));
  }
  return r;
}

describe.skipIf(!o.backend)(title('webgpu elementwise kernels', o), () => {
  afterAll(() => b.dispose());
  const r = rng(1);

  describe('unary', () => {
    for (const op of Object.keys(UNARY) as UnaryOp[]) {
      it(`${op} on random and special values`, async () => {
        const lo = op === 'log' || op === 'sqrt' ? 0.001 : -4;
        const x = new Float32Array([...randf(r, 300, lo, 4), ...SPECIAL]);
        const got = await downF(b, b.unary(op, up(b, x), x.length), x.length);
        const want = Array.from(x, (v) => Math.fround(UNARY[op](v)));
        // GPUs may flush subnormal results to zero (WGSL allows it): an absolute floor of FLT_MIN.
        expectClose(got, want, { rtol: 1e-5, atol: FLT_MIN }, op);
      });
    }
  });

  it('clamp keeps NaN and accepts infinite bounds', async () => {
    const x = new Float32Array([...randf(r, 200, -3, 3), NaN, Infinity, -Infinity]);
    for (const [lo, hi] of [[-1, 0.5], [-Infinity, 0], [0, Infinity], [0.25, 0.25]] as const) {
      const got = await downF(b, b.clamp(up(b, x), x.length, lo, hi), x.length);
      expectEqual(got, Array.from(x, (v) => (Number.isNaN(v) ? NaN : Math.min(Math.max(v, lo), hi))), `clamp(${lo}, ${hi})`);
    }
  });

  const SHAPES: [number[], number[]][] = [
    [[3, 5, 7], [3, 5, 7]],
    [[4, 1, 6], [5, 1]],
    [[], [2, 3]],
    [[2, 3], []],
    [[], []],
    [[2, 3, 4, 5], [3, 1, 5]],
    [[1, 7], [6, 1]],
    [[2, 1, 3, 1, 2, 1, 2, 1, 2, 1, 2], [1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]],
  ];
  const outOf = (a: number[], c: number[]) => {
    const n = Math.max(a.length, c.length);
    return [...Array(n).keys()].map((i) => Math.max(a[a.length - n + i] ?? 1, c[c.length - n + i] ?? 1));
  };

  describe('binary with broadcasting', () => {
    for (const op of Object.keys(BINARY) as BinaryOp[]) {
      it(op, async () => {
        for (const [sa, sb] of SHAPES) {
          const out = outOf(sa, sb);
          const lo = op === 'pow' ? 0.1 : -2;
          const a = randf(r, prod(sa), lo, 2);
          const c = op === 'div' ? randf(r, prod(sb), 0.5, 2).map((v, i) => (i % 2 ? -v : v)) : randf(r, prod(sb), -2, 2);
          // Comparisons need ties too.
          if (op === 'eq' || op === 'ne' || op === 'ge' || op === 'le') a.forEach((_, i) => i % 3 === 0 && (a[i] = c[i % c.length]!));
          const got = await downF(b, b.binary(op, up(b, a), sa, up(b, c), sb, out), prod(out));
          expectClose(got, broadcastRef([sa, sb], out, [a, c], BINARY[op]), { rtol: 1e-5 }, `${op} ${JSON.stringify([sa, sb])}`);
        }
      });
    }

    it('pow, max, min, comparisons and division on special values', async () => {
      const n = SPECIAL.length;
      const a = new Float32Array(n * n);
      const c = new Float32Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) [a[i * n + j], c[i * n + j]] = [SPECIAL[i]!, SPECIAL[j]!];
      for (const op of ['pow', 'max', 'min', 'div', 'gt', 'eq', 'ne'] as BinaryOp[]) {
        const got = await downF(b, b.binary(op, up(b, a), [n * n], up(b, c), [n * n], [n * n]), n * n);
        const want = Array.from(a, (v, i) => Math.fround(BINARY[op](v, c[i]!)));
        expectClose(got, want, { rtol: 1e-5, atol: FLT_MIN }, `${op} special`);
      }
      // Negative bases: integer exponents keep the sign, others are NaN.
      const base = new Float32Array([-2, -2, -2, -0.5, -8, -3]);
      const ex = new Float32Array([3, 2, -3, 0.5, 1 / 3, 7]);
      const got = await downF(b, b.binary('pow', up(b, base), [6], up(b, ex), [6], [6]), 6);
      expectClose(got, Array.from(base, (v, i) => Math.fround(powRef(v, ex[i]!))), { rtol: 1e-6 }, 'pow negative base');
    });
  });

  it('where with broadcasting (non-zero and NaN conditions are true)', async () => {
    for (const [sc, sa, sb] of [[[4, 5], [4, 5], [4, 5]], [[4, 1], [1, 5], []], [[2, 1, 3], [3], [2, 4, 1]]]) {
      const out = outOf(outOf(sc!, sa!), sb!);
      const cond = Float32Array.from(randi(r, prod(sc!), 0, 3), (v) => (v === 2 ? NaN : v === 1 ? -0.5 : 0));
      const a = randf(r, prod(sa!));
      const c = randf(r, prod(sb!));
      const got = await downF(b, b.where(up(b, cond), sc!, up(b, a), sa!, up(b, c), sb!, out), prod(out));
      expectEqual(got, broadcastRef([sc!, sa!, sb!], out, [cond, a, c], (k, x, y) => (k !== 0 ? x : y)), 'where');
    }
  });

  it('cast truncates toward zero and converts back', async () => {
    const x = new Float32Array([...randf(r, 100, -1000, 1000), 2.5, -2.5, 0.99, -0.99, 0, 16777216]);
    const asInt = await downI(b, b.cast(up(b, x), x.length, 'float32', 'int32'), x.length);
    expectEqual(asInt, Array.from(x, Math.trunc), 'f32→i32');
    const ints = new Int32Array([...randi(r, 100, -100000, 100000), 0, -1, 2 ** 31 - 1, -(2 ** 31)]);
    const asFloat = await downF(b, b.cast(up(b, ints), ints.length, 'int32', 'float32'), ints.length);
    expectEqual(asFloat, Array.from(ints, Math.fround), 'i32→f32');
  });

  it('fill writes float32 and int32 patterns', async () => {
    for (const v of [0, -0, 1.5, -3.25e-7, Infinity, NaN]) {
      expectEqual(await downF(b, b.fill('float32', 1000, v), 1000), new Array(1000).fill(Math.fround(v)), `fill ${v}`);
    }
    expectEqual(await downI(b, b.fill('int32', 777, -123456), 777), new Array(777).fill(-123456), 'fill int');
    expect(Object.is((await downF(b, b.fill('float32', 1, -0), 1))[0], -0)).toBe(true);
  });

  it('oneHot gives zero rows for labels out of range', async () => {
    const labels = new Int32Array([...randi(r, 50, 0, 7), -1, 7, 100, -100]);
    const got = await downF(b, b.oneHot(up(b, labels), labels.length, 7), labels.length * 7);
    expectEqual(got, Array.from({ length: labels.length * 7 }, (_, i) => +(labels[Math.floor(i / 7)] === i % 7)), 'oneHot');
  });

  it('more than 65535 workgroups span a two-dimensional grid', async () => {
    const n = 256 * 65535 + 1000;
    const got = await downI(b, b.fill('int32', n, 7), n);
    expect(got[n - 1]).toBe(7);
    expect(got.every((v) => v === 7)).toBe(true);
  });
});
