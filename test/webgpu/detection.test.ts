import { afterAll, describe, expect, it } from 'vitest';
import type { RoiParams } from '../../src/engine/backend.js';
import { downF, downI, expectClose, expectEqual, openBackend, randf, randi, rng, title, up } from './helpers.js';
import { boxIouRef, nmsRef, roiAlignGradRef, roiAlignRef, roiPoolGradRef, roiPoolRef } from './ref.js';

const o = await openBackend();
const b = o.backend!;

/** ROIs in image coordinates for a feature map of h×w at `scale`: some inside, some crossing the border. */
function makeRois(r: () => number, k: number, n: number, h: number, w: number, scale: number): Float32Array {
  const rois = new Float32Array(k * 5);
  for (let i = 0; i < k; i++) {
    const x1 = (r() * 1.3 - 0.2) * (w / scale);
    const y1 = (r() * 1.3 - 0.2) * (h / scale);
    rois.set([i % n, x1, y1, x1 + (0.2 + r()) * (w / scale) * 0.7, y1 + (0.2 + r()) * (h / scale) * 0.7], i * 5);
  }
  // A degenerate box and a box entirely outside the map.
  if (k > 3) {
    rois.set([0, 3, 3, 3, 3], 0);
    rois.set([n - 1, -50, -40, -30, -20], 5);
  }
  return rois;
}

function roiParams(n: number, c: number, h: number, w: number, k: number, pooled: [number, number], scale: number, samplingRatio: number, aligned: boolean): RoiParams {
  return { n, c, h, w, k, pooledH: pooled[0], pooledW: pooled[1], spatialScale: scale, samplingRatio, aligned };
}

const ALIGN: [string, RoiParams][] = [
  ['adaptive sampling, aligned', roiParams(2, 3, 12, 10, 9, [3, 4], 0.5, 0, true)],
  ['sampling ratio 2, not aligned', roiParams(2, 2, 9, 11, 8, [2, 2], 0.25, 2, false)],
  ['7×7 bins, scale 1', roiParams(1, 2, 14, 14, 5, [7, 7], 1, -1, false)],
];

