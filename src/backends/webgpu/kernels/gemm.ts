import type { Conv2dParams, MatmulParams } from '../../../engine/backend.js';
import { KdetError } from '../../../engine/errors.js';
import type { GpuBuffer, GpuContext } from '../context.js';
import { kernel, type Kernel } from '../modules.js';
import { MAX_GROUPS, Params } from '../params.js';
import { fill } from './elementwise.js';
import { reduce } from './reduce.js';

const MATMUL = { tiled: kernel('matmul', 'gemm', 'urrw'), direct: kernel('matmul', 'gemm_direct', 'urrw') };
const CONV = { tiled: kernel('conv', 'gemm', 'urrrw'), direct: kernel('conv', 'gemm_direct', 'urrrw') };

interface Tiling {
  wx: number;
  wy: number;
  /** Rows and vec4 column groups per invocation: a tile is (wy·tm) × (4·wx·tn4). */
  tm: number;
  tn4: number;
  tk: number;
  splits: number;
  kChunk: number;
}

/** For benchmarks: force a tile family instead of the size-based choice. */
export const gemmTuning: { force: 'base' | 'large' | 'direct' | null } = { force: null };

/**
 * Tile shape and split-K for an m×n×k product repeated `batch` times. Tiles are 64×64 (4×4 per
 * invocation, 16×16 invocations), 16 on a side of at most 16 (few output channels). Few sizes
 * keep the number of pipeline variants, each compiled once, small. 128×128 tiles (8×8 per
 * invocation) exist but are not chosen: on an H100 (Deno / wgpu) they were slower than 64×64
 * for every matmul and conv measured (scripts/webgpu-bench.ts). When the output has too few
 * tiles to occupy a GPU but k is long, k is split and the partials summed afterwards.
 */
function tiling(m: number, n: number, k: number, batch: number, allowSplit: boolean): Tiling {
  const large = gemmTuning.force === 'large';
  const wy = m > 16 || large ? 16 : 4;
  const wx = n > 16 || large ? 16 : 4;
  const tm = large ? 8 : 4;
  const tn4 = large ? 2 : 1;
  const tk = large ? 8 : 16;
  const tiles = Math.ceil(m / (tm * wy)) * Math.ceil(n / (4 * tn4 * wx)) * batch;
  let splits = 1;
  if (allowSplit && tiles < 64 && k >= 512) splits = Math.min(Math.ceil(k / 256), Math.ceil(128 / tiles), 32);
  const kChunk = Math.ceil(Math.ceil(k / splits) / tk) * tk;
  return { wx, wy, tm, tn4, tk, splits: Math.ceil(k / kChunk), kChunk };
}

/**
 * Dispatch the GEMM core over z ∈ [0, zTotal), in slices of 65535 (the z0 uniform). `direct`
 * runs gemm_direct (no workgroup memory, 64×32 outputs per workgroup) with the same split-K, so
 * the same bits come out. `constants` are the loaders'; `fast` says which axis of each operand is
 * contiguous, for the tiled kernel's staging loads.
 */
function runGemm(
  ctx: GpuContext, k: { tiled: Kernel; direct: Kernel }, constants: Record<string, number>, fast: { A_K_FAST: number; B_N_FAST: number },
  params: (z0: number) => Params,
  buffers: readonly GpuBuffer[], m: number, n: number, zTotal: number, t: Tiling,
): void {
  const direct = gemmTuning.force === 'direct' || (gemmTuning.force === null && ctx.cpuEmulated);
  const gx = direct ? Math.ceil(n / 32) : Math.ceil(n / (4 * t.tn4 * t.wx));
  const gy = direct ? Math.ceil(m / 64) : Math.ceil(m / (t.tm * t.wy));
  if (gx > MAX_GROUPS || gy > MAX_GROUPS) {
    throw new KdetError('webgpu', `a ${m}×${n} product exceeds the dispatch limit (${MAX_GROUPS} tiles per side)`);
  }
  const consts = direct ? constants : { ...constants, ...fast, WX: t.wx, WY: t.wy, TK: t.tk, TM: t.tm, TN4: t.tn4 };
  for (let z0 = 0; z0 < zTotal; z0 += MAX_GROUPS) {
    ctx.run(direct ? k.direct : k.tiled, consts, params(z0), buffers, [gx, gy, Math.min(MAX_GROUPS, zTotal - z0)]);
  }
}

