// adaptiveAvgPool2d and interpolateNearest (src/nn/resample.ts) against PyTorch 1.13
// (scripts/fixtures-mobilenet-ops.py -> test/fixtures/nn/mobilenet-ops.json) on every backend under
// test: odd sizes (7×5 → 3×2, 5×3 → 9×7, overlapping and repeated bins, downsampling, PyTorch's
// float32 nearest-index rounding), float64 loop references, finite differences on the reference
// backend, no leak, NaN propagation.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import { AdaptiveAvgPool2d, adaptiveAvgPool2d, interpolateNearest, nearestSourceIndex } from '../../src/nn/index.js';
import { assertClose } from '../helpers/assert.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { decode, type FixtureArray } from '../helpers/fixtures.js';
import { evaluate, gradcheck } from '../helpers/gradcheck.js';
import { expectMemoryFlat } from '../helpers/memory.js';
import { randn, Rng } from '../helpers/random.js';

interface ResampleCase {
  size: [number, number];
  x: FixtureArray;
  dy: FixtureArray;
  y: FixtureArray;
  dx: FixtureArray;
  rows?: number[];
  cols?: number[];
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/nn/mobilenet-ops.json', import.meta.url), 'utf8')) as {
  adaptive: ResampleCase[];
  nearest: ResampleCase[];
};

const input = (a: FixtureArray) => ({ data: decode(a), shape: a.shape });
const dims = (c: ResampleCase) => `${c.x.shape[2]}×${c.x.shape[3]} → ${c.size[0]}×${c.size[1]}`;

/** Plain-loop float64 adaptive average pooling of x [n, c, h, w] (PyTorch's bins). */
function handAdaptive(x: ArrayLike<number>, [n, c, h, w]: number[], [oh, ow]: [number, number]): Float64Array {
  const y = new Float64Array(n! * c! * oh * ow);
  for (let p = 0; p < n! * c!; p++) {
    for (let i = 0; i < oh; i++) {
      const [r0, r1] = [Math.floor((i * h!) / oh), Math.ceil(((i + 1) * h!) / oh)];
      for (let j = 0; j < ow; j++) {
        const [c0, c1] = [Math.floor((j * w!) / ow), Math.ceil(((j + 1) * w!) / ow)];
        let s = 0;
        for (let r = r0; r < r1; r++) for (let q = c0; q < c1; q++) s += x[(p * h! + r) * w! + q]!;
        y[(p * oh + i) * ow + j] = s / ((r1 - r0) * (c1 - c0));
      }
    }
  }
  return y;
}

/** Plain-loop float64 nearest resize and its adjoint (scatter-sum of dy into the sources). */
function handNearest(x: ArrayLike<number>, dy: ArrayLike<number>, [n, c, h, w]: number[], [oh, ow]: [number, number]): { y: Float64Array; dx: Float64Array } {
  const y = new Float64Array(n! * c! * oh * ow);
  const dx = new Float64Array(x.length);
  for (let p = 0; p < n! * c!; p++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const src = (p * h! + nearestSourceIndex(i, h!, oh)) * w! + nearestSourceIndex(j, w!, ow);
        const at = (p * oh + i) * ow + j;
        y[at] = x[src]!;
        dx[src] += dy[at]!;
      }
    }
  }
  return { y, dx };
}

