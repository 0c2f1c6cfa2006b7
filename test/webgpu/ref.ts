/**
 * Naive float64 references for the kernel tests, written from the PyTorch / torchvision
 * definitions and independently of the shaders: the backward passes here scatter (as the
 * libraries do) where the shaders gather. Quantities that torchvision computes in float32 and
 * then quantises (roi_pool's bin edges, NMS's IoU) are rounded with Math.fround the same way,
 * since a different rounding there changes which element is picked, not just the last bits.
 */
import type { Conv2dParams, Pool2dParams, RoiParams } from '../../src/engine/backend.js';

export interface WithMag {
  out: Float64Array;
  /** Σ|terms| per output: the scale a float32 sum's rounding error is relative to. */
  mag: Float64Array;
}

export function matmulRef(
  a: Float32Array, b: Float32Array, batchA: number, batchB: number, m: number, k: number, n: number, transA: boolean, transB: boolean,
): WithMag {
  const batch = Math.max(batchA, batchB);
  const out = new Float64Array(batch * m * n);
  const mag = new Float64Array(batch * m * n);
  for (let z = 0; z < batch; z++) {
    const ab = batchA === 1 ? 0 : z * m * k;
    const bb = batchB === 1 ? 0 : z * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        let g = 0;
        for (let q = 0; q < k; q++) {
          const av = a[ab + (transA ? q * m + i : i * k + q)]!;
          const bv = b[bb + (transB ? j * k + q : q * n + j)]!;
          s += av * bv;
          g += Math.abs(av * bv);
        }
        out[(z * m + i) * n + j] = s;
        mag[(z * m + i) * n + j] = g;
      }
    }
  }
  return { out, mag };
}

/** Calls f(img, co, oy, ox, ci, iy, ix, ky, kx) for every in-bounds tap of the convolution. */
function convTaps(p: Conv2dParams, f: (o: number, xi: number, wi: number) => void): void {
  const cpg = p.cIn / p.groups;
  const copg = p.cOut / p.groups;
  for (let img = 0; img < p.n; img++) {
    for (let co = 0; co < p.cOut; co++) {
      const g = Math.floor(co / copg);
      for (let oy = 0; oy < p.outH; oy++) {
        for (let ox = 0; ox < p.outW; ox++) {
          const o = ((img * p.cOut + co) * p.outH + oy) * p.outW + ox;
          for (let c = 0; c < cpg; c++) {
            const ci = g * cpg + c;
            for (let ky = 0; ky < p.kh; ky++) {
              const iy = oy * p.strideH - p.padH + ky * p.dilationH;
              if (iy < 0 || iy >= p.h) continue;
              for (let kx = 0; kx < p.kw; kx++) {
                const ix = ox * p.strideW - p.padW + kx * p.dilationW;
                if (ix < 0 || ix >= p.w) continue;
                f(o, ((img * p.cIn + ci) * p.h + iy) * p.w + ix, ((co * cpg + c) * p.kh + ky) * p.kw + kx);
              }
            }
          }
        }
      }
    }
  }
}

export function conv2dRef(x: Float32Array, w: Float32Array, bias: Float32Array | null, p: Conv2dParams): WithMag {
  const size = p.n * p.cOut * p.outH * p.outW;
  const out = new Float64Array(size);
  const mag = new Float64Array(size);
  if (bias) {
    for (let o = 0; o < size; o++) {
      const co = Math.floor(o / (p.outH * p.outW)) % p.cOut;
      out[o] = bias[co]!;
      mag[o] = Math.abs(bias[co]!);
    }
  }
  convTaps(p, (o, xi, wi) => {
    out[o]! += x[xi]! * w[wi]!;
    mag[o]! += Math.abs(x[xi]! * w[wi]!);
  });
  return { out, mag };
}

export function conv2dGradInputRef(dy: Float32Array, w: Float32Array, p: Conv2dParams): WithMag {
  const out = new Float64Array(p.n * p.cIn * p.h * p.w);
  const mag = new Float64Array(out.length);
  convTaps(p, (o, xi, wi) => {
    out[xi]! += dy[o]! * w[wi]!;
    mag[xi]! += Math.abs(dy[o]! * w[wi]!);
  });
  return { out, mag };
}

export function conv2dGradFilterRef(x: Float32Array, dy: Float32Array, p: Conv2dParams): WithMag {
  const out = new Float64Array(p.cOut * (p.cIn / p.groups) * p.kh * p.kw);
  const mag = new Float64Array(out.length);
  convTaps(p, (o, xi, wi) => {
    out[wi]! += dy[o]! * x[xi]!;
    mag[wi]! += Math.abs(dy[o]! * x[xi]!);
  });
  return { out, mag };
}

