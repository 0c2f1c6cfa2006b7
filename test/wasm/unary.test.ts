// Unary kernels against Math.* in float64: transcendental ones within 2 ulp of float32 over the
// whole range (subnormal results included), the others bit-exact, with PyTorch's special values.
import { describe, expect, it } from 'vitest';
import type { UnaryOp } from '../../src/engine/backend.js';
import { Rng } from '../helpers/random.js';
import { f32, newBackend, takeF32, ulpError, upF32 } from './helpers.js';

const b = await newBackend();
const rng = new Rng('wasm-unary');
const SPECIALS = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 1e-45, -1e-45, 1.1754942e-38, 3.4028235e38, -3.4028235e38].map(Math.fround);

/** Random float32 values spread over every binade (random exponent and mantissa bits). */
function everyBinade(n: number): number[] {
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) bits[i] = (rng.int(0, 2) << 31) | (rng.int(0, 255) << 23) | rng.int(0, 1 << 23);
  return Array.from(new Float32Array(bits.buffer));
}

const uniform = (n: number, lo: number, hi: number) => Array.from({ length: n }, () => f32(rng.uniform(lo, hi)));

function run(op: UnaryOp, xs: number[]): Float64Array {
  const x = upF32(b, xs);
  const y = takeF32(b, b.unary(op, x, xs.length), xs.length);
  b.free(x);
  return y;
}

function worstUlp(op: UnaryOp, xs: number[], exact: (x: number) => number): { ulp: number; x: number; got: number } {
  const ys = run(op, xs);
  let worst = { ulp: 0, x: NaN, got: NaN };
  xs.forEach((x, i) => {
    const u = ulpError(ys[i]!, exact(x));
    if (!(u <= worst.ulp)) worst = { ulp: u, x, got: ys[i]! };
  });
  return worst;
}

const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

describe('wasm unary: transcendental accuracy', () => {
  const cases: [UnaryOp, (x: number) => number, number[]][] = [
    ['exp', Math.exp, [...uniform(20000, -104, 89), ...uniform(5000, -1, 1), ...uniform(2000, -103.5, -87), ...uniform(500, 88, 88.8), ...everyBinade(5000)]],
    ['log', Math.log, [...everyBinade(20000).map(Math.abs), ...uniform(5000, 0.5, 2), ...uniform(2000, 0.999, 1.001), ...uniform(2000, 0, 1e-38)]],
    ['tanh', Math.tanh, [...uniform(10000, -10, 10), ...uniform(5000, -0.6, 0.6), ...uniform(2000, -1e-3, 1e-3), ...uniform(1000, -100, 100), ...everyBinade(5000)]],
    ['sigmoid', sigmoid, [...uniform(10000, -20, 20), ...uniform(5000, -110, 110), ...uniform(2000, -1e-3, 1e-3), ...everyBinade(5000)]],
  ];
  for (const [op, exact, xs] of cases) {
    it(`${op} is within 2 ulp on ${xs.length + SPECIALS.length} values, special values as Math.${op === 'sigmoid' ? 'exp' : op}`, () => {
      const worst = worstUlp(op, [...xs, ...SPECIALS], exact);
      expect(worst.ulp, `${op}(${worst.x}) = ${worst.got}, exact ${exact(worst.x)}`).toBeLessThanOrEqual(2);
    });
  }

  it('gives the same bits at every position (vector lanes and scalar tails agree)', () => {
    for (const op of ['exp', 'log', 'tanh', 'sigmoid'] as const) {
      const xs = uniform(7, 0.01, 5);
      const spread = xs.flatMap((x) => Array(7).fill(x) as number[]);
      const ys = run(op, spread);
      xs.forEach((_, i) => expect(new Set(ys.subarray(7 * i, 7 * i + 7)).size).toBe(1));
    }
  });
});

describe('wasm unary: exact ops and PyTorch special cases', () => {
  const exact: [UnaryOp, (x: number) => number][] = [
    ['neg', (x) => -x],
    ['abs', Math.abs],
    ['sqrt', Math.sqrt],
    ['square', (x) => x * x],
    ['reciprocal', (x) => 1 / x],
    ['relu', (x) => (x < 0 ? 0 : x)], // keeps NaN and −0, as torch.relu
    ['sign', (x) => (x > 0 ? 1 : x < 0 ? -1 : 0)], // NaN → 0 in PyTorch 1.13
    ['step', (x) => (x > 0 ? 1 : 0)],
  ];
  for (const [op, f] of exact) {
    it(`${op} is correctly rounded, odd lengths included`, () => {
      const xs = [...everyBinade(3001), ...uniform(1000, -3, 3), ...SPECIALS];
      const ys = run(op, xs);
      xs.forEach((x, i) => {
        const want = f32(f(x));
        if (!Object.is(ys[i], want)) expect.fail(`${op}(${x}) = ${ys[i]}, expected ${want}`);
      });
    });
  }

  it('clamp is min(max(x, lo), hi), keeps NaN and −0, accepts infinite bounds', () => {
    const xs = [...uniform(1001, -5, 5), NaN, -0, Infinity, -Infinity];
    const input = upF32(b, xs);
    for (const [lo, hi] of [[-1, 2], [-Infinity, 0.3], [0.1, Infinity], [1, 1]] as const) {
      const ys = takeF32(b, b.clamp(input, xs.length, lo, hi), xs.length);
      xs.forEach((x, i) => {
        const want = Number.isNaN(x) ? NaN : Math.min(Math.max(x, f32(lo)), f32(hi));
        if (!Object.is(ys[i], want)) expect.fail(`clamp(${x}, ${lo}, ${hi}) = ${ys[i]}, expected ${want}`);
      });
    }
    b.free(input);
  });

  it('leaves nothing allocated', () => {
    expect(b.memory()).toEqual({ bytes: 0, buffers: 0 });
  });
});
