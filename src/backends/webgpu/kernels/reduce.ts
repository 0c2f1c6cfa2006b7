import type { ReduceOp } from '../../../engine/backend.js';
import type { GpuBuffer, GpuContext } from '../context.js';
import { kernel } from '../modules.js';
import { gridFor, nextPow2, Params } from '../params.js';
import { fill } from './elementwise.js';

const K = {
  reduce: kernel('reduce', 'reduce', 'urw'),
  reduceDirect: kernel('reduce', 'reduce_direct', 'urw'),
  arg: kernel('reduce', 'arg_reduce', 'urw'),
  softmax: kernel('softmax', 'softmax', 'urw'),
};

const OPS: Record<ReduceOp, number> = { sum: 0, max: 1, min: 2 };

/**
 * Workgroup shape for [outer, n, inner]: COLS output columns × LANES lanes down n (256 in all).
 * Long inner rows get 32 columns (coalesced); otherwise lanes cover n and spare invocations take
 * more columns. A long n with few workgroups is split into chunks.
 */
function plan(outer: number, n: number, inner: number, allowChunks: boolean) {
  let cols: number;
  let lanes: number;
  if (inner >= 32) {
    cols = 32;
    lanes = Math.min(8, nextPow2(n));
  } else {
    lanes = Math.min(256, nextPow2(n));
    cols = 256 / lanes;
  }
  const colTiles = Math.ceil((outer * inner) / cols);
  let chunks = 1;
  if (allowChunks && n > lanes * 64 && colTiles < 256) {
    chunks = Math.min(Math.ceil(n / (lanes * 16)), Math.ceil(1024 / colTiles));
  }
  const chunkLen = Math.ceil(n / chunks);
  chunks = Math.ceil(n / chunkLen);
  return { cols, lanes, colTiles, chunks, chunkLen };
}

function params(outer: number, n: number, inner: number, pl: ReturnType<typeof plan>): Params {
  return new Params().u32(outer, n, inner, pl.chunkLen, pl.chunks, pl.colTiles, pl.lanes, 0);
}

export function reduce(ctx: GpuContext, op: ReduceOp, x: GpuBuffer, outer: number, n: number, inner: number): GpuBuffer {
  if (n === 0) return fill(ctx, 'float32', outer * inner, op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity);
  const pl = plan(outer, n, inner, true);
  const out = ctx.alloc(outer * pl.chunks * inner * 4);
  if (ctx.cpuEmulated) {
    // The same sums in the same order without workgroup memory (reduce.wgsl), whose per-COLS /
    // LANES pipelines each took SwiftShader 0.1-0.25 s to compile: one pipeline per op here.
    ctx.run(K.reduceDirect, { OP: OPS[op] }, params(outer, n, inner, pl), [x, out], gridFor(Math.ceil((pl.chunks * outer * inner) / 64)));
  } else {
    ctx.run(K.reduce, { COLS: pl.cols, LANES: pl.lanes, OP: OPS[op] }, params(outer, n, inner, pl), [x, out], gridFor(pl.chunks * pl.colTiles));
  }
  if (pl.chunks === 1) return out;
  // Second pass over the per-chunk partials [outer, chunks, inner].
  const r = reduce(ctx, op, out, outer, pl.chunks, inner);
  ctx.free(out);
  return r;
}

export function argReduce(ctx: GpuContext, op: 'argmax' | 'argmin', x: GpuBuffer, outer: number, n: number, inner: number): GpuBuffer {
  const pl = plan(outer, n, inner, false);
  const out = ctx.alloc(outer * inner * 4);
  if (n === 0) return out;
  ctx.run(K.arg, { COLS: pl.cols, LANES: pl.lanes, OP: op === 'argmax' ? 0 : 1 }, params(outer, n, inner, pl), [x, out], gridFor(pl.colTiles));
  return out;
}

export function softmax(ctx: GpuContext, x: GpuBuffer, rows: number, cols: number, log: boolean): GpuBuffer {
  const out = ctx.alloc(rows * cols * 4);
  if (rows * cols === 0) return out;
  // Threads per row: enough to cover a short row, at most 256; short rows share a workgroup.
  const tpr = Math.min(256, nextPow2(cols));
  const rpw = Math.max(1, Math.floor(64 / tpr));
  ctx.run(K.softmax, { TPR: tpr, RPW: rpw, LOG: log ? 1 : 0 }, new Params().u32(rows, cols), [x, out], gridFor(Math.ceil(rows / rpw)));
  return out;
}
