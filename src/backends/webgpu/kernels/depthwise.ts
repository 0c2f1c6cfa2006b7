import type { Conv2dParams } from '../../../engine/backend.js';
import type { GpuBuffer, GpuContext } from '../context.js';
import { kernel } from '../modules.js';
import { grid1, gridFor, Params } from '../params.js';

// Depthwise convolution (src/engine/depthwise.ts decides which params are) on shaders/depthwise.wgsl:
// direct sums per output and per input pixel, and a workgroup reduction per filter element.

const K = {
  forward: kernel('depthwise', 'depthwise_forward', 'urrrw'),
  gradInput: kernel('depthwise', 'depthwise_grad_input', 'urrrw'),
  gradFilter: kernel('depthwise', 'depthwise_grad_filter', 'urrrw'),
};

const WG = 256;

function params(size: number, p: Conv2dParams, hasBias: boolean): Params {
  return new Params().u32(
    size, p.n, p.cIn, p.h, p.w, p.cOut, p.kh, p.kw, p.strideH, p.strideW, p.padH, p.padW, p.dilationH, p.dilationW,
    p.outH, p.outW, p.cOut / p.cIn, hasBias ? 1 : 0, 0, 0,
  );
}

export function conv2d(ctx: GpuContext, x: GpuBuffer, w: GpuBuffer, bias: GpuBuffer | null, p: Conv2dParams): GpuBuffer {
  const size = p.n * p.cOut * p.outH * p.outW;
  const out = ctx.alloc(size * 4);
  ctx.run(K.forward, { WG }, params(size, p, bias !== null), [x, w, bias ?? ctx.dummy, out], grid1(size, WG));
  return out;
}

export function conv2dGradInput(ctx: GpuContext, dy: GpuBuffer, w: GpuBuffer, p: Conv2dParams): GpuBuffer {
  const size = p.n * p.cIn * p.h * p.w;
  const out = ctx.alloc(size * 4);
  ctx.run(K.gradInput, { WG }, params(size, p, false), [dy, w, ctx.dummy, out], grid1(size, WG));
  return out;
}

export function conv2dGradFilter(ctx: GpuContext, x: GpuBuffer, dy: GpuBuffer, p: Conv2dParams): GpuBuffer {
  const size = p.cOut * p.kh * p.kw;
  const out = ctx.alloc(size * 4);
  // A workgroup per filter element; short sums (small late-stage planes) get a smaller one.
  const wg = p.n * p.outH * p.outW >= 4 * WG ? WG : 64;
  ctx.run(K.gradFilter, { WG: wg }, params(size, p, false), [x, dy, ctx.dummy, out], gridFor(size));
  return out;
}
