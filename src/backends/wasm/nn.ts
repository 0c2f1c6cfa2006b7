import type { Conv2dParams, MatmulParams, Pool2dParams } from '../../engine/backend.js';
import { isDepthwise } from '../../engine/depthwise.js';
import { KdetError } from '../../engine/errors.js';
import type { WasmContext } from './context.js';
import { filterSize, inputSize, outputSize, writeConvParams } from './conv-params.js';
import * as depthwise from './depthwise.js';
import type { WasmBuffer } from './memory.js';
import type { KdetWasmExports } from './module.js';
import { MIN_MACS_PER_PART, parts2d, partsFor, ranges, runRanges, split2d } from './split.js';

// GEMM and convolution are implemented in assembly/gemm.ts and assembly/conv.ts (depthwise
// convolutions in assembly/depthwise.ts, through ./depthwise.ts); these wrappers
// marshal buffers, parameters and scratch, and split large calls over the thread pool (split.ts):
// every thread gets its own scratch and every part writes a disjoint block of the output.

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
  const scratchBytes = kernel(ctx, 'matmul', 'matmulScratchBytes');
  const pa = ctx.ptr('matmul', 'a', a, batchA * m * k);
  const pb = ctx.ptr('matmul', 'b', b, batchB * k * n);
  const out = ctx.output(Math.max(batchA, batchB) * m * n);
  const transA = p.transA ? 1 : 0;
  const transB = p.transB ? 1 : 0;
  const rows = Math.max(batchA, batchB) * m;
  return ctx.produce('matmul', out, () => {
    const parts = parts2d(split2d(rows, n, partsFor(ctx, rows * n * Math.max(k, 1), MIN_MACS_PER_PART)));
    // a b y batchA batchB m k n transA transB scratch | rStart rEnd jStart jEnd
    ctx.split('matmulSplit', [pa, pb, out.ptr, batchA, batchB, m, k, n, transA, transB, 0, 0, 0, 0, 0],
      [11, 12, 13, 14], parts, { slot: 10, bytes: scratchBytes(m, k, n, transA, transB) >>> 0 });
  });
}

const CONV_FORWARD = 0;
const CONV_GRAD_INPUT = 1;
const CONV_GRAD_FILTER = 2;


/**
 * Parts of a convolution kernel: over the (sample, group) pairs when there are as many as
 * parts, else over the rows × columns of every pair's GEMM (rows in pairs, columns in 16s).
 * Each part is [start, end, iStart, iEnd, jStart, jEnd].
 */
function convParts(ctx: WasmContext, pairs: number, rows: number, cols: number, macs: number, colSplit: boolean): number[][] {
  const n = partsFor(ctx, macs, MIN_MACS_PER_PART);
  if (n <= 1) return [[0, pairs, 0, rows, 0, cols]];
  if (pairs >= n) return ranges(pairs, n).map(([s, e]) => [s, e, 0, rows, 0, cols]);
  const grid = colSplit ? split2d(rows, cols, n) : { rows: ranges(rows, n, 2), cols: [[0, cols]] as [number, number][] };
  return parts2d(grid).map((q) => [0, pairs, ...q]);
}

/** Runs a conv *Split kernel: args end with (scratch, start, end, iStart, iEnd, jStart, jEnd) placeholders. */
function runConv(ctx: WasmContext, name: 'conv2dForwardSplit' | 'conv2dGradInputSplit' | 'conv2dGradFilterSplit',
  args: number[], scratchBytes: number, parts: number[][]): void {
  const first = args.length - 7;
  ctx.split(name, args, [first + 1, first + 2, first + 3, first + 4, first + 5, first + 6], parts, { slot: first, bytes: scratchBytes });
}

export function conv2d(ctx: WasmContext, x: unknown, w: unknown, bias: unknown | null, p: Conv2dParams): WasmBuffer {
  if (isDepthwise(p)) return depthwise.conv2d(ctx, x, w, bias, p);
  const scratchBytes = kernel(ctx, 'conv2d', 'conv2dScratchBytes');
  const px = ctx.ptr('conv2d', 'x', x, inputSize(p));
  const pw = ctx.ptr('conv2d', 'w', w, filterSize(p));
  const pBias = bias === null ? 0 : ctx.ptr('conv2d', 'bias', bias, p.cOut);
  const out = ctx.output(outputSize(p));
  return ctx.produce('conv2d', out, () => {
    const params = writeConvParams(ctx, p);
    const cog = p.cOut / p.groups;
    const pixels = p.outH * p.outW;
    const macs = outputSize(p) * (p.cIn / p.groups) * p.kh * p.kw;
    const parts = convParts(ctx, p.n * p.groups, cog, pixels, macs, true);
    runConv(ctx, 'conv2dForwardSplit', [px, pw, pBias, out.ptr, params, 0, 0, 0, 0, 0, 0, 0],
      scratchBytes(CONV_FORWARD, params) >>> 0, parts);
  });
}