describe.skipIf(!o.backend)(title('webgpu detection kernels', o), () => {
  afterAll(() => b.dispose());
  const r = rng(7);

  // roi_align's sample positions are float32, as in torchvision: against the float64 reference
  // that costs up to ~1e-5 of the values' scale, hence 1e-4 here.
  for (const [name, p] of ALIGN) {
    it(`roi_align forward and backward (gather) — ${name}`, async () => {
      const x = randf(r, p.n * p.c * p.h * p.w);
      const rois = makeRois(r, p.k, p.n, p.h, p.w, p.spatialScale);
      const want = roiAlignRef(x, rois, p);
      expectClose(await downF(b, b.roiAlign(up(b, x), up(b, rois), p), want.out.length), want.out, { scale: want.mag, rtol: 1e-4, atol: 1e-7 }, 'roiAlign');
      const dy = randf(r, want.out.length);
      const dx = roiAlignGradRef(dy, rois, p);
      expectClose(await downF(b, b.roiAlignGrad(up(b, dy), up(b, rois), p), dx.out.length), dx.out, { scale: dx.mag, rtol: 1e-4, atol: 1e-7 }, 'roiAlignGrad');
    });
  }

  // CPU-emulated devices run the backward with channels fastest over the invocations
  // (C_FASTEST): a backend that takes the device for the other kind must give the same bits.
  it('roi_align backward: both invocation orders give the same bits', async () => {
    const other = (await openBackend({ cpuEmulated: !b.ctx.cpuEmulated })).backend!;
    try {
      for (const [name, p] of ALIGN) {
        const rois = makeRois(r, p.k, p.n, p.h, p.w, p.spatialScale);
        const dy = randf(r, p.k * p.c * p.pooledH * p.pooledW);
        const size = p.n * p.c * p.h * p.w;
        const [x, y] = await Promise.all([b, other].map((be) => downF(be, be.roiAlignGrad(up(be, dy), up(be, rois), p), size)));
        expectEqual(Array.from(new Uint32Array(y!.buffer)), Array.from(new Uint32Array(x!.buffer)), `${name} bits`);
      }
    } finally {
      other.dispose();
    }
  });

  it('roi_align backward with samples on integer coordinates and clamped borders', async () => {
    // Boxes whose sample points land exactly on pixel centres and edges, and past the last row.
    const p = roiParams(1, 1, 5, 6, 4, [2, 2], 1, 1, false);
    const rois = new Float32Array([0, 0, 0, 2, 2, 0, 1, 1, 5, 3, 0, -1, -1, 7, 6, 0, 4.5, 3.5, 6, 5]);
    const dy = randf(r, p.k * 4);
    const dx = roiAlignGradRef(dy, rois, p);
    expectClose(await downF(b, b.roiAlignGrad(up(b, dy), up(b, rois), p), dx.out.length), dx.out, { scale: dx.mag, rtol: 1e-4, atol: 1e-7 }, 'dx');
  });

  it('roi_pool forward (argmax, empty bins) and backward (gather)', async () => {
    for (const [pooled, scale] of [[[2, 2], 0.5], [[3, 4], 1], [[7, 7], 0.125]] as [[number, number], number][]) {
      const p = roiParams(2, 3, 10, 9, 7, pooled, scale, 0, false);
      const x = randf(r, p.n * p.c * p.h * p.w, -3, 3);
      const rois = makeRois(r, p.k, p.n, p.h, p.w, scale);
      rois.set([1, 2.5 / scale, -2.5 / scale, 3.5 / scale, 1.5 / scale], 10); // halves round away from zero
      const want = roiPoolRef(x, rois, p);
      const res = b.roiPool(up(b, x), up(b, rois), p);
      expectEqual(await downF(b, res.out, want.out.length), want.out, 'out');
      const argmax = await downI(b, res.argmax, want.out.length);
      expectEqual(argmax, want.argmax, 'argmax');
      expect(argmax.some((v) => v === -1)).toBe(true);
      const dy = randf(r, want.out.length);
      const dx = roiPoolGradRef(dy, argmax, rois, p);
      const mag = roiPoolGradRef(dy.map(Math.abs), argmax, rois, p);
      expectClose(await downF(b, b.roiPoolGrad(up(b, dy), up(b, argmax), up(b, rois), p), dx.length), dx, { scale: mag, rtol: 1e-6 }, 'dx');
    }
  });

  function boxes(n: number, spread: number): Float32Array {
    const out = new Float32Array(n * 4);
    for (let i = 0; i < n; i++) {
      const x = r() * spread;
      const y = r() * spread;
      out.set([x, y, x + 5 + r() * 20, y + 5 + r() * 20], i * 4);
    }
    return out;
  }

  it('box_iou, including disjoint and degenerate boxes', async () => {
    const a = boxes(13, 40);
    const c = boxes(17, 40);
    c.set([1, 1, 1, 1], 0);
    c.set([1000, 1000, 1010, 1010], 4);
    const want = boxIouRef(a, c);
    expectClose(await downF(b, b.boxIou(up(b, a), 13, up(b, c), 17), want.length), want, { rtol: 1e-5 }, 'iou');
  });

  it('nms keeps what torchvision keeps, in score order, ties to the lower index', async () => {
    for (const [n, thr] of [[1, 0.5], [5, 0.5], [70, 0.5], [300, 0.3], [1000, 0.7], [257, 0]] as [number, number][]) {
      const bx = boxes(n, 60);
      // Coarse scores make ties.
      const scores = Float32Array.from(randi(r, n, 0, Math.max(2, n / 3)), (v) => v / 7);
      const got = await b.nms(up(b, bx), up(b, scores), n, thr);
      expectEqual(got, nmsRef(bx, scores, thr), `nms n=${n} thr=${thr}`);
    }
    expect(await b.nms(up(b, new Float32Array(0)), up(b, new Float32Array(0)), 0, 0.5)).toEqual(new Int32Array(0));
  });

  it('nms compares the float32 IoU with the threshold as torchvision does (in double)', async () => {
    // Two boxes with IoU exactly 0.3 in float32 (0.300000011920929): above the double 0.3.
    const bx = new Float32Array([0, 0, 10, 10, 0, 0, 10, 10]);
    const iou = Math.fround(0.3);
    bx[6] = 10 * iou; // second box [0, 0, 3, 10] inside the first: IoU = 30 / 100
    const want = nmsRef(bx, new Float32Array([0.9, 0.8]), 0.3);
    expect(want).toEqual([0]);
    expectEqual(await b.nms(up(b, bx), up(b, new Float32Array([0.9, 0.8])), 2, 0.3), want, 'threshold edge');
  });
});
