import type { SpmmParams } from '../../../engine/backend.js';
import type { GpuBuffer, GpuContext } from '../context.js';
import { kernel } from '../modules.js';
import { gridFor, nextPow2, Params } from '../params.js';
import { fill } from './elementwise.js';

const K = { spmm: kernel('sparse', 'spmm', 'urrrrw') };

/** Invocations per workgroup: a WX × WY tile of the output (see shaders/spmm.wgsl). */
const WG = 256;

/**
 * Tile width: the output's width rounded up to a power of two, between 4 and 64, so that narrow
 * outputs do not leave most of a workgroup idle; the rest of the 256 invocations cover rows.
 * At most five pipeline variants.
 */
function tileWidth(width: number): number {
  return Math.min(64, Math.max(4, nextPow2(width)));
}

/**
 * CSR × dense: out [rows, width] = S · x with S given by rowPtr [rows+1], colIdx and values [nnz],
 * x [xRows, width]. Each output element sums its row's entries in stored order.
 */
export function spmm(ctx: GpuContext, rowPtr: GpuBuffer, colIdx: GpuBuffer, values: GpuBuffer, x: GpuBuffer, p: SpmmParams): GpuBuffer {
  const size = p.rows * p.width;
  if (size === 0) return ctx.alloc(0);
  // No entries: every row is empty, nothing to sum.
  if (p.nnz === 0) return fill(ctx, 'float32', size, 0);
  const wx = tileWidth(p.width);
  const wy = WG / wx;
  const colTiles = Math.ceil(p.width / wx);
  const tiles = colTiles * Math.ceil(p.rows / wy);
  const out = ctx.alloc(size * 4);
  ctx.run(K.spmm, { WX: wx, WY: wy }, new Params().u32(p.rows, p.width, colTiles, tiles), [rowPtr, colIdx, values, x, out], gridFor(tiles));
  return out;
}
