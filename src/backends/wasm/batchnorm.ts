import type { BatchNormParams } from '../../engine/backend.js';
import type { WasmContext } from './context.js';
import type { WasmBuffer } from './memory.js';
import { MIN_ELEMENTS_PER_PART, partsFor, ranges } from './split.js';

// Batch norm with the batch's statistics, fused (assembly/batchnorm.ts): each call is split over
// channels, every channel summed serially in float64 by one thread, so the result is the same for
// any thread count.

const HAS_WEIGHT = 1;
const HAS_BIAS = 2;

function channelRanges(ctx: WasmContext, p: BatchNormParams): [number, number][] {
  return ranges(p.c, partsFor(ctx, p.n * p.c * p.hw * 3, MIN_ELEMENTS_PER_PART));
}

export function batchNormTrain(ctx: WasmContext, x: unknown, weight: unknown, bias: unknown, p: BatchNormParams): { y: WasmBuffer; mean: WasmBuffer; variance: WasmBuffer } {
  const size = p.n * p.c * p.hw;
  const px = ctx.ptr('batchNormTrain', 'x', x, size);
  const pw = weight === null ? 0 : ctx.ptr('batchNormTrain', 'weight', weight, p.c);
  const pb = bias === null ? 0 : ctx.ptr('batchNormTrain', 'bias', bias, p.c);
  const y = ctx.output(size);
  const mean = ctx.output(p.c);
  const variance = ctx.output(p.c);
  const flags = (weight === null ? 0 : HAS_WEIGHT) | (bias === null ? 0 : HAS_BIAS);
  ctx.produce('batchNormTrain', [y, mean, variance], () => {
    // x y mean variance weight bias flags n c hw eps | start end
    ctx.split('batchNormForward', [px, y.ptr, mean.ptr, variance.ptr, pw, pb, flags, p.n, p.c, p.hw, p.eps, 0, 0], [11, 12], channelRanges(ctx, p));
  });
  return { y, mean, variance };
}

export function batchNormTrainGrad(
  ctx: WasmContext, dy: unknown, x: unknown, mean: unknown, variance: unknown, weight: unknown, p: BatchNormParams,
): { dx: WasmBuffer; dweight: WasmBuffer; dbias: WasmBuffer } {
  const size = p.n * p.c * p.hw;
  const pdy = ctx.ptr('batchNormTrainGrad', 'dy', dy, size);
  const px = ctx.ptr('batchNormTrainGrad', 'x', x, size);
  const pm = ctx.ptr('batchNormTrainGrad', 'mean', mean, p.c);
  const pv = ctx.ptr('batchNormTrainGrad', 'variance', variance, p.c);
  const pw = weight === null ? 0 : ctx.ptr('batchNormTrainGrad', 'weight', weight, p.c);
  const dx = ctx.output(size);
  const dweight = ctx.output(p.c);
  const dbias = ctx.output(p.c);
  const flags = weight === null ? 0 : HAS_WEIGHT;
  ctx.produce('batchNormTrainGrad', [dx, dweight, dbias], () => {
    // dy x mean variance weight dx dweight dbias flags n c hw eps sums | start end
    ctx.split('batchNormBackward', [pdy, px, pm, pv, pw, dx.ptr, dweight.ptr, dbias.ptr, flags, p.n, p.c, p.hw, p.eps, 0, 0, 0], [14, 15], channelRanges(ctx, p), { slot: 13, bytes: 16 });
  });
  return { dx, dweight, dbias };
}
