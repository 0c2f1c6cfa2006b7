// RoIAlign and RoIPool forward and backward against naive float64 loops written from
// torchvision 0.14's CPU kernels (sample positions in float32, as torchvision computes them).
import { describe, expect, it } from 'vitest';
import type { RoiParams } from '../../src/engine/backend.js';
import { assertClose } from '../helpers/assert.js';
import { Rng } from '../helpers/random.js';
import { f32, newBackend, takeF32, takeI32, upF32 } from './helpers.js';

const b = await newBackend();
const rng = new Rng('wasm-roi');

interface Bilinear { weights: [number, number, number, number]; at: [number, number, number, number] }

/** torchvision's bilinear_interpolate weights and pixels for one sample (null: outside, 0). */
function bilinear(h: number, w: number, y: number, x: number): Bilinear | null {
  if (y < -1 || y > h || x < -1 || x > w) return null;
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  let yl = Math.trunc(y);
  let xl = Math.trunc(x);
  let yh: number;
  let xh: number;
  if (yl >= h - 1) { yh = yl = h - 1; y = yl; } else yh = yl + 1;
  if (xl >= w - 1) { xh = xl = w - 1; x = xl; } else xh = xl + 1;
  const ly = y - yl, lx = x - xl, hy = 1 - ly, hx = 1 - lx;
  return { weights: [hy * hx, hy * lx, ly * hx, ly * lx], at: [yl * w + xl, yl * w + xh, yh * w + xl, yh * w + xh] };
}

/** Per ROI: its samples (weight / count and flat pixel per bin), shared by forward and backward. */
function roiSamples(rois: number[], p: RoiParams): { batch: number; bins: { w: number; at: number }[][] }[] {
  return Array.from({ length: p.k }, (_, r) => {
    const [bi, x1, y1, x2, y2] = rois.slice(5 * r, 5 * r + 5) as [number, number, number, number, number];
    const off = p.aligned ? 0.5 : 0;
    const sw = f32(f32(x1 * p.spatialScale) - off), sh = f32(f32(y1 * p.spatialScale) - off);
    let rw = f32(f32(f32(x2 * p.spatialScale) - off) - sw), rh = f32(f32(f32(y2 * p.spatialScale) - off) - sh);
    if (!p.aligned) { rw = Math.max(rw, 1); rh = Math.max(rh, 1); }
    const bh = f32(rh / p.pooledH), bw = f32(rw / p.pooledW);
    const gh = p.samplingRatio > 0 ? p.samplingRatio : Math.ceil(f32(rh / p.pooledH));
    const gw = p.samplingRatio > 0 ? p.samplingRatio : Math.ceil(f32(rw / p.pooledW));
    const count = Math.max(gh * gw, 1);
    const bins: { w: number; at: number }[][] = [];
    for (let ph = 0; ph < p.pooledH; ph++) {
      for (let pw = 0; pw < p.pooledW; pw++) {
        const list: { w: number; at: number }[] = [];
        for (let iy = 0; iy < gh; iy++) {
          const y = f32(f32(sh + f32(ph * bh)) + f32(f32((iy + 0.5) * bh) / gh));
          for (let ix = 0; ix < gw; ix++) {
            const x = f32(f32(sw + f32(pw * bw)) + f32(f32((ix + 0.5) * bw) / gw));
            const s = bilinear(p.h, p.w, y, x);
            if (s) s.at.forEach((at, c) => list.push({ w: s.weights[c]! / count, at }));
          }
        }
        bins.push(list);
      }
    }
    return { batch: bi, bins };
  });
}

type Samples = ReturnType<typeof roiSamples>;

function naiveAlign(xs: number[], samples: Samples, p: RoiParams): { out: number[]; mag: number[] } {
  const out: number[] = [];
  const mag: number[] = [];
  for (const { batch, bins } of samples) {
    for (let c = 0; c < p.c; c++) {
      const plane = (batch * p.c + c) * p.h * p.w;
      for (const list of bins) {
        out.push(list.reduce((s, e) => s + e.w * xs[plane + e.at]!, 0));
        mag.push(list.reduce((s, e) => s + Math.abs(e.w * xs[plane + e.at]!), 0));
      }
    }
  }
  return { out, mag };
}

function naiveAlignGrad(dys: number[], samples: Samples, p: RoiParams): number[] {
  const dx = new Array<number>(p.n * p.c * p.h * p.w).fill(0);
  samples.forEach(({ batch, bins }, r) => {
    for (let c = 0; c < p.c; c++) {
      const plane = (batch * p.c + c) * p.h * p.w;
      bins.forEach((list, bin) => {
        for (const e of list) dx[plane + e.at] += e.w * dys[(r * p.c + c) * bins.length + bin]!;
      });
    }
  });
  return dx;
}

