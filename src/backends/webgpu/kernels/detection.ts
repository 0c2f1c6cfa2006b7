import type { RoiParams } from '../../../engine/backend.js';
import type { GpuBuffer, GpuContext } from '../context.js';
import { kernel } from '../modules.js';
import { grid1, nextPow2, Params } from '../params.js';

const WG = 256;

const K = {
  geom: kernel('roi_align', 'roi_geom', 'urww'),
  align: kernel('roi_align', 'roi_align', 'urrwr'),
  alignGrad: kernel('roi_align', 'roi_align_grad', 'urrwr'),
  pool: kernel('roi_pool', 'roi_pool', 'urrww'),
  poolGrad: kernel('roi_pool', 'roi_pool_grad', 'urrrw'),
  iou: kernel('boxes', 'box_iou', 'urrw'),
  rank: kernel('boxes', 'nms_rank', 'urw'),
  mask: kernel('boxes', 'nms_mask', 'urrw'),
  select: kernel('boxes', 'nms_select', 'urrw'),
};

/** Sample-table entries per ROI (see shaders/roi_align.wgsl): only with a fixed sampling ratio. */
function tableSize(p: RoiParams): number {
  return p.samplingRatio > 0 ? (p.pooledH + p.pooledW) * Math.floor(p.samplingRatio) : 0;
}

/** log2 of the samples per bin where that is a fixed power of two, else −1 (roi_align.wgsl's COUNT_SHIFT). */
function countShift(p: RoiParams): number {
  const s = p.samplingRatio > 0 ? Math.floor(p.samplingRatio) : 0;
  return s > 0 && s <= 1024 && (s & (s - 1)) === 0 ? 2 * Math.log2(s) : -1;
}

function alignParams(size: number, p: RoiParams): Params {
  return new Params()
    .u32(size, p.c, p.h, p.w, p.k, p.pooledH, p.pooledW)
    .i32(p.samplingRatio > 0 ? Math.floor(p.samplingRatio) : 0)
    .f32(p.spatialScale)
    .u32(p.aligned ? 1 : 0, p.n, tableSize(p));
}

function poolParams(size: number, p: RoiParams): Params {
  return new Params().u32(size, p.c, p.h, p.w, p.k, p.pooledH, p.pooledW, p.n).f32(p.spatialScale).u32(0, 0, 0);
}

/**
 * Each ROI's bins, sample grid and reach (the Geom struct of roi_align.wgsl, 48 bytes) and its sample
 * table (16 bytes an entry). A binding holds at least one entry, unwritten where there is none.
 */
function roiGeometry(ctx: GpuContext, rois: GpuBuffer, p: RoiParams): { geoms: GpuBuffer; samples: GpuBuffer; free(): void } {
  const geoms = ctx.alloc(Math.max(1, p.k) * 48);
  const samples = ctx.alloc(Math.max(1, p.k * tableSize(p)) * 16);
  ctx.run(K.geom, { WG }, alignParams(0, p), [rois, geoms, samples], grid1(p.k, WG));
  return { geoms, samples, free: () => [geoms, samples].forEach((b) => ctx.free(b)) };
}

export function roiAlign(ctx: GpuContext, x: GpuBuffer, rois: GpuBuffer, p: RoiParams): GpuBuffer {
  const size = p.k * p.c * p.pooledH * p.pooledW;
  const out = ctx.alloc(size * 4);
  if (size === 0) return out;
  const g = roiGeometry(ctx, rois, p);
  ctx.run(K.align, { WG, COUNT_SHIFT: countShift(p) }, alignParams(size, p), [x, g.geoms, out, g.samples], grid1(size, WG));
  g.free();
  return out;
}

/** Gather formulation (see shaders/roi_align.wgsl): one invocation per input element. */
export function roiAlignGrad(ctx: GpuContext, dy: GpuBuffer, rois: GpuBuffer, p: RoiParams): GpuBuffer {
  const size = p.n * p.c * p.h * p.w;
  const dx = ctx.alloc(size * 4);
  if (size === 0) return dx;
  const g = roiGeometry(ctx, rois, p);
  const constants = { WG, COUNT_SHIFT: countShift(p), C_FASTEST: ctx.cpuEmulated ? 1 : 0 };
  ctx.run(K.alignGrad, constants, alignParams(size, p), [dy, g.geoms, dx, g.samples], grid1(size, WG));
  g.free();
  return dx;
}

export function roiPool(ctx: GpuContext, x: GpuBuffer, rois: GpuBuffer, p: RoiParams): { out: GpuBuffer; argmax: GpuBuffer } {
  const size = p.k * p.c * p.pooledH * p.pooledW;
  const out = ctx.alloc(size * 4);
  const argmax = ctx.alloc(size * 4);
  ctx.run(K.pool, { WG }, poolParams(size, p), [x, rois, out, argmax], grid1(size, WG));
  return { out, argmax };
}

