import type { Conv2dParams } from '../../engine/backend.js';
import type { WasmContext } from './context.js';

// What the convolution kernels of assembly/conv.ts and assembly/depthwise.ts both read: the
// parameter block (one layout for both) and the element counts of their buffers.

export function writeConvParams(ctx: WasmContext, p: Conv2dParams): number {
  return ctx.writeParams([
    p.n, p.cIn, p.h, p.w, p.cOut, p.kh, p.kw, p.strideH, p.strideW, p.padH, p.padW,
    p.dilationH, p.dilationW, p.groups, p.outH, p.outW,
  ]);
}

export const inputSize = (p: Conv2dParams): number => p.n * p.cIn * p.h * p.w;
export const filterSize = (p: Conv2dParams): number => p.cOut * (p.cIn / p.groups) * p.kh * p.kw;
export const outputSize = (p: Conv2dParams): number => p.n * p.cOut * p.outH * p.outW;