/** Boxes in image coordinates (scale 1/scale), some leaving the map, some degenerate. */
function randomRois(k: number, n: number, h: number, w: number, scale: number): number[] {
  const rois: number[] = [];
  for (let i = 0; i < k; i++) {
    const cx = rng.uniform(-0.2, 1.2) * w, cy = rng.uniform(-0.2, 1.2) * h;
    const bw = i % 7 === 3 ? -rng.uniform(0, 2) : rng.uniform(0, 0.8) * w;
    const bh = i % 5 === 2 ? 0 : rng.uniform(0, 0.8) * h;
    rois.push(rng.int(0, n), (cx - bw / 2) / scale, (cy - bh / 2) / scale, (cx + bw / 2) / scale, (cy + bh / 2) / scale);
  }
  return rois.map(f32);
}

const CASES: [string, RoiParams][] = [
  ['7×7, ratio 2, 5 channels', { n: 2, c: 5, h: 12, w: 10, k: 9, pooledH: 7, pooledW: 7, spatialScale: 0.25, samplingRatio: 2, aligned: false }],
  ['3×4, adaptive, aligned, 17 channels', { n: 1, c: 17, h: 9, w: 13, k: 8, pooledH: 3, pooledW: 4, spatialScale: 0.5, samplingRatio: -1, aligned: true }],
  ['2×2, adaptive, 3 channels, large boxes', { n: 3, c: 3, h: 20, w: 16, k: 6, pooledH: 2, pooledW: 2, spatialScale: 1, samplingRatio: 0, aligned: false }],
  ['5×3, ratio 3, aligned, 32 channels', { n: 2, c: 32, h: 6, w: 7, k: 5, pooledH: 5, pooledW: 3, spatialScale: 0.125, samplingRatio: 3, aligned: true }],
  ['1×1 map', { n: 1, c: 4, h: 1, w: 1, k: 3, pooledH: 2, pooledW: 2, spatialScale: 1, samplingRatio: 2, aligned: false }],
  ['inverted aligned boxes, ratio above the map size', { n: 1, c: 8, h: 2, w: 3, k: 12, pooledH: 3, pooledW: 3, spatialScale: 1, samplingRatio: 3, aligned: true }],
];

describe('wasm roiAlign', () => {
  for (const [name, p] of CASES) {
    it(`forward and backward, ${name}`, () => {
      const xs = Array.from({ length: p.n * p.c * p.h * p.w }, () => f32(rng.normal()));
      const rois = randomRois(p.k, p.n, p.h, p.w, p.spatialScale);
      const [x, r] = [upF32(b, xs), upF32(b, rois)];
      const size = p.k * p.c * p.pooledH * p.pooledW;
      const samples = roiSamples(rois, p);
      const want = naiveAlign(xs, samples, p);
      const got = takeF32(b, b.roiAlign(x, r, p), size);
      // Each bin against the magnitude of its own terms (Σ|w·x|), so cancellation cannot hide an error.
      const bad = [...got.keys()].filter((i) => !(Math.abs(got[i]! - want.out[i]!) <= 1e-6 * (want.mag[i]! + 1e-30)));
      if (bad.length > 0) expect.fail(`${bad.length} bins differ, first ${bad[0]}: got ${got[bad[0]!]}, expected ${want.out[bad[0]!]}`);
      const dys = Array.from({ length: size }, () => f32(rng.normal()));
      const dy = upF32(b, dys);
      const wantDx = naiveAlignGrad(dys, samples, p);
      assertClose(takeF32(b, b.roiAlignGrad(dy, r, p), xs.length), wantDx, { rtol: 1e-5, what: 'roiAlign dx' });
      [x, r, dy].forEach((t) => b.free(t));
    });
  }

  it('no ROIs: empty output, zero gradient', () => {
    const p: RoiParams = { n: 1, c: 3, h: 4, w: 4, k: 0, pooledH: 2, pooledW: 2, spatialScale: 1, samplingRatio: 2, aligned: false };
    const [x, r, dy] = [upF32(b, Array(48).fill(1)), b.alloc('float32', 0), b.alloc('float32', 0)];
    expect(takeF32(b, b.roiAlign(x, r, p), 0).length).toBe(0);
    expect(Array.from(takeF32(b, b.roiAlignGrad(dy, r, p), 48))).toEqual(Array(48).fill(0));
    [x, r, dy].forEach((t) => b.free(t));
  });

  it('rejects a batch index outside the map', () => {
    const p: RoiParams = { n: 2, c: 1, h: 4, w: 4, k: 1, pooledH: 2, pooledW: 2, spatialScale: 1, samplingRatio: 2, aligned: false };
    const [x, r] = [upF32(b, Array(32).fill(1)), upF32(b, [2, 0, 0, 3, 3])];
    expect(() => b.roiAlign(x, r, p)).toThrow(/rois\[0\] has batch index 2, not in \[0, 2\)/);
    [x, r].forEach((t) => b.free(t));
  });
});

