import type { Conv2dParams, MatmulParams, Pool2dParams } from '../../engine/backend.js';
import { KdetError } from '../../engine/errors.js';
import type { WasmContext } from './context.js';
import type { WasmBuffer } from './memory.js';
import type { KdetWasmExports } from './module.js';

// GEMM and convolution are implemented in assembly/gemm.ts and assembly/conv.ts; these wrappers
// only marshal buffers, parameters and scratch.

function kernel<K extends keyof KdetWasmExports>(ctx: WasmContext, op: string, name: K): NonNullable<KdetWasmExports[K]> {
  const f = ctx.wasm[name];
  if (typeof f !== 'function') {
    throw new KdetError(op, `the wasm kernel '${String(name)}' is not built yet (assembly/gemm.ts, assembly/conv.ts): rebuild with \`npm run build:wasm\``);
  }
  return f as NonNullable<KdetWasmExports[K]>;
}

export function matmul(ctx: WasmContext, a: unknown, b: unknown, p: MatmulParams): WasmBuffer {
  const { batchA, batchB, m, k, n } = p;
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) {
    throw new KdetError('matmul', `batch sizes ${batchA} and ${batchB} differ and neither is 1`);
  }
  const run = kernel(ctx, 'matmul', 'matmul');
  const scratchBytes = kernel(ctx, 'matmul', 'matmulScratchBytes');
  const pa = ctx.ptr('matmul', 'a', a, batchA * m * k);
  const pb = ctx.ptr('matmul', 'b', b, batchB * k * n);
  const out = ctx.output(Math.max(batchA, batchB) * m * n);
  const transA = p.transA ? 1 : 0;
  const transB = p.transB ? 1 : 0;
  return ctx.produce('matmul', out, () => {
    ctx.withScratch(scratchBytes(m, k, n, transA, transB) >>> 0, (s) => run(pa, pb, out.ptr, batchA, batchB, m, k, n, transA, transB, s));
  });
}

const CONV_FORWARD = 0;
const CONV_GRAD_INPUT = 1;
const CONV_GRAD_FILTER = 2;

function writeConvParams(ctx: WasmContext, p: Conv2dParams): number {
  return ctx.writeParams([
    p.n, p.cIn, p.h, p.w, p.cOut, p.kh, p.kw, p.strideH, p.strideW, p.padH, p.padW,
    p.dilationH, p.dilationW, p.groups, p.outH, p.outW,
  ]);
}

const inputSize = (p: Conv2dParams) => p.n * p.cIn * p.h * p.w;
const filterSize = (p: Conv2dParams) => p.cOut * (p.cIn / p.groups) * p.kh * p.kw;
const outputSize = (p: Conv2dParams) => p.n * p.cOut * p.outH * p.outW;

export function conv2d(ctx: WasmContext, x: unknown, w: unknown, bias: unknown | null, p: Conv2dParams): WasmBuffer {
  const run = kernel(ctx, 'conv2d', 'conv2dForward');
  const scratchBytes = kernel(ctx, 'conv2d', 'conv2dScratchBytes');
  const px = ctx.ptr('conv2d', 'x', x, inputSize(p));
  const pw = ctx.ptr('conv2d', 'w', w, filterSize(p));
  const pBias = bias === null ? 0 : ctx.ptr('conv2d', 'bias', bias, p.cOut);
  const out = ctx.output(outputSize(p));
  return ctx.produce('conv2d', out, () => {
    const params = writeConvParams(ctx, p);
    ctx.withScratch(scratchBytes(CONV_FORWARD, params) >>> 0, (s) => run(px, pw, pBias, out.ptr, params, s));
  });
}

export function conv2dGradInput(ctx: WasmContext, dy: unknown, w: unknown, p: Conv2dParams): WasmBuffer {
  const run = kernel(ctx, 'conv2dGradInput', 'conv2dGradInput');
  const scratchBytes = kernel(ctx, 'conv2dGradInput', 'conv2dScratchBytes');
  const pdy = ctx.ptr('conv2dGradInput', 'dy', dy, outputSize(p));
  const pw = ctx.ptr('conv2dGradInput', 'w', w, filterSize(p));
  const out = ctx.output(inputSize(p));
  return ctx.produce('conv2dGradInput', out, () => {
    const params = writeConvParams(ctx, p);
    ctx.withScratch(scratchBytes(CONV_GRAD_INPUT, params) >>> 0, (s) => run(pdy, pw, out.ptr, params, s));
  });
}

export function conv2dGradFilter(ctx: WasmContext, x: unknown, dy: unknown, p: Conv2dParams): WasmBuffer {
  const run = kernel(ctx, 'conv2dGradFilter', 'conv2dGradFilter');
  const scratchBytes = kernel(ctx, 'conv2dGradFilter', 'conv2dScratchBytes');
  const px = ctx.ptr('conv2dGradFilter', 'x', x, inputSize(p));
  const pdy = ctx.ptr('conv2dGradFilter', 'dy', dy, outputSize(p));
  const out = ctx.output(filterSize(p));
  return ctx.produce('conv2dGradFilter', out, () => {
    const params = writeConvParams(ctx, p);
    ctx.withScratch(scratchBytes(CONV_GRAD_FILTER, params) >>> 0, (s) => run(px, pdy, out.ptr, params, s));
  });
}

function writePoolParams(ctx: WasmContext, p: Pool2dParams): number {
  return ctx.writeParams([p.n, p.c, p.h, p.w, p.kh, p.kw, p.strideH, p.strideW, p.padH, p.padW, p.outH, p.outW]);
}

export function maxPool2d(ctx: WasmContext, x: unknown, p: Pool2dParams): { out: WasmBuffer; argmax: WasmBuffer } {
  if (p.padH * 2 > p.kh || p.padW * 2 > p.kw) {
    throw new KdetError('maxPool2d', `padding ${p.padH}×${p.padW} must be at most half the kernel ${p.kh}×${p.kw}`);
  }
  const px = ctx.ptr('maxPool2d', 'x', x, p.n * p.c * p.h * p.w);
  const size = p.n * p.c * p.outH * p.outW;
  const out = ctx.output(size);
  const argmax = ctx.output(size);
  ctx.produce('maxPool2d', [out, argmax], () => {
    ctx.wasm.maxPool2dForward(px, out.ptr, argmax.ptr, writePoolParams(ctx, p), 0, p.n * p.c);
  });
  return { out, argmax };
}

export function maxPool2dGrad(ctx: WasmContext, dy: unknown, argmax: unknown, p: Pool2dParams): WasmBuffer {
  const size = p.n * p.c * p.outH * p.outW;
  const pdy = ctx.ptr('maxPool2dGrad', 'dy', dy, size);
  const pa = ctx.ptr('maxPool2dGrad', 'argmax', argmax, size);
  const out = ctx.output(p.n * p.c * p.h * p.w);
  return ctx.produce('maxPool2dGrad', out, () => {
    ctx.wasm.maxPool2dBackward(pdy, pa, out.ptr, writePoolParams(ctx, p), 0, p.n * p.c);
  });
}
