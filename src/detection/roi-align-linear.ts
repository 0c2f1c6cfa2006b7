import type { RoiParams } from '../engine/backend.js';
import { check, fmtShape } from '../engine/errors.js';
import { matmul } from '../engine/ops/linalg.js';
import { reshape, transpose } from '../engine/ops/layout.js';
import { CsrMatrix, sparseMatmul } from '../engine/ops/sparse.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';

// RoIAlign followed by a fully connected layer, computed in the other order when that is cheaper.
//
// The box head's fc6 reads the pooled features of every ROI: y_k = W · vec(RoIAlign_k(F)), and
// RoIAlign is linear in F with weights fixed by the boxes: RoIAlign_k(F)[c, bin] = Σ_pixel
// A_k[bin, pixel] · F[c, pixel]. So y_k[o] = Σ_bin Σ_pixel A_k[bin, pixel] · G[pixel, bin, o] with
// G[pixel, bin, o] = Σ_c F[c, pixel] · W[o, c, bin]: one GEMM over the map's pixels instead of one
// over the ROIs, then a sparse sum (each bin reads at most 16 pixels). With 1024 ROIs on a 10×10
// map (MobileNetV3-FPN-320 in training) that is 200 rows instead of 1024 for the GEMM that
// dominates the step, forward and in both gradients. Same sums in another order: equal to the
// direct path up to float32 rounding. The boxes carry no gradient, as in torchvision (proposals
// are detached).

/** What the sparse form needs of one pooling: the map and roi_align's settings. */
export type RoiAlignGeometry = Pick<RoiParams, 'n' | 'h' | 'w' | 'pooledH' | 'pooledW' | 'spatialScale' | 'samplingRatio' | 'aligned'>;

const f = Math.fround;

/**
 * One axis of a ROI, as assembly/roi.ts plans it: for each of `pooled` bins, up to `cap` distinct
 * (pixel, Σ weight) entries of its samples, written to index/weight at bin·cap, counts in `count`.
 */
function planAxis(
  start: number, binSize: number, grid: number, pooled: number, size: number, cap: number,
  index: Int32Array, weight: Float32Array, count: Int32Array,
): void {
  for (let b = 0; b < pooled; b++) {
    const base = b * cap;
    let n = 0;
    for (let s = 0; s < grid; s++) {
      // torchvision's float32 expression, step by step, so the same pixels are picked.
      const pos = f(f(start + f(b * binSize)) + f(f(f(s + 0.5) * binSize) / grid));
      if (pos < -1 || pos > size) continue;
      let v = pos <= 0 ? 0 : pos;
      let lo = Math.trunc(v);
      let hi = lo + 1;
      if (lo >= size - 1) {
        lo = hi = size - 1;
        v = lo;
      }
      const l = f(v - lo);
      n = addEntry(index, weight, base, n, lo, f(1 - l));
      n = addEntry(index, weight, base, n, hi, l);
    }
    count[b] = n;
  }
}

/** Adds `w` to pixel's entry among the n at `base` (or appends one); returns the new count. */
function addEntry(index: Int32Array, weight: Float32Array, base: number, n: number, pixel: number, w: number): number {
  for (let e = base; e < base + n; e++) {
    if (index[e] === pixel) {
      weight[e] = f(weight[e]! + w);
      return n;
    }
  }
  index[base + n] = pixel;
  weight[base + n] = w;
  return n + 1;
}

/** Per-axis plan storage, grown as ROIs need it. */
class AxisPlan {
  index = new Int32Array(0);
  weight = new Float32Array(0);
  count = new Int32Array(0);

  fit(pooled: number, cap: number): this {
    if (this.index.length < pooled * cap) {
      this.index = new Int32Array(pooled * cap);
      this.weight = new Float32Array(pooled * cap);
    }
    if (this.count.length < pooled) this.count = new Int32Array(pooled);
    return this;
  }
}

/**
 * RoIAlign as a sparse matrix: row k is ROI k; column (image·h·w + pixel)·bins + bin holds the
 * weight of that pixel in that bin (the bilinear weights of its samples, over their count).
 * `rois`: [K, 5] rows (image, x1, y1, x2, y2), image indices in [0, n).
 */
