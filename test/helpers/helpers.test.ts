import { describe, expect, it } from 'vitest';
import { createReferenceBackend } from '../../src/backends/reference/index.js';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import { record } from '../../src/engine/tape.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { assertClose, assertEqualArrays, assertFinite } from './assert.js';
import { backendsUnderTest } from './backends.js';
import { compareWithReference, gradcheck } from './gradcheck.js';
import { distinct, randn, Rng } from './random.js';

/** The helpers must fail when they should: a checker that cannot fail checks nothing. */
describe('assertClose', () => {
  it('passes within tolerance and fails outside, naming the worst element', () => {
    assertClose([1, 2, 3], [1, 2.0001, 3], { rtol: 1e-4 });
    expect(() => assertClose([1, 2, 3.1], [1, 2, 3], { rtol: 1e-4, what: 'y', shape: [1, 3] })).toThrow(/y: 1 of 3 .*element 2 \[0, 2\]/);
  });

  it('never lets a NaN or an infinity through', () => {
    expect(() => assertClose([NaN], [1])).toThrow(/non-finite/);
    expect(() => assertClose([1], [NaN])).toThrow(/non-finite/);
    expect(() => assertClose([Infinity], [1e30])).toThrow(/non-finite/);
    expect(() => assertClose([-Infinity], [Infinity])).toThrow(/non-finite/);
    assertClose([NaN, Infinity], [NaN, Infinity]);
    expect(() => assertFinite([0, NaN])).toThrow(/element 1 is NaN/);
  });

  it('compares lengths and integer arrays exactly', () => {
    expect(() => assertClose([1, 2], [1])).toThrow(/2 elements, expected 1/);
    expect(() => assertEqualArrays([1, 2], [1, 3])).toThrow();
    assertEqualArrays(Int32Array.from([4, -1]), [4, -1]);
  });
});

describe('random inputs', () => {
  it('are seeded, never zero, float32-exact and tie-free where asked', () => {
    expect(Array.from(randn(new Rng('a'), 50))).toEqual(Array.from(randn(new Rng('a'), 50)));
    expect(Array.from(randn(new Rng('a'), 50))).not.toEqual(Array.from(randn(new Rng('b'), 50)));
    const x = randn(new Rng('z'), 1000);
    expect(x.every((v) => v !== 0 && Math.fround(v) === v)).toBe(true);
    const d = Array.from(distinct(new Rng('d'), 200, 0.01)).sort((a, b) => a - b);
    expect(d.every((v, i) => i === 0 || v - d[i - 1]! > 0.005)).toBe(true);
  });
});

/** x² whose recorded backward forgets the factor 2: gradcheck must reject it. */
function wrongSquare(x: Tensor): Tensor {
  const y = k.noGrad(() => k.square(x));
  record('wrongSquare', [x], [y], () => ([dy]) => [k.mul(dy!, x)]);
  return y;
}

describe('gradcheck', () => {
  const input = () => ({ data: randn(new Rng('g'), 6), shape: [2, 3] });

  it('accepts a correct gradient', () => {
    gradcheck('square', (x) => k.square(x), [input()]);
  });

  it('rejects a wrong gradient', () => {
    expect(() => gradcheck('wrongSquare', wrongSquare, [input()])).toThrow(/analytic vs finite differences/);
  });

  it('rejects a NaN forward', () => {
    expect(() => gradcheck('log of negatives', (x) => k.log(x), [{ data: [-1, -2], shape: [2] }])).toThrow(/NaN/);
  });
});

/** A reference backend whose exp is off by 1e-3 relative: the comparison must notice. */
function skewedBackend(): Backend {
  const inner = createReferenceBackend();
  const skewed: Backend = Object.create(inner);
  Object.defineProperty(skewed, 'name', { value: 'skewed' });
  skewed.unary = (op, x, size) => {
    const y = inner.unary(op, x, size);
    if (op !== 'exp') return y;
    const v = inner.readF64(y).map((e) => e * 1.001);
    inner.free(y);
    return inner.uploadF64(v);
  };
  return skewed;
}

describe('compareWithReference', () => {
  it('accepts an identical backend and rejects a skewed kernel', async () => {
    const inputs = [{ data: randn(new Rng('c'), 6), shape: [6] }];
    await compareWithReference('exp', (x) => k.exp(x), inputs, createReferenceBackend());
    await expect(compareWithReference('exp', (x) => k.exp(x), inputs, skewedBackend())).rejects.toThrow(/exp: output/);
  });
});

describe('backendsUnderTest', () => {
  it('reads KDET_TEST_BACKENDS and rejects unknown names', () => {
    const saved = process.env.KDET_TEST_BACKENDS;
    try {
      process.env.KDET_TEST_BACKENDS = 'reference, webgpu';
      expect(backendsUnderTest().map((b) => b.name)).toEqual(['reference', 'webgpu']);
      delete process.env.KDET_TEST_BACKENDS;
      expect(backendsUnderTest().map((b) => b.name)).toEqual(['reference', 'wasm']);
      process.env.KDET_TEST_BACKENDS = 'cuda';
      expect(() => backendsUnderTest()).toThrow(/unknown backend 'cuda'/);
    } finally {
      if (saved === undefined) delete process.env.KDET_TEST_BACKENDS;
      else process.env.KDET_TEST_BACKENDS = saved;
    }
  });

  it('creates the reference backend through the same dynamic import path', async () => {
    const saved = process.env.KDET_TEST_BACKENDS;
    try {
      process.env.KDET_TEST_BACKENDS = 'reference';
      const b = await backendsUnderTest()[0]!.create();
      expect(b.name).toBe('reference');
    } finally {
      if (saved === undefined) delete process.env.KDET_TEST_BACKENDS;
      else process.env.KDET_TEST_BACKENDS = saved;
    }
  });
});
