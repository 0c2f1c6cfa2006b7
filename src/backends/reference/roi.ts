import type { RoiParams } from '../../engine/backend.js';
import { refFail } from './buffer.js';

/** One bilinear sample: four taps (flat h×w indices) and their weights; null outside the map. */
interface Sample {
  taps: [number, number, number, number];
  weights: [number, number, number, number];
}

/**
 * torchvision's bilinear_interpolate (roi_align_kernel.cpp): a sample more than one pixel outside
 * the map contributes nothing; otherwise coordinates are clamped to [0, size−1] so that samples
 * in the border band read the edge pixel.
 */
function bilinear(h: number, w: number, y: number, x: number): Sample | null {
  if (y < -1 || y > h || x < -1 || x > w) return null;
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  let yLow = Math.floor(y);
  let xLow = Math.floor(x);
  let yHigh: number;
  let xHigh: number;
  if (yLow >= h - 1) {
    yHigh = yLow = h - 1;
    y = yLow;
  } else {
    yHigh = yLow + 1;
  }
  if (xLow >= w - 1) {
    xHigh = xLow = w - 1;
    x = xLow;
  } else {
    xHigh = xLow + 1;
  }
  const ly = y - yLow;
  const lx = x - xLow;
  const hy = 1 - ly;
  const hx = 1 - lx;
  return {
    taps: [yLow * w + xLow, yLow * w + xHigh, yHigh * w + xLow, yHigh * w + xHigh],
    weights: [hy * hx, hy * lx, ly * hx, ly * lx],
  };
}

function batchIndex(kernel: string, rois: Float64Array, k: number, n: number): number {
  const b = rois[k * 5]!;
  if (!(Number.isInteger(b) && b >= 0 && b < n)) refFail(kernel, `rois[${k}] has batch index ${b}, not in [0, ${n})`);
  return b;
}

/**
 * The samples of every bin of ROI k, in torchvision's order, with the divisor of the average:
 * bins of roi_size/pooled, a grid of sampling_ratio² points per bin (adaptive ceil(bin size) when
 * ≤ 0), `aligned` shifting by half a pixel, and the ROI stretched to at least 1×1 when not aligned.
 */
function alignBins(rois: Float64Array, k: number, p: RoiParams): { bins: (Sample | null)[][]; count: number } {
  const r = k * 5;
  const offset = p.aligned ? 0.5 : 0;
  const startW = rois[r + 1]! * p.spatialScale - offset;
  const startH = rois[r + 2]! * p.spatialScale - offset;
  const endW = rois[r + 3]! * p.spatialScale - offset;
  const endH = rois[r + 4]! * p.spatialScale - offset;
  let roiW = endW - startW;
  let roiH = endH - startH;
  if (!p.aligned) {
    roiW = Math.max(roiW, 1);
    roiH = Math.max(roiH, 1);
  }
  const binH = roiH / p.pooledH;
  const binW = roiW / p.pooledW;
  const gridH = p.samplingRatio > 0 ? p.samplingRatio : Math.ceil(roiH / p.pooledH);
  const gridW = p.samplingRatio > 0 ? p.samplingRatio : Math.ceil(roiW / p.pooledW);
  const count = Math.max(gridH * gridW, 1);
  const bins: (Sample | null)[][] = [];
  for (let py = 0; py < p.pooledH; py++) {
    for (let px = 0; px < p.pooledW; px++) {
      const samples: (Sample | null)[] = [];
      for (let iy = 0; iy < gridH; iy++) {
        const y = startH + py * binH + ((iy + 0.5) * binH) / gridH;
        for (let ix = 0; ix < gridW; ix++) {
          const x = startW + px * binW + ((ix + 0.5) * binW) / gridW;
          samples.push(bilinear(p.h, p.w, y, x));
        }
      }
      bins.push(samples);
    }
  }
  return { bins, count };
}

export function roiAlign(x: Float64Array, rois: Float64Array, p: RoiParams): Float64Array {
  const plane = p.h * p.w;
  const bins = p.pooledH * p.pooledW;
  const out = new Float64Array(p.k * p.c * bins);
  for (let k = 0; k < p.k; k++) {
    const b = batchIndex('roiAlign', rois, k, p.n);
    const { bins: samples, count } = alignBins(rois, k, p);
    for (let c = 0; c < p.c; c++) {
      const base = (b * p.c + c) * plane;
      for (let bin = 0; bin < bins; bin++) {
        let acc = 0;
        for (const s of samples[bin]!) {
          if (!s) continue;
          for (let t = 0; t < 4; t++) acc += s.weights[t]! * x[base + s.taps[t]!]!;
        }
        out[(k * p.c + c) * bins + bin] = acc / count;
      }
    }
  }
  return out;
}