export function roiAlignMatrix(rois: Float32Array, g: RoiAlignGeometry): CsrMatrix {
  const k = rois.length / 5;
  const bins = g.pooledH * g.pooledW;
  const hw = g.h * g.w;
  const rowPtr = new Int32Array(k + 1);
  let cols = new Int32Array(Math.max(16, k * bins * 9));
  let vals = new Float32Array(cols.length);
  let nnz = 0;
  const offset = g.aligned ? 0.5 : 0;
  const scale = f(g.spatialScale);
  const yPlan = new AxisPlan();
  const xPlan = new AxisPlan();
  for (let r = 0; r < k; r++) {
    const image = rois[5 * r]!;
    check(Number.isInteger(image) && image >= 0 && image < g.n, 'roiAlignLinear', () => `rois[${r}] has batch index ${image}, not in [0, ${g.n})`);
    const startW = f(f(rois[5 * r + 1]! * scale) - offset);
    const startH = f(f(rois[5 * r + 2]! * scale) - offset);
    let roiW = f(f(f(rois[5 * r + 3]! * scale) - offset) - startW);
    let roiH = f(f(f(rois[5 * r + 4]! * scale) - offset) - startH);
    if (!g.aligned) {
      roiW = Math.max(roiW, 1);
      roiH = Math.max(roiH, 1);
    }
    const binH = f(roiH / g.pooledH);
    const binW = f(roiW / g.pooledW);
    const gridH = g.samplingRatio > 0 ? g.samplingRatio : Math.ceil(f(roiH / g.pooledH));
    const gridW = g.samplingRatio > 0 ? g.samplingRatio : Math.ceil(f(roiW / g.pooledW));
    const countDiv = Math.max(gridH * gridW, 1);
    // Distinct pixels per bin and axis: two per sample, and never more than the axis has.
    const capH = Math.max(1, Math.min(2 * gridH, g.h));
    const capW = Math.max(1, Math.min(2 * gridW, g.w));
    const ys = yPlan.fit(g.pooledH, capH);
    const xs = xPlan.fit(g.pooledW, capW);
    planAxis(startH, binH, gridH, g.pooledH, g.h, capH, ys.index, ys.weight, ys.count);
    planAxis(startW, binW, gridW, g.pooledW, g.w, capW, xs.index, xs.weight, xs.count);
    let need = 0;
    for (let py = 0; py < g.pooledH; py++) for (let px = 0; px < g.pooledW; px++) need += ys.count[py]! * xs.count[px]!;
    if (nnz + need > cols.length) {
      const grown = Math.max(2 * cols.length, nnz + need);
      cols = growInt(cols, grown);
      vals = growFloat(vals, grown);
    }
    const base = image * hw;
    for (let py = 0; py < g.pooledH; py++) {
      for (let px = 0; px < g.pooledW; px++) {
        const bin = py * g.pooledW + px;
        for (let a = py * capH; a < py * capH + ys.count[py]!; a++) {
          const rowBase = base + ys.index[a]! * g.w;
          const wy = ys.weight[a]!;
          for (let b = px * capW; b < px * capW + xs.count[px]!; b++) {
            cols[nnz] = (rowBase + xs.index[b]!) * bins + bin;
            vals[nnz++] = f(f(wy * xs.weight[b]!) / countDiv);
          }
        }
      }
    }
    rowPtr[r + 1] = nnz;
  }
  return new CsrMatrix(k, g.n * hw * bins, rowPtr, cols.slice(0, nnz), vals.slice(0, nnz));
}

function growInt(a: Int32Array, size: number): Int32Array<ArrayBuffer> {
  const b = new Int32Array(size);
  b.set(a);
  return b;
}

function growFloat(a: Float32Array, size: number): Float32Array<ArrayBuffer> {
  const b = new Float32Array(size);
  b.set(a);
  return b;
}

/**
 * Whether the pixel-first order costs less than pooling then multiplying, in multiply-adds per
 * output feature: the GEMM over the map's pixels, the sparse sum (memory-bound: weighed 4×) and
 * the weight's reordering, against the GEMM over the ROIs. Asks for a clear margin (0.8).
 */
export function roiAlignLinearPays(rois: number, pixels: number, channels: number, bins: number, nnz: number): boolean {
  const fused = pixels * channels * bins + 4 * nnz + 4 * channels * bins;
  const direct = rois * channels * bins;
  return fused < 0.8 * direct;
}

/**
 * linear(flatten(roiAlign(feature, rois)), weight) without the bias: [K, O] for `feature` [N, C,
 * H, W] and `weight` [O, C·pooledH·pooledW] (nn.Linear's layout, the flatten's (c, bin) order),
 * through the map's pixels (see above). Gradients reach `feature` and `weight`.
 */
export function roiAlignLinear(feature: Tensor, matrix: CsrMatrix, weight: Tensor, pooled: readonly [number, number]): Tensor {
  const [n, c, h, w] = feature.shape as [number, number, number, number];
  const bins = pooled[0] * pooled[1];
  const o = weight.shape[0]!;
  check(weight.rank === 2 && weight.shape[1] === c * bins, 'roiAlignLinear', () =>
    `weight has shape ${fmtShape(weight.shape)}, expected [out, ${c}·${pooled[0]}·${pooled[1]} = ${c * bins}] for features ${fmtShape(feature.shape)}`);
  check(matrix.cols === n * h * w * bins, 'roiAlignLinear', () => `the RoIAlign matrix has ${matrix.cols} columns, expected ${n}·${h}·${w}·${bins}`);
  return scope(() => {
    // G[image·h·w + pixel, bin·O + o] = Σ_c F[image, c, pixel] · W[o, c, bin]: one GEMM over all
    // images' pixels (the map's channels first: a small copy), so W's gradient is one GEMM too.
    const wByBin = reshape(transpose(reshape(weight, [o, c, bins]), [1, 2, 0]), [c, bins * o]);
    const pixels = n === 1 ? reshape(feature, [c, h * w]) : reshape(transpose(feature, [1, 0, 2, 3]), [c, n * h * w]);
    const g = matmul(pixels, wByBin, { transA: true });
    return sparseMatmul(matrix, reshape(g, [n * h * w * bins, o]));
  });
}
