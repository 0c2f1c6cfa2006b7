import type { Pool2dParams } from '../../../engine/backend.js';
import type { GpuBuffer, GpuContext } from '../context.js';
import { kernel } from '../modules.js';
import { grid1, Params } from '../params.js';

const WG = 256;

const K = {
  fwd: kernel('pool2d', 'max_pool', 'urww'),
  bwd: kernel('pool2d', 'max_pool_grad', 'urrw'),
};

function params(size: number, p: Pool2dParams): Params {
  return new Params().u32(size, p.h, p.w, p.kh, p.kw, p.strideH, p.strideW, p.padH, p.padW, p.outH, p.outW, 0);
}

export function maxPool2d(ctx: GpuContext, x: GpuBuffer, p: Pool2dParams): { out: GpuBuffer; argmax: GpuBuffer } {
  const size = p.n * p.c * p.outH * p.outW;
  const out = ctx.alloc(size * 4);
  const argmax = ctx.alloc(size * 4);
  ctx.run(K.fwd, { WG }, params(size, p), [x, out, argmax], grid1(size, WG));
  return { out, argmax };
}

export function maxPool2dGrad(ctx: GpuContext, dy: GpuBuffer, argmax: GpuBuffer, p: Pool2dParams): GpuBuffer {
  const size = p.n * p.c * p.h * p.w;
  const dx = ctx.alloc(size * 4);
  ctx.run(K.bwd, { WG }, params(size, p), [dy, argmax, dx], grid1(size, WG));
  return dx;
}