export function roiPoolGrad(ctx: GpuContext, dy: GpuBuffer, argmax: GpuBuffer, rois: GpuBuffer, p: RoiParams): GpuBuffer {
  const size = p.n * p.c * p.h * p.w;
  const dx = ctx.alloc(size * 4);
  ctx.run(K.poolGrad, { WG }, poolParams(size, p), [dy, rois, argmax, dx], grid1(size, WG));
  return dx;
}

export function boxIou(ctx: GpuContext, a: GpuBuffer, na: number, b: GpuBuffer, nb: number): GpuBuffer {
  const out = ctx.alloc(na * nb * 4);
  ctx.run(K.iou, { WG }, new Params().u32(na, nb, na * nb).f32(0), [a, b, out], grid1(na * nb, WG));
  return out;
}

/**
 * Above this many boxes the suppression bitmask (n²/8 bytes) and the single-workgroup walk
 * stop paying; such calls run greedily on the host instead (boxes and scores are read back).
 */
export const GPU_NMS_MAX = 16384;

export async function nms(ctx: GpuContext, boxes: GpuBuffer, scores: GpuBuffer, n: number, iouThreshold: number): Promise<Int32Array> {
  if (n === 0) return new Int32Array(0);
  if (n > GPU_NMS_MAX) return nmsHost(ctx, boxes, scores, n, iouThreshold);
  const words = Math.ceil(n / 32);
  const p = new Params().u32(n, n, n).f32(f32AtOrBelow(iouThreshold));
  const order = ctx.alloc(n * 4);
  const mask = ctx.alloc(n * words * 4);
  const keep = ctx.alloc((n + 1) * 4);
  try {
    ctx.run(K.rank, {}, p, [scores, order], [Math.ceil(n / 256), 1, 1]);
    ctx.run(K.mask, { WG }, p, [boxes, order, mask], grid1(n * words, WG));
    ctx.run(K.select, { WORDS: nextPow2(words) }, p, [mask, order, keep], [1, 1, 1]);
    const r = (await ctx.read(keep, 'int32', n + 1, 'nms')) as Int32Array;
    return r.slice(1, 1 + r[0]!);
  } finally {
    for (const b of [order, mask, keep]) ctx.free(b);
  }
}

/**
 * torchvision compares the float32 IoU with the threshold in double precision. For a float32 v,
 * v > t exactly when v > (the largest float32 ≤ t), which is what the shader gets.
 */
function f32AtOrBelow(t: number): number {
  const f = Math.fround(t);
  if (f <= t || !Number.isFinite(f)) return f;
  const v = new DataView(new ArrayBuffer(4));
  v.setFloat32(0, f);
  const bits = v.getUint32(0);
  v.setUint32(0, f > 0 ? bits - 1 : f === 0 ? 0x80000001 : bits + 1);
  return v.getFloat32(0);
}

/** torchvision's greedy NMS on the host, for inputs too large for the device path. */
async function nmsHost(ctx: GpuContext, boxes: GpuBuffer, scores: GpuBuffer, n: number, thr: number): Promise<Int32Array> {
  const b = (await ctx.read(boxes, 'float32', n * 4, 'nms')) as Float32Array;
  const s = (await ctx.read(scores, 'float32', n, 'nms')) as Float32Array;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => (s[j]! > s[i]! ? 1 : s[j]! < s[i]! ? -1 : i - j));
  const area = (i: number) => Math.fround((b[i * 4 + 2]! - b[i * 4]!) * (b[i * 4 + 3]! - b[i * 4 + 1]!));
  const removed = new Uint8Array(n);
  const keep: number[] = [];
  for (let a = 0; a < n; a++) {
    const i = order[a]!;
    if (removed[i]) continue;
    keep.push(i);
    const ai = area(i);
    for (let c = a + 1; c < n; c++) {
      const j = order[c]!;
      if (removed[j]) continue;
      const w = Math.max(0, Math.fround(Math.min(b[i * 4 + 2]!, b[j * 4 + 2]!) - Math.max(b[i * 4]!, b[j * 4]!)));
      const h = Math.max(0, Math.fround(Math.min(b[i * 4 + 3]!, b[j * 4 + 3]!) - Math.max(b[i * 4 + 1]!, b[j * 4 + 1]!)));
      const inter = Math.fround(w * h);
      if (Math.fround(inter / Math.fround(Math.fround(ai + area(j)) - inter)) > thr) removed[j] = 1;
    }
  }
  return Int32Array.from(keep);
}
