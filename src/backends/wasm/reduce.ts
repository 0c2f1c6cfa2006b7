import type { ReduceOp } from '../../engine/backend.js';
import { KdetError } from '../../engine/errors.js';
import type { WasmContext } from './context.js';
import type { WasmBuffer } from './memory.js';
import { MIN_ELEMENTS_PER_PART, partsFor, ranges, runRanges } from './split.js';

/** Sum, max or min over the middle axis of [outer, n, inner]. */
export function reduce(ctx: WasmContext, op: ReduceOp, x: unknown, outer: number, n: number, inner: number): WasmBuffer {
  const src = ctx.ptr(op, 'x', x, outer * n * inner);
  if (op !== 'sum' && n === 0 && outer * inner > 0) throw new KdetError(op, `${op} over an empty axis of [${outer}, ${n}, ${inner}]`);
  const out = ctx.output(outer * inner);
  return ctx.produce(op, out, () => {
    if (op === 'sum') {
      // Two rows of scratch for the blocked summation (none needed for contiguous rows).
      // Split over `outer` only: each output keeps its serial summation order. Every thread gets its
      // own two rows of scratch.
      const rs = ranges(outer, partsFor(ctx, outer * n * inner, MIN_ELEMENTS_PER_PART));
      ctx.split('reduceSum', [src, out.ptr, n, inner, 0, 0, 0], [5, 6], rs, { slot: 4, bytes: inner > 1 ? 2 * inner * 4 : 0 });
    } else if (op === 'max') {
      runRanges(ctx, 'reduceMax', [src, out.ptr, n, inner, 0, 0], 4, outer, n * inner, 1);
    } else if (op === 'min') {
      runRanges(ctx, 'reduceMin', [src, out.ptr, n, inner, 0, 0], 4, outer, n * inner, 1);
    } else {
      throw new KdetError('reduce', `unknown op '${String(op)}'`);
    }
  });
}

/** int32 index of the first maximum / minimum along the middle axis (NaN counts as extreme). */
export function argReduce(ctx: WasmContext, op: 'argmax' | 'argmin', x: unknown, outer: number, n: number, inner: number): WasmBuffer {
  const src = ctx.ptr(op, 'x', x, outer * n * inner);
  if (n === 0 && outer * inner > 0) throw new KdetError(op, `${op} over an empty axis of [${outer}, ${n}, ${inner}]`);
  const out = ctx.output(outer * inner);
  return ctx.produce(op, out, () => {
    ctx.withScratch(inner * 4, (best) => ctx.wasm.argReduce(src, out.ptr, n, inner, op === 'argmax' ? 1 : 0, best, 0, outer));
  });
}

export function softmax(ctx: WasmContext, x: unknown, rows: number, cols: number, log: boolean): WasmBuffer {
  const src = ctx.ptr(log ? 'logSoftmax' : 'softmax', 'x', x, rows * cols);
  const out = ctx.output(rows * cols);
  return ctx.produce(log ? 'logSoftmax' : 'softmax', out, () =>
    runRanges(ctx, 'softmax', [src, out.ptr, cols, log ? 1 : 0, 0, 0], 4, rows, cols, 1));
}