/** torchvision's roi_pool CPU loop, with C's round (halves away from zero). */
function naivePool(xs: number[], rois: number[], p: RoiParams): { out: number[]; argmax: number[] } {
  const round = (v: number) => Math.sign(v) * Math.floor(Math.abs(v) + 0.5);
  const out: number[] = [];
  const argmax: number[] = [];
  for (let r = 0; r < p.k; r++) {
    const [bi, ...c] = rois.slice(5 * r, 5 * r + 5) as number[];
    const [x1, y1, x2, y2] = c.map((v) => round(f32(v * p.spatialScale))) as [number, number, number, number];
    const bh = f32(Math.max(y2 - y1 + 1, 1) / p.pooledH), bw = f32(Math.max(x2 - x1 + 1, 1) / p.pooledW);
    for (let ch = 0; ch < p.c; ch++) {
      for (let ph = 0; ph < p.pooledH; ph++) {
        for (let pw = 0; pw < p.pooledW; pw++) {
          const clip = (v: number, size: number) => Math.min(Math.max(v, 0), size);
          const hs = clip(Math.floor(f32(ph * bh)) + y1, p.h), he = clip(Math.ceil(f32((ph + 1) * bh)) + y1, p.h);
          const ws = clip(Math.floor(f32(pw * bw)) + x1, p.w), we = clip(Math.ceil(f32((pw + 1) * bw)) + x1, p.w);
          const empty = he <= hs || we <= ws;
          let best = empty ? 0 : -3.4028234663852886e38;
          let at = -1;
          for (let ih = hs; ih < he; ih++) {
            for (let iw = ws; iw < we; iw++) {
              const v = xs[(bi! * p.c + ch) * p.h * p.w + ih * p.w + iw]!;
              if (v > best) { best = v; at = ih * p.w + iw; }
            }
          }
          out.push(best);
          argmax.push(at);
        }
      }
    }
  }
  return { out, argmax };
}

describe('wasm roiPool', () => {
  for (const [name, p] of CASES) {
    it(`forward and backward, ${name}`, () => {
      // Coarse values (ties: the first max wins) and boxes on half-pixels (rounding away from 0).
      const xs = Array.from({ length: p.n * p.c * p.h * p.w }, () => rng.int(-3, 4) * 0.5);
      const rois = randomRois(p.k, p.n, p.h, p.w, p.spatialScale).map((v, i) => (i % 5 === 0 ? v : f32(Math.round(v * 2 * p.spatialScale) / (2 * p.spatialScale))));
      const [x, r] = [upF32(b, xs), upF32(b, rois)];
      const size = p.k * p.c * p.pooledH * p.pooledW;
      const want = naivePool(xs, rois, p);
      const { out, argmax } = b.roiPool(x, r, p);
      expect(Array.from(takeF32(b, out, size))).toEqual(want.out);
      expect(Array.from(b.readSync(argmax, 'int32', size))).toEqual(want.argmax);
      const dys = Array.from({ length: size }, () => f32(rng.normal()));
      const dy = upF32(b, dys);
      const dx = new Array<number>(xs.length).fill(0);
      want.argmax.forEach((a, i) => {
        if (a < 0) return;
        const roi = Math.floor(i / (p.c * p.pooledH * p.pooledW));
        const ch = Math.floor(i / (p.pooledH * p.pooledW)) % p.c;
        const o = (rois[5 * roi]! * p.c + ch) * p.h * p.w + a;
        dx[o] = f32(dx[o]! + dys[i]!);
      });
      expect(Array.from(takeF32(b, b.roiPoolGrad(dy, argmax, r, p), xs.length))).toEqual(dx);
      takeI32(b, argmax, size);
      [x, r, dy].forEach((t) => b.free(t));
    });
  }

  it('leaves nothing allocated', () => {
    expect(b.memory()).toEqual({ bytes: 0, buffers: 0 });
  });
});
