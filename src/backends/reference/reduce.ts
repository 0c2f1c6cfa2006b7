import type { ReduceOp } from '../../engine/backend.js';
import { refFail } from './buffer.js';

/** Reductions over the middle axis of [outer, n, inner], accumulated in float64 in index order. */
export function reduce(op: ReduceOp, x: Float64Array, outer: number, n: number, inner: number): Float64Array {
  if (op !== 'sum' && op !== 'max' && op !== 'min') refFail('reduce', `unknown op '${op}'`);
  if (n === 0 && op !== 'sum') refFail('reduce', `${op} over an empty axis`);
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) {
      const base = o * n * inner + k;
      let acc = op === 'sum' ? 0 : x[base]!;
      for (let j = op === 'sum' ? 0 : 1; j < n; j++) {
        const v = x[base + j * inner]!;
        if (op === 'sum') acc += v;
        // torch.amax / amin propagate NaN.
        else if (Number.isNaN(v) || (op === 'max' ? v > acc : v < acc)) acc = Number.isNaN(acc) ? acc : v;
      }
      out[o * inner + k] = acc;
    }
  }
  return out;
}

/** Index of the first maximum (minimum); a NaN counts as the extreme, as torch.argmax. */
export function argReduce(op: 'argmax' | 'argmin', x: Float64Array, outer: number, n: number, inner: number): Float64Array {
  if (n === 0) refFail(op, 'empty axis');
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let k = 0; k < inner; k++) {
      const base = o * n * inner + k;
      let best = x[base]!;
      let at = 0;
      for (let j = 1; j < n && !Number.isNaN(best); j++) {
        const v = x[base + j * inner]!;
        if (Number.isNaN(v) || (op === 'argmax' ? v > best : v < best)) {
          best = v;
          at = j;
        }
      }
      out[o * inner + k] = at;
    }
  }
  return out;
}

/** Softmax / log-softmax over the last axis, shifted by the row maximum so exp() cannot overflow. */
export function softmax(x: Float64Array, rows: number, cols: number, log: boolean): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, x[base + c]!);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(x[base + c]! - m);
    const logS = Math.log(s);
    for (let c = 0; c < cols; c++) {
      const shifted = x[base + c]! - m;
      out[base + c] = log ? shifted - logS : Math.exp(shifted) / s;
    }
  }
  return out;
}
