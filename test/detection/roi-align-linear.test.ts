// RoIAlign followed by a linear layer through the map's pixels (src/detection/roi-align-linear.ts)
// against the direct path it replaces, linear(flatten(roiAlign(...))), which is itself checked
// against torchvision (test/detection/multiscale-roi-align.test.ts, test/ops): forward and both
// gradients, on every backend under test, for boxes inside, across and outside the map, smaller
// than a pixel, inverted, with fixed and adaptive sampling and aligned on or off; and
// MultiScaleRoIAlign.forwardLinear on several levels (one taken each way, boxes with no level).
import { expect, it } from 'vitest';
import * as k from '../../src/engine/index.js';
import { MultiScaleRoIAlign, toRoiFormat } from '../../src/detection/multiscale-roi-align.js';
import { roiAlignLinear, roiAlignLinearPays, roiAlignMatrix } from '../../src/detection/roi-align-linear.js';
import { assertClose } from '../helpers/assert.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { gradcheck, referenceBackend } from '../helpers/gradcheck.js';
import { expectMemoryFlat } from '../helpers/memory.js';
import { randn, Rng } from '../helpers/random.js';

/** ROIs in image pixels for a map of h × w at `scale`: inside, across the border, outside, tiny, inverted. */
function randomRois(rng: Rng, n: number, count: number, imageH: number, imageW: number): Float32Array {
  const out = new Float32Array(count * 5);
  for (let r = 0; r < count; r++) {
    const kind = r % 6;
    let x1 = rng.uniform(-0.2, 1) * imageW;
    let y1 = rng.uniform(-0.2, 1) * imageH;
    let bw = rng.uniform(0.05, 0.9) * imageW;
    let bh = rng.uniform(0.05, 0.9) * imageH;
    if (kind === 3) [bw, bh] = [rng.uniform(0.1, 2), rng.uniform(0.1, 2)]; // under a pixel of the map
    if (kind === 4) [x1, y1] = [imageW * rng.uniform(1.05, 1.5), imageH * rng.uniform(-0.6, -0.3)]; // off the map
    if (kind === 5) [bw, bh] = [-bw * 0.3, -bh * 0.3]; // inverted
    out.set([rng.int(0, n), x1, y1, x1 + bw, y1 + bh].map(Math.fround), r * 5);
  }
  return out;
}

interface Case {
  n: number; c: number; h: number; w: number; rois: number; out: number;
  pooled: [number, number]; scale: number; ratio: number; aligned: boolean;
}

const CASES: Case[] = [
  { n: 2, c: 5, h: 6, w: 7, rois: 18, out: 9, pooled: [3, 3], scale: 1 / 8, ratio: 2, aligned: false },
  { n: 1, c: 3, h: 5, w: 5, rois: 12, out: 6, pooled: [2, 3], scale: 1 / 4, ratio: 0, aligned: false },
  { n: 3, c: 4, h: 4, w: 6, rois: 13, out: 35, pooled: [2, 2], scale: 1 / 16, ratio: 3, aligned: true },
];

function direct(f: k.Tensor, rois: Float32Array, w: k.Tensor, c: Case): k.Tensor {
  const r = k.tensor(rois, [rois.length / 5, 5], { backend: f.backend });
  return k.linear(k.flatten(k.roiAlign(f, r, { outputSize: c.pooled, spatialScale: c.scale, samplingRatio: c.ratio, aligned: c.aligned }), 1), w);
}

function fused(f: k.Tensor, rois: Float32Array, w: k.Tensor, c: Case): k.Tensor {
  const m = roiAlignMatrix(rois, { n: c.n, h: c.h, w: c.w, pooledH: c.pooled[0], pooledW: c.pooled[1], spatialScale: c.scale, samplingRatio: c.ratio, aligned: c.aligned });
  return roiAlignLinear(f, m, w, c.pooled);
}

function inputs(c: Case, seed: string) {
  const rng = new Rng(seed);
  return {
    f: Float32Array.from(randn(rng, c.n * c.c * c.h * c.w)),
    w: Float32Array.from(randn(rng, c.out * c.c * c.pooled[0] * c.pooled[1], 0.3)),
    rois: randomRois(rng, c.n, c.rois, c.h / c.scale, c.w / c.scale),
    dy: Float32Array.from(randn(rng, c.rois * c.out)),
  };
}

CASES.forEach((c, i) => {
  it(`case ${i}: roiAlignLinear's gradients match finite differences (reference, float64)`, () => {
    const { f, w, rois } = inputs({ ...c, rois: 5 }, `ral-fd-${i}`);
    gradcheck(`roiAlignLinear case ${i}`, (ft, wt) => fused(ft, rois.subarray(0, 25), wt, c), [
      { data: f, shape: [c.n, c.c, c.h, c.w] },
      { data: w, shape: [c.out, c.c * c.pooled[0] * c.pooled[1]] },
    ], { rtol: 1e-5 });
  });
});

it('names the op and the shapes when the weight does not fit the pooled features', () => {
  k.setBackend(referenceBackend());
  const c = CASES[0]!;
  const { f, rois } = inputs(c, 'ral-err');
  const ft = k.tensor(f, [c.n, c.c, c.h, c.w]);
  const wt = k.tensor(new Float32Array(4 * 10).fill(0.5), [4, 10]);
  expect(() => fused(ft, rois, wt, c)).toThrow(/roiAlignLinear: weight has shape \[4, 10\], expected \[out, 5·3·3 = 45\]/);
  expect(() => roiAlignMatrix(Float32Array.from([2, 0, 0, 8, 8]), { n: 2, h: 4, w: 4, pooledH: 2, pooledW: 2, spatialScale: 1, samplingRatio: 2, aligned: false }))
    .toThrow(/rois\[0\] has batch index 2, not in \[0, 2\)/);
  k.dispose([ft, wt]);
});

