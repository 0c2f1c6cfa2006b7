import type { BinaryOp, UnaryOp } from '../backend.js';
import { check, fmtShape } from '../errors.js';
import { broadcastedAxes, broadcastShapes, sameShape, type Shape } from '../shape.js';
import { record } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { full } from './creation.js';
import { reshape } from './layout.js';
import { sum } from './reduce.js';
import { backendOf, expectDType, out } from './util.js';

export type TensorLike = Tensor | number;

/** Sum a broadcast gradient back to `shape` (the adjoint of broadcasting). */
export function sumTo(t: Tensor, shape: Shape): Tensor {
  if (sameShape(t.shape, shape)) return t;
  const axes = broadcastedAxes(shape, t.shape);
  const s = sum(t, axes, true);
  return reshape(s, shape);
}

function unary(op: UnaryOp, x: Tensor, name: string = op): Tensor {
  expectDType(name, 'x', x, 'float32');
  const b = x.backend;
  return out(b, b.unary(op, x.buf, x.size), x.shape);
}

function unaryWithGrad(op: UnaryOp, x: Tensor, grad: (dy: Tensor, x: Tensor, y: Tensor) => Tensor, uses: 'x' | 'y'): Tensor {
  const y = unary(op, x);
  record(op, [x], [y], (tape) => {
    const sx = uses === 'x' ? tape.save(x) : x;
    const sy = uses === 'y' ? tape.save(y) : y;
    return ([dy]) => [grad(dy!, sx, sy)];
  });
  return y;
}

export const neg = (x: Tensor): Tensor => unaryWithGrad('neg', x, (dy) => neg(dy), 'y');
export const exp = (x: Tensor): Tensor => unaryWithGrad('exp', x, (dy, _x, y) => mul(dy, y), 'y');
export const log = (x: Tensor): Tensor => unaryWithGrad('log', x, (dy, x) => div(dy, x), 'x');
export const sqrt = (x: Tensor): Tensor => unaryWithGrad('sqrt', x, (dy, _x, y) => div(dy, mul(y, 2)), 'y');
export const abs = (x: Tensor): Tensor => unaryWithGrad('abs', x, (dy, x) => mul(dy, sign(x)), 'x');
export const relu = (x: Tensor): Tensor => unaryWithGrad('relu', x, (dy, x) => mul(dy, unary('step', x)), 'x');
export const sigmoid = (x: Tensor): Tensor =>
  unaryWithGrad('sigmoid', x, (dy, _x, y) => mul(dy, mul(y, sub(1, y))), 'y');
export const tanh = (x: Tensor): Tensor => unaryWithGrad('tanh', x, (dy, _x, y) => mul(dy, sub(1, square(y))), 'y');
export const square = (x: Tensor): Tensor => unaryWithGrad('square', x, (dy, x) => mul(dy, mul(x, 2)), 'x');
export const reciprocal = (x: Tensor): Tensor =>
  unaryWithGrad('reciprocal', x, (dy, _x, y) => neg(mul(dy, square(y))), 'y');
/** −1, 0 or 1; gradient zero. */
export const sign = (x: Tensor): Tensor => unary('sign', x);

/** min(max(x, lo), hi); the gradient passes where lo ≤ x ≤ hi (as PyTorch). */
export function clamp(x: Tensor, lo = -Infinity, hi = Infinity): Tensor {
  expectDType('clamp', 'x', x, 'float32');
  check(!(lo > hi), 'clamp', () => `lo ${lo} is greater than hi ${hi}`);
  const b = x.backend;
  const y = out(b, b.clamp(x.buf, x.size, lo, hi), x.shape);
  record('clamp', [x], [y], (tape) => {
    const sx = tape.save(x);
    return ([dy]) => [mul(dy!, mul(greaterEqual(sx, lo), lessEqual(sx, hi)))];
  });
  return y;
}

function operand(x: TensorLike, like: Tensor | null): Tensor {
  return typeof x === 'number' ? full([], x, like ? { backend: like.backend } : {}) : x;
}

function binaryRaw(op: BinaryOp, ta: Tensor, tb: Tensor): Tensor {
  expectDType(op, 'a', ta, 'float32');
  expectDType(op, 'b', tb, 'float32');
  const backend = backendOf(op, ta, tb);
  const shape = broadcastShapes(op, ta.shape, tb.shape);
  return out(backend, backend.binary(op, ta.buf, ta.shape, tb.buf, tb.shape, shape), shape);
}

/**
 * Numbers become scalar constants on the other operand's backend; they are inputs like any
 * tensor (never differentiated) and are released once the op is recorded.
 */
function binaryWithGrad(
  op: BinaryOp,
  a: TensorLike,
  b: TensorLike,
  grads: ((dy: Tensor, a: Tensor, b: Tensor, y: Tensor, needed: readonly boolean[]) => [Tensor | null, Tensor | null]) | null,
  save: { a?: boolean; b?: boolean; y?: boolean } = {},
): Tensor {
  if (typeof a === 'number' && typeof b === 'number') throw new TypeError(`kdet.${op}: at least one argument must be a Tensor`);
  const ta = operand(a, typeof b === 'number' ? null : b);
  const tb = operand(b, ta);
  const y = binaryRaw(op, ta, tb);
  if (grads) {
    record(op, [ta, tb], [y], (tape) => {
      const sa = save.a ? tape.save(ta) : ta;
      const sb = save.b ? tape.save(tb) : tb;
      const sy = save.y ? tape.save(y) : y;
      const aShape = ta.shape;
      const bShape = tb.shape;
      return ([dy], needed) => {
        const [da, db] = grads(dy!, sa, sb, sy, needed);
        return [da && needed[0] ? sumTo(da, aShape) : null, db && needed[1] ? sumTo(db, bShape) : null];
      };
    });
  }
  if (typeof a === 'number') ta.dispose();
  if (typeof b === 'number') tb.dispose();
  return y;
}

