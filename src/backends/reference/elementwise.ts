import type { BinaryOp, UnaryOp } from '../../engine/backend.js';
import type { Shape } from '../../engine/shape.js';
import { refFail } from './buffer.js';
import { broadcastOffsets } from './indexing.js';

/** Scalar definitions of the unary ops, with PyTorch's behaviour on NaN and at kinks. */
const UNARY: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  // clamp_min(x, 0): NaN stays NaN.
  relu: (x) => (x > 0 || Number.isNaN(x) ? x : 0),
  // Written so that neither branch overflows exp().
  sigmoid: (x) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))),
  tanh: Math.tanh,
  square: (x) => x * x,
  // torch.sign is (0 < x) − (x < 0): 0 for NaN in PyTorch 1.13 (checked).
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  reciprocal: (x) => 1 / x,
  step: (x) => (x > 0 ? 1 : 0),
};

const BINARY: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  // torch.maximum / minimum propagate NaN from either side.
  max: (a, b) => (a > b || Number.isNaN(a) ? a : b),
  min: (a, b) => (a < b || Number.isNaN(a) ? a : b),
  pow: Math.pow,
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
};

export function unary(op: UnaryOp, x: Float64Array): Float64Array {
  const f = UNARY[op];
  if (!f) refFail('unary', `unknown op '${op}'`);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = f(x[i]!);
  return y;
}

export function clamp(x: Float64Array, lo: number, hi: number): Float64Array {
  const y = new Float64Array(x.length);
  // min(max(x, lo), hi) with NaN propagating, as torch.clamp.
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    y[i] = Number.isNaN(v) ? v : Math.min(Math.max(v, lo), hi);
  }
  return y;
}

export function binary(op: BinaryOp, a: Float64Array, aShape: Shape, b: Float64Array, bShape: Shape, outShape: Shape): Float64Array {
  const f = BINARY[op];
  if (!f) refFail('binary', `unknown op '${op}'`);
  const ia = broadcastOffsets('binary', aShape, outShape);
  const ib = broadcastOffsets('binary', bShape, outShape);
  const y = new Float64Array(ia.length);
  for (let i = 0; i < y.length; i++) y[i] = f(a[ia[i]!]!, b[ib[i]!]!);
  return y;
}

export function where(
  cond: Float64Array, condShape: Shape,
  a: Float64Array, aShape: Shape,
  b: Float64Array, bShape: Shape,
  outShape: Shape,
): Float64Array {
  const ic = broadcastOffsets('where', condShape, outShape);
  const ia = broadcastOffsets('where', aShape, outShape);
  const ib = broadcastOffsets('where', bShape, outShape);
  const y = new Float64Array(ic.length);
  // Non-zero (NaN included, as bool(NaN) in PyTorch) selects a.
  for (let i = 0; i < y.length; i++) y[i] = cond[ic[i]!] !== 0 ? a[ia[i]!]! : b[ib[i]!]!;
  return y;
}

export function oneHot(labels: Float64Array, classes: number): Float64Array {
  const y = new Float64Array(labels.length * classes);
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i]!;
    if (c >= 0 && c < classes) y[i * classes + c] = 1;
  }
  return y;
}

/** float → int truncates toward zero (PyTorch's `.to(torch.int32)`); int → float is exact. */
export function cast(x: Float64Array, to: 'float32' | 'int32'): Float64Array {
  return to === 'int32' ? x.map(Math.trunc) : x.slice();
}