it('takes the pixel order where the map is smaller than the box count, not where it is larger', () => {
  // MobileNetV3-FPN-320 training: 1024 ROIs on 2 × 10 × 10, 256 channels, 7 × 7 bins.
  expect(roiAlignLinearPays(1024, 200, 256, 49, 1024 * 49 * 16)).toBe(true);
  // A ResNet-FPN's finest level at 320²: 2 × 80 × 80 pixels for the same boxes.
  expect(roiAlignLinearPays(1024, 12800, 256, 49, 1024 * 49 * 16)).toBe(false);
  // A coarse level with few boxes.
  expect(roiAlignLinearPays(40, 200, 256, 49, 40 * 49 * 16)).toBe(false);
});

const loaded = await loadBackendsUnderTest();
describeEachBackend(loaded, (backend, name) => {
  CASES.forEach((c, i) => {
    it(`case ${i}: equals linear(flatten(roiAlign)) forward and in both gradients`, async () => {
      k.setBackend(backend);
      const { f, w, rois, dy } = inputs(c, `ral-${i}`);
      const run = async (path: typeof direct) => {
        const ft = k.tensor(f, [c.n, c.c, c.h, c.w]);
        const wt = k.tensor(w, [c.out, c.c * c.pooled[0] * c.pooled[1]]);
        const dyt = k.tensor(dy, [c.rois, c.out]);
        let y: Float32Array | null = null;
        const { value, grads } = await k.valueAndGradsAsync(async () => {
          const out = path(ft, rois, wt, c);
          y = (await out.data()) as Float32Array;
          return k.sum(k.mul(out, dyt));
        }, [ft, wt]);
        const res = { y: y!, df: await grads[0]!.data(), dw: await grads[1]!.data() };
        k.dispose([ft, wt, dyt, value, ...grads]);
        return res;
      };
      const want = await run(direct);
      const got = await run(fused);
      const tol = { rtol: 2e-5, atol: 2e-5 };
      assertClose(got.y, want.y, { ...tol, what: `[${name}] y` });
      assertClose(got.df, want.df, { ...tol, what: `[${name}] d feature` });
      assertClose(got.dw, want.dw, { ...tol, what: `[${name}] d weight` });
    });
  });

  it('MultiScaleRoIAlign.forwardLinear equals linear(flatten(forward)) over levels taken either way', async () => {
    k.setBackend(backend);
    const rng = new Rng('ral-msra');
    // Level '0' (8 × 8 at 1/8) takes the small boxes, directly; level '1' (4 × 4 at 1/16) the large
    // ones, which outnumber its 2 · 16 pixels enough to go through them (128 channels, 2 × 2 bins).
    const maps = new Map([['0', [2, 128, 8, 8]], ['1', [2, 128, 4, 4]]] as const);
    const feats = new Map([...maps].map(([key, s]) => [key, k.tensor(Float32Array.from(randn(rng, s[0] * s[1] * s[2] * s[3])), [...s])]));
    const boxes = [0, 1].map(() => {
      const b: number[] = [];
      for (let i = 0; i < 60; i++) {
        const s = i % 4 !== 0 ? rng.uniform(30, 60) : rng.uniform(3, 8);
        const x = rng.uniform(0, 64 - s);
        const y = rng.uniform(0, 64 - s);
        b.push(x, y, x + s, y + s);
      }
      b.push(10, 10, 5, 20); // negative area: no level, a zero row (plus the bias)
      return Float32Array.from(b.map(Math.fround));
    });
    const sizes: [number, number][] = [[64, 64], [64, 64]];
    const weight = k.tensor(Float32Array.from(randn(rng, 7 * 128 * 4, 0.1)), [7, 512]);
    const bias = k.tensor(Float32Array.from(randn(rng, 7)), [7]);
    const pool = new MultiScaleRoIAlign(['0', '1'], 2, 2, { canonicalScale: 16 });
    pool.forward(feats, boxes, sizes).dispose();
    const levels = pool.mapper!.levels(boxes);
    const onLevel = (l: number) => levels.filter((x) => x === l).length;
    expect([onLevel(0), onLevel(1), onLevel(-1)]).toEqual([30, 90, 2]);
    const nnz = (l: number, h: number, scale: number) => {
      const rows = toRoiFormat(boxes.map((b) => Float32Array.from(b.filter((_, i) => levels[Math.floor(i / 4) + (b === boxes[1] ? levels.length / 2 : 0)] === l))));
      return roiAlignMatrix(rows, { n: 2, h, w: h, pooledH: 2, pooledW: 2, spatialScale: scale, samplingRatio: 2, aligned: false }).nnz;
    };
    expect(roiAlignLinearPays(onLevel(0), 128, 128, 4, nnz(0, 8, 1 / 8))).toBe(false);
    expect(roiAlignLinearPays(onLevel(1), 32, 128, 4, nnz(1, 4, 1 / 16))).toBe(true);
    const want = await k.scope(() => k.linear(k.flatten(pool.forward(feats, boxes, sizes), 1), weight, bias)).data();
    const got = await pool.forwardLinear(feats, boxes, sizes, weight, bias).data();
    assertClose(got, want, { rtol: 2e-5, atol: 2e-5, what: `[${name}] forwardLinear` });
    await expectMemoryFlat(backend, () => pool.forwardLinear(feats, boxes, sizes, weight, bias).dispose(), 2);
    k.dispose([...feats.values(), weight, bias]);
  });
});
