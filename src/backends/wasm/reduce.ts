import type { ReduceOp } from '../../engine/backend.js';
import { KdetError } from '../../engine/errors.js';
import type { WasmContext } from './context.js';
import type { WasmBuffer } from './memory.js';

/** Sum, max or min over the middle axis of [outer, n, inner]. */
export function reduce(ctx: WasmContext, op: ReduceOp, x: unknown, outer: number, n: number, inner: number): WasmBuffer {
  const src = ctx.ptr(op, 'x', x, outer * n * inner);
  if (op !== 'sum' && n === 0 && outer * inner > 0) throw new KdetError(op, `${op} over an empty axis of [${outer}, ${n}, ${inner}]`);
  const out = ctx.output(outer * inner);
  return ctx.produce(op, out, () => {
    if (op === 'sum') {
      // Two rows of scratch for the blocked summation (none needed for contiguous rows).
      const scratch = inner > 1 ? 2 * inner * 4 : 0;
      ctx.withScratch(scratch, (s) => ctx.wasm.reduceSum(src, out.ptr, n, inner, s, 0, outer));
    } else if (op === 'max') {
      ctx.wasm.reduceMax(src, out.ptr, n, inner, 0, outer);
    } else if (op === 'min') {
      ctx.wasm.reduceMin(src, out.ptr, n, inner, 0, outer);
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
  return ctx.produce(log ? 'logSoftmax' : 'softmax', out, () => ctx.wasm.softmax(src, out.ptr, cols, log ? 1 : 0, 0, rows));
}
