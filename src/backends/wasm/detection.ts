import type { RoiParams } from '../../engine/backend.js';
import { KdetError } from '../../engine/errors.js';
import { WasmContext } from './context.js';
import type { WasmBuffer } from './memory.js';
import { MIN_ELEMENTS_PER_PART, partsFor, ranges, runRanges } from './split.js';

// RoI kernels: see assembly/roi.ts for the algorithm. RoIAlign works on a channels-last copy of
// the feature map (and of its gradient) so that its inner loop runs over contiguous channels;
// the transposes cost O(map) while the sampling costs O(rois · bins · samples · channels).

const roiSize = (p: RoiParams) => p.k * p.c * p.pooledH * p.pooledW;
const mapSize = (p: RoiParams) => p.n * p.c * p.h * p.w;

/** Checks every ROI's batch index (the kernels index the map with it) and writes the parameters. */
function prepare(ctx: WasmContext, op: string, rois: unknown, p: RoiParams): { rois: number; params: number; cStride: number; planBytes: number } {
  const pr = ctx.ptr(op, 'rois', rois, p.k * 5);
  const f32 = ctx.heap.f32();
  for (let i = 0; i < p.k; i++) {
    const b = f32[(pr >>> 2) + 5 * i]!;
    if (!(b >= 0 && b < p.n)) throw new KdetError(op, `rois[${i}] has batch index ${b}, not in [0, ${p.n})`);
  }
  const cStride = Math.ceil(p.c / 4) * 4;
  // Entries of one bin's list (assembly/roi.ts): two per sample for a fixed ratio; with an
  // adaptive ratio, distinct rows (columns), which the map bounds.
  const capH = p.samplingRatio > 0 ? 2 * p.samplingRatio : p.h;
  const capW = p.samplingRatio > 0 ? 2 * p.samplingRatio : p.w;
  const params = ctx.writeParams([
    p.n, p.c, p.h, p.w, p.k, p.pooledH, p.pooledW, p.samplingRatio, p.aligned ? 1 : 0,
    WasmContext.f32Bits(p.spatialScale), cStride, capH, capW,
  ]);
  const planBytes = (p.pooledH * (1 + 2 * capH) + p.pooledW * (1 + 2 * capW)) * 4;
  return { rois: pr, params, cStride, planBytes };
}

/** Samples per output element of RoIAlign, roughly (the adaptive ratio is taken as 2×2). */
const samples = (p: RoiParams) => (p.samplingRatio > 0 ? p.samplingRatio * p.samplingRatio : 4) * 4;

/**
 * Runs a RoIAlign kernel (args: …, plan, cStart, cEnd in the last three slots) split over the
 * channels of the channels-last map in blocks of 32 (the kernel's widest step): each channel is
 * one part's, with every ROI in order, so the backward's accumulation order is the serial one.
 * Every thread plans the ROIs in its own scratch.
 */
function roiChannels(
  ctx: WasmContext, name: 'roiAlignForward' | 'roiAlignBackward', args: number[], planBytes: number, cStride: number, work: number,
): void {
  const rs = ranges(cStride, partsFor(ctx, work, MIN_ELEMENTS_PER_PART), 32);
  const first = args.length - 3;
  ctx.split(name, args, [first + 1, first + 2], rs, { slot: first, bytes: planBytes });
}

export function roiAlign(ctx: WasmContext, x: unknown, rois: unknown, p: RoiParams): WasmBuffer {
  const px = ctx.ptr('roiAlign', 'x', x, mapSize(p));
  const out = ctx.output(roiSize(p));
  return ctx.produce('roiAlign', out, () => {
    const { rois: pr, params, cStride, planBytes } = prepare(ctx, 'roiAlign', rois, p);
    if (roiSize(p) === 0) return;
    const hw = p.h * p.w;
    ctx.withScratch(p.n * hw * cStride * 4, (xT) => {
      ctx.wasm.transpose2d(px, xT, p.c, hw, hw, cStride, p.c * hw, hw * cStride, 0, p.n);
      roiChannels(ctx, 'roiAlignForward', [xT, pr, out.ptr, params, 0, 0, 0], planBytes, cStride, roiSize(p) * samples(p));
    });
  });
}