export function roiAlignGrad(dy: Float64Array, rois: Float64Array, p: RoiParams): Float64Array {
  const plane = p.h * p.w;
  const bins = p.pooledH * p.pooledW;
  const dx = new Float64Array(p.n * p.c * plane);
  for (let k = 0; k < p.k; k++) {
    const b = batchIndex('roiAlignGrad', rois, k, p.n);
    const { bins: samples, count } = alignBins(rois, k, p);
    for (let c = 0; c < p.c; c++) {
      const base = (b * p.c + c) * plane;
      for (let bin = 0; bin < bins; bin++) {
        const g = dy[(k * p.c + c) * bins + bin]! / count;
        for (const s of samples[bin]!) {
          if (!s) continue;
          for (let t = 0; t < 4; t++) dx[base + s.taps[t]!]! += g * s.weights[t]!;
        }
      }
    }
  }
  return dx;
}

/** C's round(): halves away from zero (Math.round rounds −2.5 to −2). */
function roundHalfAway(v: number): number {
  return Math.sign(v) * Math.round(Math.abs(v));
}

const FLT_MAX = 3.4028234663852886e38;

/**
 * torchvision's roi_pool (roi_pool_kernel.cpp): corners rounded to the feature grid, the ROI
 * forced to at least 1×1, bin edges floor/ceil of multiples of roi_size/pooled clipped to the map.
 * An empty bin gives 0 with argmax −1; otherwise the running max starts at −FLT_MAX and only a
 * strictly greater value replaces it (first max wins; NaN never does).
 */
export function roiPool(x: Float64Array, rois: Float64Array, p: RoiParams): { out: Float64Array; argmax: Float64Array } {
  const plane = p.h * p.w;
  const bins = p.pooledH * p.pooledW;
  const out = new Float64Array(p.k * p.c * bins);
  const argmax = new Float64Array(p.k * p.c * bins);
  for (let k = 0; k < p.k; k++) {
    const b = batchIndex('roiPool', rois, k, p.n);
    const r = k * 5;
    const startW = roundHalfAway(rois[r + 1]! * p.spatialScale);
    const startH = roundHalfAway(rois[r + 2]! * p.spatialScale);
    const endW = roundHalfAway(rois[r + 3]! * p.spatialScale);
    const endH = roundHalfAway(rois[r + 4]! * p.spatialScale);
    const roiW = Math.max(endW - startW + 1, 1);
    const roiH = Math.max(endH - startH + 1, 1);
    const binH = roiH / p.pooledH;
    const binW = roiW / p.pooledW;
    const clip = (v: number, size: number) => Math.min(Math.max(v, 0), size);
    for (let py = 0; py < p.pooledH; py++) {
      const y0 = clip(Math.floor(py * binH) + startH, p.h);
      const y1 = clip(Math.ceil((py + 1) * binH) + startH, p.h);
      for (let px = 0; px < p.pooledW; px++) {
        const x0 = clip(Math.floor(px * binW) + startW, p.w);
        const x1 = clip(Math.ceil((px + 1) * binW) + startW, p.w);
        const empty = y1 <= y0 || x1 <= x0;
        for (let c = 0; c < p.c; c++) {
          const base = (b * p.c + c) * plane;
          let best = empty ? 0 : -FLT_MAX;
          let at = -1;
          for (let iy = y0; iy < y1; iy++) {
            for (let ix = x0; ix < x1; ix++) {
              const v = x[base + iy * p.w + ix]!;
              if (v > best) {
                best = v;
                at = iy * p.w + ix;
              }
            }
          }
          const o = (k * p.c + c) * bins + py * p.pooledW + px;
          out[o] = best;
          argmax[o] = at;
        }
      }
    }
  }
  return { out, argmax };
}

export function roiPoolGrad(dy: Float64Array, argmax: Float64Array, rois: Float64Array, p: RoiParams): Float64Array {
  const plane = p.h * p.w;
  const bins = p.pooledH * p.pooledW;
  const dx = new Float64Array(p.n * p.c * plane);
  for (let k = 0; k < p.k; k++) {
    const b = batchIndex('roiPoolGrad', rois, k, p.n);
    for (let c = 0; c < p.c; c++) {
      for (let bin = 0; bin < bins; bin++) {
        const o = (k * p.c + c) * bins + bin;
        const at = argmax[o]!;
        if (at >= 0) dx[(b * p.c + c) * plane + at]! += dy[o]!;
      }
    }
  }
  return dx;
}