function binary(op: BinaryOp, a: TensorLike, b: TensorLike): Tensor {
  return binaryWithGrad(op, a, b, null);
}

export const add = (a: TensorLike, b: TensorLike): Tensor => binaryWithGrad('add', a, b, (dy) => [dy, dy], {});
export const sub = (a: TensorLike, b: TensorLike): Tensor => binaryWithGrad('sub', a, b, (dy) => [dy, neg(dy)], {});
export const mul = (a: TensorLike, b: TensorLike): Tensor =>
  binaryWithGrad('mul', a, b, (dy, a, b, _y, need) => [need[0] ? mul(dy, b) : null, need[1] ? mul(dy, a) : null], {
    a: true,
    b: true,
  });
export const div = (a: TensorLike, b: TensorLike): Tensor =>
  binaryWithGrad('div', a, b, (dy, _a, b, y, need) => {
    const da = div(dy, b);
    return [da, need[1] ? neg(mul(da, y)) : null];
  }, { b: true, y: true });
/** a^b; the gradient for b uses log(a) (NaN for a < 0, as PyTorch). */
export const pow = (a: TensorLike, b: TensorLike): Tensor =>
  binaryWithGrad('pow', a, b, (dy, a, b, y, need) => [
    // PyTorch's conventions at a zero base: d/da is 0 when b = 0, d/db is 0 when a = 0 and b ≥ 0.
    need[0] ? where(equal(b, 0), 0, mul(dy, mul(b, binary('pow', a, sub(b, 1))))) : null,
    need[1] ? where(mul(equal(a, 0), greaterEqual(b, 0)), 0, mul(dy, mul(y, log(a)))) : null,
  ], { a: true, b: true, y: true });
/** Elementwise maximum; on ties each side gets half the gradient (as torch.maximum). */
export const maximum = (a: TensorLike, b: TensorLike): Tensor =>
  binaryWithGrad('max', a, b, (dy, a, b) => tieSplit(dy, a, b), { a: true, b: true });
export const minimum = (a: TensorLike, b: TensorLike): Tensor =>
  binaryWithGrad('min', a, b, (dy, a, b) => tieSplit(dy, b, a), { a: true, b: true });

function tieSplit(dy: Tensor, winner: Tensor, loser: Tensor): [Tensor, Tensor] {
  const share = add(greater(winner, loser), mul(equal(winner, loser), 0.5));
  return [mul(dy, share), mul(dy, sub(1, share))];
}

// Comparisons give float32 0/1 and carry no gradient.
export const greater = (a: TensorLike, b: TensorLike): Tensor => binary('gt', a, b);
export const greaterEqual = (a: TensorLike, b: TensorLike): Tensor => binary('ge', a, b);
export const less = (a: TensorLike, b: TensorLike): Tensor => binary('lt', a, b);
export const lessEqual = (a: TensorLike, b: TensorLike): Tensor => binary('le', a, b);
export const equal = (a: TensorLike, b: TensorLike): Tensor => binary('eq', a, b);
export const notEqual = (a: TensorLike, b: TensorLike): Tensor => binary('ne', a, b);

/** cond ? a : b with broadcasting; cond is float32, non-zero meaning true. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  expectDType('where', 'cond', cond, 'float32');
  const ta = operand(a, cond);
  const tb = operand(b, cond);
  expectDType('where', 'a', ta, 'float32');
  expectDType('where', 'b', tb, 'float32');
  const backend = backendOf('where', cond, ta, tb);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, ta.shape), tb.shape);
  const y = out(backend, backend.where(cond.buf, cond.shape, ta.buf, ta.shape, tb.buf, tb.shape, shape), shape);
  record('where', [cond, ta, tb], [y], (tape) => {
    const sc = tape.save(cond);
    const aShape = ta.shape;
    const bShape = tb.shape;
    return ([dy], need) => [
      null,
      need[1] ? sumTo(where(sc, dy!, 0), aShape) : null,
      need[2] ? sumTo(where(sc, 0, dy!), bShape) : null,
    ];
  });
  if (typeof a === 'number') ta.dispose();
  if (typeof b === 'number') tb.dispose();
  return y;
}

export function cast(x: Tensor, dtype: 'float32' | 'int32'): Tensor {
  if (x.dtype === dtype) return reshape(x, x.shape);
  const b = x.backend;
  return out(b, b.cast(x.buf, x.size, x.dtype, dtype), x.shape, dtype);
}

/** int32 labels [n] → float32 one-hot [n, classes]; labels outside [0, classes) give zero rows. */
export function oneHot(labels: Tensor, classes: number): Tensor {
  expectDType('oneHot', 'labels', labels, 'int32');
  check(labels.rank === 1, 'oneHot', () => `labels: expected rank 1, got shape ${fmtShape(labels.shape)}`);
  check(Number.isInteger(classes) && classes > 0, 'oneHot', () => `classes must be a positive integer, got ${classes}`);
  const b = labels.backend;
  return out(b, b.oneHot(labels.buf, labels.size, classes), [labels.size, classes]);
}