export function conv2dGradInput(ctx: WasmContext, dy: unknown, w: unknown, p: Conv2dParams): WasmBuffer {
  if (isDepthwise(p)) return depthwise.conv2dGradInput(ctx, dy, w, p);
  const scratchBytes = kernel(ctx, 'conv2dGradInput', 'conv2dScratchBytes');
  const pdy = ctx.ptr('conv2dGradInput', 'dy', dy, outputSize(p));
  const pw = ctx.ptr('conv2dGradInput', 'w', w, filterSize(p));
  const out = ctx.output(inputSize(p));
  return ctx.produce('conv2dGradInput', out, () => {
    const params = writeConvParams(ctx, p);
    const cg = p.cIn / p.groups;
    const macs = outputSize(p) * cg * p.kh * p.kw;
    // The col2im path scatters into overlapping pixels: it splits over input channels only.
    const transposed = ctx.wasm.conv2dGradInputTransposed(params) === 1;
    const parts = convParts(ctx, p.n * p.groups, cg, p.h * p.w, macs, transposed);
    runConv(ctx, 'conv2dGradInputSplit', [pdy, pw, out.ptr, params, 0, 0, 0, 0, 0, 0, 0],
      scratchBytes(CONV_GRAD_INPUT, params) >>> 0, parts);
  });
}

export function conv2dGradFilter(ctx: WasmContext, x: unknown, dy: unknown, p: Conv2dParams): WasmBuffer {
  if (isDepthwise(p)) return depthwise.conv2dGradFilter(ctx, x, dy, p);
  const scratchBytes = kernel(ctx, 'conv2dGradFilter', 'conv2dScratchBytes');
  const px = ctx.ptr('conv2dGradFilter', 'x', x, inputSize(p));
  const pdy = ctx.ptr('conv2dGradFilter', 'dy', dy, outputSize(p));
  const out = ctx.output(filterSize(p));
  return ctx.produce('conv2dGradFilter', out, () => {
    const params = writeConvParams(ctx, p);
    const cog = p.cOut / p.groups;
    const k = (p.cIn / p.groups) * p.kh * p.kw;
    const transposed = ctx.wasm.conv2dGradFilterIsTransposed(params) === 1;
    const macs = outputSize(p) * k;
    // Groups each reduce over every sample; within a group the product's rows and columns split
    // (dW_g[cOut/g, K], or dW_gᵀ[K, cOut/g] when transposed), never its sum over samples/pixels.
    const parts = convParts(ctx, p.groups, transposed ? k : cog, transposed ? cog : k, macs, true);
    runConv(ctx, 'conv2dGradFilterSplit', [px, pdy, out.ptr, params, 0, 0, 0, 0, 0, 0, 0],
      scratchBytes(CONV_GRAD_FILTER, params) >>> 0, parts);
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
    runRanges(ctx, 'maxPool2dForward', [px, out.ptr, argmax.ptr, writePoolParams(ctx, p), 0, 0], 4, p.n * p.c,
      p.outH * p.outW * p.kh * p.kw, 1);
  });
  return { out, argmax };
}

export function maxPool2dGrad(ctx: WasmContext, dy: unknown, argmax: unknown, p: Pool2dParams): WasmBuffer {
  const size = p.n * p.c * p.outH * p.outW;
  const pdy = ctx.ptr('maxPool2dGrad', 'dy', dy, size);
  const pa = ctx.ptr('maxPool2dGrad', 'argmax', argmax, size);
  const out = ctx.output(p.n * p.c * p.h * p.w);
  return ctx.produce('maxPool2dGrad', out, () => {
    runRanges(ctx, 'maxPool2dBackward', [pdy, pa, out.ptr, writePoolParams(ctx, p), 0, 0], 4, p.n * p.c, p.h * p.w, 1);
  });
}
