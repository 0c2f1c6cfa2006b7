/**
 * References for the WebGPU kernel tests. The linear kernels (matmul, convolution, roi_align)
 * and max-pooling come from the float64 reference backend, which is itself checked against
 * PyTorch fixtures and finite differences; their error scale Σ|terms| per output is the same
 * kernel applied to |inputs| (every weight of these kernels is a product of inputs or a
 * non-negative bilinear weight).
 *
 * roi_pool, box IoU and NMS are written here instead, in float32 as torchvision computes them:
 * their float32-rounded bin edges and IoUs decide *which* element is picked, so the float64
 * reference backend can legitimately disagree with a float32 kernel on a tie at the edge.
 */
import type { Conv2dParams, Pool2dParams, RoiParams } from '../../src/engine/backend.js';
import { conv2d, conv2dGradFilter, conv2dGradInput, maxPool2d, maxPool2dGrad } from '../../src/backends/reference/conv.js';
import { matmul } from '../../src/backends/reference/linalg.js';
import { roiAlign, roiAlignGrad } from '../../src/backends/reference/roi.js';

export interface WithMag {
  out: Float64Array;
  /** Σ|terms| per output: the scale a float32 sum's rounding error is relative to. */
  mag: Float64Array;
}

const f64 = (a: ArrayLike<number>): Float64Array => Float64Array.from(a);
const abs64 = (a: ArrayLike<number>): Float64Array => Float64Array.from(a, Math.abs);

export function matmulRef(
  a: Float32Array, b: Float32Array, batchA: number, batchB: number, m: number, k: number, n: number, transA: boolean, transB: boolean,
): WithMag {
  const p = { batchA, batchB, m, k, n, transA, transB };
  return { out: matmul(f64(a), f64(b), p), mag: matmul(abs64(a), abs64(b), p) };
}

export function conv2dRef(x: Float32Array, w: Float32Array, bias: Float32Array | null, p: Conv2dParams): WithMag {
  return { out: conv2d(f64(x), f64(w), bias && f64(bias), p), mag: conv2d(abs64(x), abs64(w), bias && abs64(bias), p) };
}

export function conv2dGradInputRef(dy: Float32Array, w: Float32Array, p: Conv2dParams): WithMag {
  return { out: conv2dGradInput(f64(dy), f64(w), p), mag: conv2dGradInput(abs64(dy), abs64(w), p) };
}

export function conv2dGradFilterRef(x: Float32Array, dy: Float32Array, p: Conv2dParams): WithMag {
  return { out: conv2dGradFilter(f64(x), f64(dy), p), mag: conv2dGradFilter(abs64(x), abs64(dy), p) };
}

/** PyTorch CPU max_pool2d: −∞ padding, the last NaN else the first maximum. */
export function maxPoolRef(x: Float32Array, p: Pool2dParams): { out: Float64Array; argmax: Int32Array } {
  const r = maxPool2d(f64(x), p);
  return { out: r.out, argmax: Int32Array.from(r.argmax) };
}

export function maxPoolGradRef(dy: Float32Array, argmax: Int32Array, p: Pool2dParams): Float64Array {
  return maxPool2dGrad(f64(dy), f64(argmax), p);
}

export function roiAlignRef(x: Float32Array, rois: Float32Array, p: RoiParams): WithMag {
  return { out: roiAlign(f64(x), f64(rois), p), mag: roiAlign(abs64(x), f64(rois), p) };
}

export function roiAlignGradRef(dy: Float32Array, rois: Float32Array, p: RoiParams): WithMag {
  return { out: roiAlignGrad(f64(dy), f64(rois), p), mag: roiAlignGrad(abs64(dy), f64(rois), p) };
}

const f = Math.fround;

/** C's round on a float: half away from zero. */
function roundAway(v: number): number {
  return Math.sign(v) * Math.floor(Math.abs(v) + 0.5);
}