/** PyTorch CPU max_pool2d: −∞ padding, the last NaN else the first maximum. */
export function maxPoolRef(x: Float32Array, p: Pool2dParams): { out: Float64Array; argmax: Int32Array } {
  const size = p.n * p.c * p.outH * p.outW;
  const out = new Float64Array(size);
  const argmax = new Int32Array(size);
  for (let pl = 0; pl < p.n * p.c; pl++) {
    for (let oy = 0; oy < p.outH; oy++) {
      for (let ox = 0; ox < p.outW; ox++) {
        const ys = oy * p.strideH - p.padH;
        const xs = ox * p.strideW - p.padW;
        const ye = Math.min(ys + p.kh, p.h);
        const xe = Math.min(xs + p.kw, p.w);
        const y0 = Math.max(ys, 0);
        const x0 = Math.max(xs, 0);
        let best = -Infinity;
        let bi = y0 * p.w + x0;
        for (let y = y0; y < ye; y++) {
          for (let xx = x0; xx < xe; xx++) {
            const v = x[pl * p.h * p.w + y * p.w + xx]!;
            if (v > best || Number.isNaN(v)) {
              best = v;
              bi = y * p.w + xx;
            }
          }
        }
        const o = (pl * p.outH + oy) * p.outW + ox;
        out[o] = best;
        argmax[o] = bi;
      }
    }
  }
  return { out, argmax };
}

export function maxPoolGradRef(dy: Float32Array, argmax: Int32Array, p: Pool2dParams): Float64Array {
  const dx = new Float64Array(p.n * p.c * p.h * p.w);
  const plane = p.outH * p.outW;
  for (let o = 0; o < dy.length; o++) dx[Math.floor(o / plane) * p.h * p.w + argmax[o]!]! += dy[o]!;
  return dx;
}

interface AlignGeom {
  batch: number;
  startH: number;
  startW: number;
  binH: number;
  binW: number;
  gridH: number;
  gridW: number;
  count: number;
}

function alignGeom(rois: Float32Array, k: number, p: RoiParams): AlignGeom {
  const off = p.aligned ? 0.5 : 0;
  const r = rois.subarray(k * 5, k * 5 + 5);
  const startW = r[1]! * p.spatialScale - off;
  const startH = r[2]! * p.spatialScale - off;
  let rw = r[3]! * p.spatialScale - off - startW;
  let rh = r[4]! * p.spatialScale - off - startH;
  if (!p.aligned) {
    rw = Math.max(rw, 1);
    rh = Math.max(rh, 1);
  }
  const gridH = p.samplingRatio > 0 ? p.samplingRatio : Math.ceil(rh / p.pooledH);
  const gridW = p.samplingRatio > 0 ? p.samplingRatio : Math.ceil(rw / p.pooledW);
  return { batch: Math.trunc(r[0]!), startH, startW, binH: rh / p.pooledH, binW: rw / p.pooledW, gridH, gridW, count: Math.max(gridH * gridW, 1) };
}

/** torchvision's bilinear_interpolate corners and weights, or null outside [−1, size]. */
function bilinear(y: number, x: number, h: number, w: number): [number, number, number][] | null {
  if (y < -1 || y > h || x < -1 || x > w) return null;
  y = Math.max(y, 0);
  x = Math.max(x, 0);
  let yl = Math.floor(y);
  let xl = Math.floor(x);
  let yh: number;
  let xh: number;
  if (yl >= h - 1) {
    yh = yl = h - 1;
    y = yl;
  } else yh = yl + 1;
  if (xl >= w - 1) {
    xh = xl = w - 1;
    x = xl;
  } else xh = xl + 1;
  const ly = y - yl;
  const lx = x - xl;
  const hy = 1 - ly;
  const hx = 1 - lx;
  return [[yl, xl, hy * hx], [yl, xh, hy * lx], [yh, xl, ly * hx], [yh, xh, ly * lx]];
}

/** Visit every (output index, input index, weight / count) of roi_align. */
function alignTaps(rois: Float32Array, p: RoiParams, f: (o: number, xi: number, wt: number) => void): void {
  for (let k = 0; k < p.k; k++) {
    const g = alignGeom(rois, k, p);
    for (let c = 0; c < p.c; c++) {
      for (let ph = 0; ph < p.pooledH; ph++) {
        for (let pw = 0; pw < p.pooledW; pw++) {
          const o = ((k * p.c + c) * p.pooledH + ph) * p.pooledW + pw;
          for (let iy = 0; iy < g.gridH; iy++) {
            const y = g.startH + ph * g.binH + ((iy + 0.5) * g.binH) / g.gridH;
            for (let ix = 0; ix < g.gridW; ix++) {
              const x = g.startW + pw * g.binW + ((ix + 0.5) * g.binW) / g.gridW;
              const corners = bilinear(y, x, p.h, p.w);
              if (!corners) continue;
              for (const [yy, xx, wt] of corners) f(o, ((g.batch * p.c + c) * p.h + yy) * p.w + xx, wt / g.count);
            }
          }
        }
      }
    }
  }
}

export function roiAlignRef(x: Float32Array, rois: Float32Array, p: RoiParams): WithMag {
  const out = new Float64Array(p.k * p.c * p.pooledH * p.pooledW);
  const mag = new Float64Array(out.length);
  alignTaps(rois, p, (o, xi, wt) => {
    out[o]! += wt * x[xi]!;
    mag[o]! += Math.abs(wt * x[xi]!);
  });
  return { out, mag };
}

export function roiAlignGradRef(dy: Float32Array, rois: Float32Array, p: RoiParams): WithMag {
  const out = new Float64Array(p.n * p.c * p.h * p.w);
  const mag = new Float64Array(out.length);
  alignTaps(rois, p, (o, xi, wt) => {
    out[xi]! += wt * dy[o]!;
    mag[xi]! += Math.abs(wt * dy[o]!);
  });
  return { out, mag };
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
