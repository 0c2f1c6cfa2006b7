import type { SpmmParams } from '../../engine/backend.js';
import type { WasmContext } from './context.js';
import type { WasmBuffer } from './memory.js';
import { MIN_ELEMENTS_PER_PART, partsFor, ranges } from './split.js';

/**
 * Sparse × dense (assembly/sparse.ts). Parts split the columns in blocks of 32 when the width
 * allows one per part, else the rows: either way each output element is one part's, summed in
 * entry order, so the result does not depend on the thread count.
 */
export function spmm(ctx: WasmContext, rowPtr: unknown, colIdx: unknown, values: unknown, x: unknown, p: SpmmParams): WasmBuffer {
  const pr = ctx.ptr('spmm', 'rowPtr', rowPtr, p.rows + 1);
  const pc = ctx.ptr('spmm', 'colIdx', colIdx, p.nnz);
  const pv = ctx.ptr('spmm', 'values', values, p.nnz);
  const px = ctx.ptr('spmm', 'x', x, p.xRows * p.width);
  const out = ctx.output(p.rows * p.width);
  return ctx.produce('spmm', out, () => {
    if (p.rows === 0 || p.width === 0) return;
    const parts = partsFor(ctx, Math.max(p.nnz, p.rows) * p.width, MIN_ELEMENTS_PER_PART);
    const byColumns = p.width >= 32 * parts;
    const rs = byColumns ? ranges(p.width, parts, 32).map(([s, e]) => [0, p.rows, s, e]) : ranges(p.rows, parts).map(([s, e]) => [s, e, 0, p.width]);
    // rowPtr colIdx values x out width | rStart rEnd cStart cEnd
    ctx.split('spmm', [pr, pc, pv, px, out.ptr, p.width, 0, 0, 0, 0], [6, 7, 8, 9], rs);
  });
}