/** Sum split-K partials [outer, splits, inner] into [outer, inner] (a no-op for one split). */
function sumSplits(ctx: GpuContext, partial: GpuBuffer, outer: number, splits: number, inner: number): GpuBuffer {
  if (splits === 1) return partial;
  const out = reduce(ctx, 'sum', partial, outer, splits, inner);
  ctx.free(partial);
  return out;
}

export function matmul(ctx: GpuContext, a: GpuBuffer, b: GpuBuffer, p: MatmulParams): GpuBuffer {
  const batch = Math.max(p.batchA, p.batchB);
  const { m, n, k } = p;
  if (batch * m * n === 0) return ctx.alloc(0);
  if (k === 0) return fill(ctx, 'float32', batch * m * n, 0);
  const t = tiling(m, n, k, batch, true);
  const target = ctx.alloc(batch * t.splits * m * n * 4);
  const aStride = p.batchA === 1 ? 0 : m * k;
  const bStride = p.batchB === 1 ? 0 : k * n;
  const constants = { TRANS_A: +p.transA, TRANS_B: +p.transB };
  runGemm(ctx, MATMUL, constants, { A_K_FAST: +!p.transA, B_N_FAST: +!p.transB }, (z0) => new Params().u32(m, n, k, t.kChunk, t.splits, z0, aStride, bStride), [a, b, target], m, n, batch * t.splits, t);
  return sumSplits(ctx, target, batch, t.splits, m * n);
}

function convParams(p: Conv2dParams, m: number, n: number, k: number, t: Tiling, z0: number): Params {
  return new Params().u32(
    m, n, k, t.kChunk, t.splits, z0,
    p.n, p.cIn, p.h, p.w, p.cOut, p.kh, p.kw, p.strideH, p.strideW, p.padH, p.padW, p.dilationH, p.dilationW,
    p.outH, p.outW, p.cIn / p.groups, p.cOut / p.groups, 0,
  );
}

export function conv2d(ctx: GpuContext, x: GpuBuffer, w: GpuBuffer, bias: GpuBuffer | null, p: Conv2dParams): GpuBuffer {
  const m = p.cOut / p.groups;
  const n = p.n * p.outH * p.outW;
  const k = (p.cIn / p.groups) * p.kh * p.kw;
  const out = ctx.alloc(p.n * p.cOut * p.outH * p.outW * 4);
  if (m * n === 0) return out;
  const t = tiling(m, n, k, p.groups, false);
  const constants = { MODE: 0, HAS_BIAS: bias ? 1 : 0 };
  runGemm(ctx, CONV, constants, { A_K_FAST: 1, B_N_FAST: 1 }, (z0) => convParams(p, m, n, k, t, z0), [x, w, bias ?? ctx.dummy, out], m, n, p.groups, t);
  return out;
}

export function conv2dGradInput(ctx: GpuContext, dy: GpuBuffer, w: GpuBuffer, p: Conv2dParams): GpuBuffer {
  const m = p.cIn / p.groups;
  const n = p.n * p.h * p.w;
  const k = (p.cOut / p.groups) * p.kh * p.kw;
  const out = ctx.alloc(p.n * p.cIn * p.h * p.w * 4);
  if (m * n === 0) return out;
  const t = tiling(m, n, k, p.groups, false);
  const constants = { MODE: 1, HAS_BIAS: 0 };
  runGemm(ctx, CONV, constants, { A_K_FAST: 1, B_N_FAST: 1 }, (z0) => convParams(p, m, n, k, t, z0), [dy, w, ctx.dummy, out], m, n, p.groups, t);
  return out;
}

export function conv2dGradFilter(ctx: GpuContext, x: GpuBuffer, dy: GpuBuffer, p: Conv2dParams): GpuBuffer {
  const m = p.cOut / p.groups;
  const n = (p.cIn / p.groups) * p.kh * p.kw;
  const k = p.n * p.outH * p.outW;
  if (k === 0) return fill(ctx, 'float32', p.cOut * n, 0);
  const t = tiling(m, n, k, p.groups, true);
  const target = ctx.alloc(p.groups * t.splits * m * n * 4);
  const constants = { MODE: 2, HAS_BIAS: 0 };
  runGemm(ctx, CONV, constants, { A_K_FAST: 1, B_N_FAST: 0 }, (z0) => convParams(p, m, n, k, t, z0), [x, dy, ctx.dummy, target], m, n, p.groups * t.splits, t);
  return sumSplits(ctx, target, p.groups, t.splits, m * n);
}
