import * as k from '../../src/engine/index.js';
import type { Tensor } from '../../src/engine/tensor.js';

/**
 * How each fixture op name (scripts/make_fixtures.py) maps onto an engine call. Inputs arrive in
 * the fixture's positional order; params are the fixture's JSON params.
 */
type Params = Record<string, unknown>;
export type FixtureOp = (xs: Tensor[], p: Params) => Tensor | Promise<Tensor>;

const num = (p: Params, key: string): number => p[key] as number;
const nums = (p: Params, key: string): number[] => p[key] as number[];
const opt = <T>(v: unknown): T | undefined => (v === null || v === undefined ? undefined : (v as T));

type Binary = (a: k.TensorLike, b: k.TensorLike) => Tensor;
/** A binary op where the fixture may replace one side by a plain number (params.number = 'a' | 'b'). */
const binary = (f: Binary): FixtureOp => (xs, p) => {
  if (p.number === 'a') return f(num(p, 'value'), xs[0]!);
  if (p.number === 'b') return f(xs[0]!, num(p, 'value'));
  return f(xs[0]!, xs[1]!);
};

type Reduce = (x: Tensor, axes?: number | readonly number[], keepDims?: boolean) => Tensor;
const reduce = (f: Reduce): FixtureOp => ([x], p) => f(x!, opt<number | number[]>(p.axes), p.keepDims as boolean);

const roi = (p: Params): k.RoiOptions => ({
  outputSize: nums(p, 'outputSize') as [number, number],
  spatialScale: num(p, 'spatialScale'),
  samplingRatio: opt<number>(p.samplingRatio),
  aligned: opt<boolean>(p.aligned),
});

export const FIXTURE_OPS: Record<string, FixtureOp> = {
  neg: ([x]) => k.neg(x!),
  exp: ([x]) => k.exp(x!),
  log: ([x]) => k.log(x!),
  sqrt: ([x]) => k.sqrt(x!),
  abs: ([x]) => k.abs(x!),
  relu: ([x]) => k.relu(x!),
  sigmoid: ([x]) => k.sigmoid(x!),
  tanh: ([x]) => k.tanh(x!),
  square: ([x]) => k.square(x!),
  reciprocal: ([x]) => k.reciprocal(x!),
  sign: ([x]) => k.sign(x!),
  clamp: ([x], p) => k.clamp(x!, opt<number>(p.lo) ?? -Infinity, opt<number>(p.hi) ?? Infinity),

  add: binary(k.add),
  sub: binary(k.sub),
  mul: binary(k.mul),
  div: binary(k.div),
  pow: binary(k.pow),
  maximum: binary(k.maximum),
  minimum: binary(k.minimum),
  greater: binary(k.greater),
  greaterEqual: binary(k.greaterEqual),
  less: binary(k.less),
  lessEqual: binary(k.lessEqual),
  equal: binary(k.equal),
  notEqual: binary(k.notEqual),
  where: ([c, a, b]) => k.where(c!, a!, b!),

  sum: reduce(k.sum),
  mean: reduce(k.mean),
  max: reduce(k.max),
  min: reduce(k.min),
  argmax: ([x], p) => k.argmax(x!, num(p, 'axis')),
  argmin: ([x], p) => k.argmin(x!, num(p, 'axis')),

  reshape: ([x], p) => k.reshape(x!, nums(p, 'shape')),
  flatten: ([x], p) => k.flatten(x!, num(p, 'startAxis')),
  unsqueeze: ([x], p) => k.unsqueeze(x!, num(p, 'axis')),
  squeeze: ([x], p) => k.squeeze(x!, num(p, 'axis')),
  transpose: ([x], p) => k.transpose(x!, nums(p, 'perm')),
  slice: ([x], p) => k.slice(x!, nums(p, 'begin'), nums(p, 'size')),
  pad: ([x], p) => k.pad(x!, nums(p, 'before'), nums(p, 'after')),
  concat: (xs, p) => k.concat(xs, num(p, 'axis')),
  stack: (xs, p) => k.stack(xs, num(p, 'axis')),
  gather: ([x, i], p) => k.gather(x!, i!, num(p, 'axis')),
  scatterAdd: ([s, i], p) => k.scatterAdd(s!, i!, num(p, 'axisSize'), num(p, 'axis')),
  broadcastTo: ([x], p) => k.broadcastTo(x!, nums(p, 'shape')),
  stopGradient: ([x]) => k.stopGradient(x!),
  cast: ([x], p) => k.cast(x!, p.dtype as 'float32' | 'int32'),
  oneHot: ([l], p) => k.oneHot(l!, num(p, 'classes')),

  matmul: ([a, b], p) => k.matmul(a!, b!, { transA: p.transA as boolean, transB: p.transB as boolean }),
  linear: ([x, w, b]) => k.linear(x!, w!, b ?? null),
  conv2d: ([x, w, b], p) =>
    k.conv2d(x!, w!, b ?? null, {
      stride: opt(p.stride),
      padding: opt(p.padding),
      dilation: opt(p.dilation),
      groups: opt(p.groups),
    }),
  maxPool2d: ([x], p) => k.maxPool2d(x!, p.kernel as k.Pair, { stride: opt(p.stride), padding: opt(p.padding) }),

  softmax: ([x], p) => k.softmax(x!, num(p, 'axis')),
  logSoftmax: ([x], p) => k.logSoftmax(x!, num(p, 'axis')),
  crossEntropy: ([logits, target, weight], p) =>
    k.crossEntropy(logits!, target!, {
      weight: weight ?? null,
      reduction: p.reduction as k.Reduction,
      ignoreIndex: opt<number>(p.ignoreIndex),
    }),
  smoothL1: ([a, b], p) => k.smoothL1(a!, b!, { beta: num(p, 'beta'), reduction: p.reduction as k.Reduction }),
  mse: ([a, b], p) => k.mse(a!, b!, { reduction: p.reduction as k.Reduction }),

  roiAlign: ([x, r], p) => k.roiAlign(x!, r!, roi(p)),
  roiPool: ([x, r], p) => k.roiPool(x!, r!, roi(p)),
  boxIou: ([a, b]) => k.boxIou(a!, b!),
  nms: ([b, s], p) => k.nms(b!, s!, num(p, 'iouThreshold')),
};