describeEachBackend(await loadBackendsUnderTest(), (backend: Backend, name: string) => {
  const rtol = name === 'reference' ? 1e-6 : 1e-5;

  for (const c of fixture.adaptive) {
    it(`adaptiveAvgPool2d ${dims(c)}: y and dx match F.adaptive_avg_pool2d and a float64 loop; the module too; no leak`, async () => {
      const r = await evaluate(backend, (x) => adaptiveAvgPool2d(x!, c.size), [input(c.x)], () => decode(c.dy));
      assertClose(r.output.data, decode(c.y), { rtol, what: `adaptive ${dims(c)} y`, shape: [...c.x.shape.slice(0, 2), ...c.size] });
      assertClose(r.grads[0]!, decode(c.dx), { rtol, what: `adaptive ${dims(c)} dx`, shape: c.x.shape });
      assertClose(r.output.data, handAdaptive(decode(c.x), c.x.shape, c.size), { rtol, what: `adaptive ${dims(c)} vs loop` });
      const m = await evaluate(backend, (x) => AdaptiveAvgPool2d(c.size).forward(x!), [input(c.x)], () => decode(c.dy));
      assertClose(m.output.data, r.output.data, { rtol: 0, atol: 0, what: 'module' });
    });
  }

  for (const c of fixture.nearest) {
    it(`interpolateNearest ${dims(c)}: y and dx (summed into the sources) match F.interpolate(mode='nearest') and a float64 loop; no leak`, async () => {
      const [oh, ow] = c.size;
      expect(Array.from({ length: oh }, (_, i) => nearestSourceIndex(i, c.x.shape[2]!, oh))).toEqual(c.rows);
      expect(Array.from({ length: ow }, (_, j) => nearestSourceIndex(j, c.x.shape[3]!, ow))).toEqual(c.cols);
      const r = await evaluate(backend, (x) => interpolateNearest(x!, c.size), [input(c.x)], () => decode(c.dy));
      assertClose(r.output.data, decode(c.y), { rtol: 0, atol: 0, what: `nearest ${dims(c)} y`, shape: [...c.x.shape.slice(0, 2), ...c.size] });
      assertClose(r.grads[0]!, decode(c.dx), { rtol, what: `nearest ${dims(c)} dx`, shape: c.x.shape });
      const hand = handNearest(decode(c.x), decode(c.dy), c.x.shape, c.size);
      assertClose(r.output.data, hand.y, { rtol: 0, atol: 0, what: `nearest ${dims(c)} vs loop` });
      assertClose(r.grads[0]!, hand.dx, { rtol, what: `nearest ${dims(c)} dx vs loop` });
    });
  }

  it('same size is the identity (a view), a number is a square size, bad arguments throw', async () => {
    k.setBackend(backend);
    const x = k.tensor(Float32Array.from(randn(new Rng('rs id'), 2 * 3 * 4 * 4)), [2, 3, 4, 4], { backend });
    for (const f of [adaptiveAvgPool2d, interpolateNearest]) {
      const same = f(x, [4, 4]);
      expect(Array.from(await same.data())).toEqual(Array.from(await x.data()));
      const sq = f(x, 2);
      expect(sq.shape).toEqual([2, 3, 2, 2]);
      expect(() => f(x, [0, 2])).toThrow();
      expect(() => f(k.reshape(x, [6, 16]), [2, 2])).toThrow();
      k.dispose([same, sq]);
    }
    x.dispose();
  });

  it('no leak: tensors and backend bytes flat over repeated forward/backward (general and fast paths)', async () => {
    k.setBackend(backend);
    const x = k.tensor(Float32Array.from(randn(new Rng('rs mem'), 2 * 3 * 7 * 5)), [2, 3, 7, 5], { backend });
    const step = () => {
      const loss = () =>
        k.sum(k.add(k.sum(adaptiveAvgPool2d(interpolateNearest(x, [9, 4]), [3, 2])), k.add(k.sum(adaptiveAvgPool2d(x, 1)), k.sum(adaptiveAvgPool2d(x, [7, 1])))));
      const { value, grads } = k.valueAndGrads(loss, [x]);
      k.dispose([value, ...grads]);
      k.dispose([interpolateNearest(x, [14, 10]), adaptiveAvgPool2d(x, [3, 2])]);
    };
    await expectMemoryFlat(backend, step);
    x.dispose();
  });

  it('NaN is never hidden: it spreads to exactly the bins (adaptive) and copies (nearest) that read it', async () => {
    k.setBackend(backend);
    const xs = Float32Array.from(randn(new Rng('rs nan'), 7 * 5, 2));
    xs[3 * 5 + 4] = NaN; // row 3, column 4
    const x = k.tensor(xs, [1, 1, 7, 5], { backend });
    const pooled = adaptiveAvgPool2d(x, [3, 2]);
    // Row 3 is in bin 1 ([2, 5)) only; column 4 in bin 1 ([2, 5)).
    expect(Array.from(await pooled.data(), Number.isNaN)).toEqual([false, false, false, true, false, false]);
    const up = interpolateNearest(x, [9, 7]);
    const v = await up.data();
    for (let i = 0; i < 9; i++) {
      for (let j = 0; j < 7; j++) {
        const hit = nearestSourceIndex(i, 7, 9) === 3 && nearestSourceIndex(j, 5, 7) === 4;
        expect(Number.isNaN(v[i * 7 + j]!), `(${i}, ${j})`).toBe(hit);
      }
    }
    k.dispose([x, pooled, up]);
  });
});

// Finite differences on the reference backend, in float64.
const gxs = randn(new Rng('rs gradcheck'), 2 * 2 * 7 * 5, 1.5);
for (const size of [[3, 2], [1, 1], [7, 1], [4, 6], [9, 8]] as [number, number][]) {
  it(`gradcheck: adaptiveAvgPool2d 7×5 → ${size.join('×')}`, () => {
    gradcheck(`adaptive ${size}`, (x) => adaptiveAvgPool2d(x!, size), [{ data: gxs, shape: [2, 2, 7, 5] }], { rtol: 1e-6 });
  });
}
for (const size of [[9, 7], [3, 2], [14, 10], [7, 11]] as [number, number][]) {
  it(`gradcheck: interpolateNearest 7×5 → ${size.join('×')}`, () => {
    gradcheck(`nearest ${size}`, (x) => interpolateNearest(x!, size), [{ data: gxs, shape: [2, 2, 7, 5] }], { rtol: 1e-6 });
  });
}
