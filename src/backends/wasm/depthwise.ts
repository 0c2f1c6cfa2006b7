import type { Conv2dParams } from '../../engine/backend.js';
import type { WasmContext } from './context.js';
import { filterSize, inputSize, outputSize, writeConvParams } from './conv-params.js';
import type { WasmBuffer } from './memory.js';
import { MIN_MACS_PER_PART, partsFor, ranges } from './split.js';

// Depthwise convolution (src/engine/depthwise.ts decides which params are) on the kernels of
// assembly/depthwise.ts. The forward and input gradient split over input planes (n·cIn), the
// filter gradient over input channels, since it sums over the batch: every part writes whole
// output planes (filters), so results are bitwise the same for any thread count.

const FORWARD = 0;
const GRAD_INPUT = 1;
const GRAD_FILTER = 2;

const macs = (p: Conv2dParams) => outputSize(p) * p.kh * p.kw;

/** Runs `name` over [0, total) in ranges; args end with (scratch, start, end) placeholders. */
function run(ctx: WasmContext, name: 'depthwiseForward' | 'depthwiseGradInput' | 'depthwiseGradFilter', kind: number,
  args: number[], params: number, total: number, work: number): void {
  const parts = ranges(total, partsFor(ctx, work, MIN_MACS_PER_PART));
  const last = args.length - 1;
  const bytes = ctx.wasm.depthwiseScratchBytes(kind, params) >>> 0;
  ctx.split(name, args, [last - 1, last], parts, { slot: last - 2, bytes });
}

export function conv2d(ctx: WasmContext, x: unknown, w: unknown, bias: unknown | null, p: Conv2dParams): WasmBuffer {
  const px = ctx.ptr('conv2d', 'x', x, inputSize(p));
  const pw = ctx.ptr('conv2d', 'w', w, filterSize(p));
  const pBias = bias === null ? 0 : ctx.ptr('conv2d', 'bias', bias, p.cOut);
  const out = ctx.output(outputSize(p));
  return ctx.produce('conv2d', out, () => {
    const params = writeConvParams(ctx, p);
    run(ctx, 'depthwiseForward', FORWARD, [px, pw, pBias, out.ptr, params, 0, 0, 0], params, p.n * p.cIn, macs(p));
  });
}

export function conv2dGradInput(ctx: WasmContext, dy: unknown, w: unknown, p: Conv2dParams): WasmBuffer {
  const pdy = ctx.ptr('conv2dGradInput', 'dy', dy, outputSize(p));
  const pw = ctx.ptr('conv2dGradInput', 'w', w, filterSize(p));
  const out = ctx.output(inputSize(p));
  return ctx.produce('conv2dGradInput', out, () => {
    const params = writeConvParams(ctx, p);
    run(ctx, 'depthwiseGradInput', GRAD_INPUT, [pdy, pw, out.ptr, params, 0, 0, 0], params, p.n * p.cIn, macs(p));
  });
}

export function conv2dGradFilter(ctx: WasmContext, x: unknown, dy: unknown, p: Conv2dParams): WasmBuffer {
  const px = ctx.ptr('conv2dGradFilter', 'x', x, inputSize(p));
  const pdy = ctx.ptr('conv2dGradFilter', 'dy', dy, outputSize(p));
  const out = ctx.output(filterSize(p));
  return ctx.produce('conv2dGradFilter', out, () => {
    const params = writeConvParams(ctx, p);
    run(ctx, 'depthwiseGradFilter', GRAD_FILTER, [px, pdy, out.ptr, params, 0, 0, 0], params, p.cIn, macs(p));
  });
}
