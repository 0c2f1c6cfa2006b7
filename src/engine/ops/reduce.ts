import type { ReduceOp } from '../backend.js';
import { check, fmtShape } from '../errors.js';
import { normAxes } from '../shape.js';
import { record } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { div, equal, mul } from './elementwise.js';
import { broadcastTo, reshape, transpose } from './layout.js';
import { backendOf, expectDType, out } from './util.js';

/**
 * Bring the reduced axes into one contiguous block [outer, n, inner] (transposing only when they
 * are not contiguous already) and run the backend's middle-axis reduction.
 */
function reduceRaw(op: ReduceOp | 'argmax' | 'argmin', x: Tensor, axes: number[]): { buf: unknown; kept: number[] } {
  const b = backendOf(op, x);
  const kept = x.shape.filter((_, i) => !axes.includes(i));
  const contiguous = axes.every((a, i) => i === 0 || a === axes[i - 1]! + 1);
  let src = x;
  let outer: number, n: number, inner: number;
  if (contiguous && axes.length > 0) {
    outer = x.shape.slice(0, axes[0]).reduce((p, d) => p * d, 1);
    n = axes.reduce((p, a) => p * x.shape[a]!, 1);
    inner = x.shape.slice(axes[axes.length - 1]! + 1).reduce((p, d) => p * d, 1);
  } else {
    const perm = [...x.shape.keys()].filter((i) => !axes.includes(i)).concat(axes);
    src = transpose(x, perm);
    outer = kept.reduce((p, d) => p * d, 1);
    n = axes.reduce((p, a) => p * x.shape[a]!, 1);
    inner = 1;
  }
  const buf = op === 'argmax' || op === 'argmin' ? b.argReduce(op, src.buf, outer, n, inner) : b.reduce(op, src.buf, outer, n, inner);
  if (src !== x) src.dispose();
  return { buf, kept };
}

function outShape(x: Tensor, axes: number[], keepDims: boolean): number[] {
  return keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
}

/** Sum over `axes` (all by default). */
export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  expectDType('sum', 'x', x, 'float32');
  const ax = normAxes('sum', axes, x.rank);
  const shape = outShape(x, ax, keepDims);
  const y = out(x.backend, reduceRaw('sum', x, ax).buf, shape);
  record('sum', [x], [y], () => {
    const xShape = x.shape;
    const keptShape = outShape(x, ax, true);
    return ([dy]) => [broadcastTo(reshape(dy!, keptShape), xShape)];
  });
  return y;
}

export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  const ax = normAxes('mean', axes, x.rank);
  const count = ax.reduce((p, a) => p * x.shape[a]!, 1);
  check(count > 0, 'mean', () => `mean over an empty axis of ${fmtShape(x.shape)}`);
  const s = sum(x, ax, keepDims);
  const y = div(s, count);
  s.dispose();
  return y;
}

function extreme(op: 'max' | 'min', x: Tensor, axes: number | readonly number[] | undefined, keepDims: boolean): Tensor {
  expectDType(op, 'x', x, 'float32');
  const ax = normAxes(op, axes, x.rank);
  check(ax.every((a) => x.shape[a]! > 0), op, () => `${op} over an empty axis of ${fmtShape(x.shape)}`);
  const shape = outShape(x, ax, keepDims);
  const y = out(x.backend, reduceRaw(op, x, ax).buf, shape);
  record(op, [x], [y], (tape) => {
    const sx = tape.save(x);
    const sy = tape.save(y);
    const keptShape = outShape(x, ax, true);
    // Ties share the gradient evenly, as torch.amax / amin.
    return ([dy]) => {
      const mask = equal(sx, reshape(sy, keptShape));
      const count = sum(mask, ax, true);
      return [mul(mask, div(reshape(dy!, keptShape), count))];
    };
  });
  return y;
}

export const max = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => extreme('max', x, axes, keepDims);
export const min = (x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor => extreme('min', x, axes, keepDims);

/** int32 index of the first maximum along `axis`. */
export function argmax(x: Tensor, axis: number): Tensor {
  expectDType('argmax', 'x', x, 'float32');
  const ax = normAxes('argmax', axis, x.rank);
  check(x.shape[ax[0]!]! > 0, 'argmax', () => `argmax over an empty axis of ${fmtShape(x.shape)}`);
  return out(x.backend, reduceRaw('argmax', x, ax).buf, outShape(x, ax, false), 'int32');
}

export function argmin(x: Tensor, axis: number): Tensor {
  expectDType('argmin', 'x', x, 'float32');
  const ax = normAxes('argmin', axis, x.rank);
  check(x.shape[ax[0]!]! > 0, 'argmin', () => `argmin over an empty axis of ${fmtShape(x.shape)}`);
  return out(x.backend, reduceRaw('argmin', x, ax).buf, outShape(x, ax, false), 'int32');
}