export function roiAlignGrad(ctx: WasmContext, dy: unknown, rois: unknown, p: RoiParams): WasmBuffer {
  const pdy = ctx.ptr('roiAlignGrad', 'dy', dy, roiSize(p));
  const out = ctx.output(mapSize(p));
  return ctx.produce('roiAlignGrad', out, () => {
    const { rois: pr, params, cStride, planBytes } = prepare(ctx, 'roiAlignGrad', rois, p);
    const hw = p.h * p.w;
    if (roiSize(p) === 0) {
      runRanges(ctx, 'fill32', [out.ptr, 0, 0, 0], 2, mapSize(p));
      return;
    }
    ctx.withScratch(p.n * hw * cStride * 4, (dxT) => {
      runRanges(ctx, 'fill32', [dxT, 0, 0, 0], 2, p.n * hw * cStride);
      roiChannels(ctx, 'roiAlignBackward', [pdy, pr, dxT, params, 0, 0, 0], planBytes, cStride, roiSize(p) * samples(p));
      ctx.wasm.transpose2d(dxT, out.ptr, hw, p.c, cStride, hw, hw * cStride, p.c * hw, 0, p.n);
    });
  });
}

export function roiPool(ctx: WasmContext, x: unknown, rois: unknown, p: RoiParams): { out: WasmBuffer; argmax: WasmBuffer } {
  const px = ctx.ptr('roiPool', 'x', x, mapSize(p));
  const out = ctx.output(roiSize(p));
  const argmax = ctx.output(roiSize(p));
  ctx.produce('roiPool', [out, argmax], () => {
    const { rois: pr, params } = prepare(ctx, 'roiPool', rois, p);
    runRanges(ctx, 'roiPoolForward', [px, pr, out.ptr, argmax.ptr, params, 0, 0], 5, p.c, p.k * p.pooledH * p.pooledW * 4, 1);
  });
  return { out, argmax };
}

export function roiPoolGrad(ctx: WasmContext, dy: unknown, argmax: unknown, rois: unknown, p: RoiParams): WasmBuffer {
  const pdy = ctx.ptr('roiPoolGrad', 'dy', dy, roiSize(p));
  const pa = ctx.ptr('roiPoolGrad', 'argmax', argmax, roiSize(p));
  const out = ctx.output(mapSize(p));
  return ctx.produce('roiPoolGrad', out, () => {
    const { rois: pr, params } = prepare(ctx, 'roiPoolGrad', rois, p);
    runRanges(ctx, 'fill32', [out.ptr, 0, 0, 0], 2, mapSize(p));
    runRanges(ctx, 'roiPoolBackward', [pdy, pa, pr, out.ptr, params, 0, 0], 5, p.c, p.k * p.pooledH * p.pooledW, 1);
  });
}

export function boxIou(ctx: WasmContext, a: unknown, na: number, b: unknown, nb: number): WasmBuffer {
  const pa = ctx.ptr('boxIou', 'a', a, na * 4);
  const pb = ctx.ptr('boxIou', 'b', b, nb * 4);
  const out = ctx.output(na * nb);
  return ctx.produce('boxIou', out, () => {
    if (na === 0 || nb === 0) return;
    const stride = Math.ceil(nb / 4) * 4;
    ctx.withScratch(5 * stride * 4, (planes) => {
      ctx.wasm.boxIouPrepare(pb, nb, planes, stride);
      ctx.wasm.boxIou(pa, planes, stride, nb, out.ptr, 0, na);
    });
  });
}

/** The largest float32 ≤ t: `ovr > t` in float64 (torchvision) ⇔ float32 ovr > this. */
export function float32Below(t: number): number {
  const f = Math.fround(t);
  if (!(f > t)) return f;
  // One ulp toward −∞ through the bit pattern: down for positive f, up in magnitude for −0 or
  // negative f (f > t excludes NaN and −∞).
  F32[0] = f;
  I32[0] = f > 0 ? I32[0]! - 1 : I32[0]! + 1;
  return F32[0]!;
}
const F32 = new Float32Array(1);
const I32 = new Int32Array(F32.buffer);

export function nms(ctx: WasmContext, boxes: unknown, scores: unknown, n: number, iouThreshold: number): Int32Array {
  const pb = ctx.ptr('nms', 'boxes', boxes, n * 4);
  const ps = ctx.ptr('nms', 'scores', scores, n);
  if (n === 0) return new Int32Array(0);
  // One scratch block, 16-byte aligned parts: order, merge buffer and kept indices (n i32 each),
  // the sorted boxes as five planes of `stride` floats, then `stride` suppression flags.
  const stride = Math.ceil(n / 4) * 4;
  const ints = Math.ceil((3 * n * 4) / 16) * 16;
  return ctx.withScratch(ints + 6 * stride * 4, (s) => {
    const [order, tmp, keep, planes] = [s, s + 4 * n, s + 8 * n, s + ints];
    const kept = ctx.wasm.nms(pb, ps, n, float32Below(iouThreshold), order, tmp, planes, stride, planes + 5 * stride * 4, keep);
    return ctx.heap.i32().slice(keep >>> 2, (keep >>> 2) + kept);
  });
}