/** torchvision roi_pool with its float32 arithmetic. */
export function roiPoolRef(x: Float32Array, rois: Float32Array, p: RoiParams): { out: Float64Array; argmax: Int32Array } {
  const out = new Float64Array(p.k * p.c * p.pooledH * p.pooledW);
  const argmax = new Int32Array(out.length);
  const scale = f(p.spatialScale);
  for (let k = 0; k < p.k; k++) {
    const r = rois.subarray(k * 5, k * 5 + 5);
    const b = Math.trunc(r[0]!);
    const sw = roundAway(f(r[1]! * scale));
    const sh = roundAway(f(r[2]! * scale));
    const ew = roundAway(f(r[3]! * scale));
    const eh = roundAway(f(r[4]! * scale));
    const binH = f(Math.max(eh - sh + 1, 1) / p.pooledH);
    const binW = f(Math.max(ew - sw + 1, 1) / p.pooledW);
    for (let c = 0; c < p.c; c++) {
      for (let ph = 0; ph < p.pooledH; ph++) {
        for (let pw = 0; pw < p.pooledW; pw++) {
          const clip = (v: number, n: number) => Math.min(Math.max(v, 0), n);
          const hs = clip(Math.floor(f(ph * binH)) + sh, p.h);
          const he = clip(Math.ceil(f((ph + 1) * binH)) + sh, p.h);
          const ws = clip(Math.floor(f(pw * binW)) + sw, p.w);
          const we = clip(Math.ceil(f((pw + 1) * binW)) + sw, p.w);
          const empty = he <= hs || we <= ws;
          let best = empty ? 0 : -3.4028234663852886e38;
          let bi = -1;
          for (let y = hs; y < he; y++) {
            for (let xx = ws; xx < we; xx++) {
              const v = x[((b * p.c + c) * p.h + y) * p.w + xx]!;
              if (v > best) {
                best = v;
                bi = y * p.w + xx;
              }
            }
          }
          const o = ((k * p.c + c) * p.pooledH + ph) * p.pooledW + pw;
          out[o] = best;
          argmax[o] = bi;
        }
      }
    }
  }
  return { out, argmax };
}

export function roiPoolGradRef(dy: Float32Array, argmax: Int32Array, rois: Float32Array, p: RoiParams): Float64Array {
  const dx = new Float64Array(p.n * p.c * p.h * p.w);
  const plane = p.pooledH * p.pooledW;
  for (let o = 0; o < dy.length; o++) {
    if (argmax[o]! < 0) continue;
    const k = Math.floor(o / (plane * p.c));
    const c = Math.floor(o / plane) % p.c;
    const b = Math.trunc(rois[k * 5]!);
    dx[(b * p.c + c) * p.h * p.w + argmax[o]!]! += dy[o]!;
  }
  return dx;
}

export function boxIouRef(a: Float32Array, b: Float32Array): Float64Array {
  const na = a.length / 4;
  const nb = b.length / 4;
  const out = new Float64Array(na * nb);
  for (let i = 0; i < na; i++) {
    for (let j = 0; j < nb; j++) {
      const w = Math.max(0, Math.min(a[i * 4 + 2]!, b[j * 4 + 2]!) - Math.max(a[i * 4]!, b[j * 4]!));
      const h = Math.max(0, Math.min(a[i * 4 + 3]!, b[j * 4 + 3]!) - Math.max(a[i * 4 + 1]!, b[j * 4 + 1]!));
      const areaA = (a[i * 4 + 2]! - a[i * 4]!) * (a[i * 4 + 3]! - a[i * 4 + 1]!);
      const areaB = (b[j * 4 + 2]! - b[j * 4]!) * (b[j * 4 + 3]! - b[j * 4 + 1]!);
      out[i * nb + j] = (w * h) / (areaA + areaB - w * h);
    }
  }
  return out;
}

/** torchvision.ops.nms (CPU): float32 IoU against the threshold; score ties to the lower index. */
export function nmsRef(boxes: Float32Array, scores: Float32Array, thr: number): number[] {
  const n = scores.length;
  const order = [...Array(n).keys()].sort((i, j) => scores[j]! - scores[i]! || i - j);
  const area = (i: number) => f(f(boxes[i * 4 + 2]! - boxes[i * 4]!) * f(boxes[i * 4 + 3]! - boxes[i * 4 + 1]!));
  const removed = new Uint8Array(n);
  const keep: number[] = [];
  for (let a = 0; a < n; a++) {
    const i = order[a]!;
    if (removed[i]) continue;
    keep.push(i);
    for (let c = a + 1; c < n; c++) {
      const j = order[c]!;
      const w = Math.max(0, f(Math.min(boxes[i * 4 + 2]!, boxes[j * 4 + 2]!) - Math.max(boxes[i * 4]!, boxes[j * 4]!)));
      const h = Math.max(0, f(Math.min(boxes[i * 4 + 3]!, boxes[j * 4 + 3]!) - Math.max(boxes[i * 4 + 1]!, boxes[j * 4 + 1]!)));
      const inter = f(w * h);
      if (f(inter / f(f(area(i) + area(j)) - inter)) > thr) removed[j] = 1;
    }
  }
  return keep;
}
