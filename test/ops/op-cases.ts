import * as k from '../../src/engine/index.js';
import type { Tensor } from '../../src/engine/tensor.js';
import type { GradInput } from '../helpers/gradcheck.js';
import { away, distinct, ints, mask01, probabilities, randn, type Rng, uniform } from '../helpers/random.js';

/**
 * Differentiable calls of every engine op with inputs drawn clear of kinks (no ties for max-like
 * ops, nothing near relu/abs/clamp/smooth-L1 breakpoints), used by the finite-difference checks and
 * the cross-backend gradient comparisons.
 */
export interface OpCase {
  name: string;
  inputs: (rng: Rng) => GradInput[];
  fn: (...xs: Tensor[]) => Tensor;
  /** Cross-backend tolerance when 1e-4 is not enough, with the reason. */
  rtol?: number;
  why?: string;
}

const f = (shape: number[], data: Float64Array): GradInput => ({ data, shape });
const noGradF = (shape: number[], data: Float64Array): GradInput => ({ data, shape, grad: false });
const i32 = (shape: number[], data: Int32Array): GradInput => ({ data, shape, dtype: 'int32' });
const n = (shape: number[]) => shape.reduce((p, d) => p * d, 1);
const normal = (rng: Rng, shape: number[], scale = 1) => f(shape, randn(rng, n(shape), scale));

/** Values on a 0.1 grid offset by `offset` (plus jitter < 0.025): two such sets never tie. */
function gridValues(rng: Rng, shape: number[], offset: number): GradInput {
  return f(shape, distinct(rng, n(shape), 0.1).map((v) => Math.fround(v + offset)));
}

/** Normal values pushed at least `gap` away from each of `points`. */
function avoiding(rng: Rng, shape: number[], points: number[], gap = 0.02): GradInput {
  const data = randn(rng, n(shape)).map((v) => {
    let x = v;
    for (const p of points) if (Math.abs(x - p) < gap) x = p + (x < p ? -gap : gap);
    return Math.fround(x);
  });
  return f(shape, data);
}

/** Pairs (pred, target) whose difference stays `gap` away from ±beta and from 0. */
function smoothL1Pair(rng: Rng, shape: number[], beta: number): GradInput[] {
  const pred = randn(rng, n(shape));
  const d = away(rng, n(shape), 0.05, 2).map((v) => (Math.abs(Math.abs(v) - beta) < 0.02 ? v * 1.2 : v));
  return [f(shape, pred), f(shape, pred.map((p, i) => Math.fround(p - d[i]!)))];
}

const unaryCases: OpCase[] = [
  { name: 'neg', inputs: (r) => [normal(r, [3, 4])], fn: (x) => k.neg(x) },
  { name: 'exp', inputs: (r) => [normal(r, [3, 4])], fn: (x) => k.exp(x) },
  { name: 'log', inputs: (r) => [f([3, 4], uniform(r, 12, 0.2, 3))], fn: (x) => k.log(x) },
  { name: 'sqrt', inputs: (r) => [f([3, 4], uniform(r, 12, 0.2, 3))], fn: (x) => k.sqrt(x) },
  { name: 'abs', inputs: (r) => [f([3, 4], away(r, 12))], fn: (x) => k.abs(x) },
  { name: 'relu', inputs: (r) => [f([3, 4], away(r, 12))], fn: (x) => k.relu(x) },
  { name: 'sigmoid', inputs: (r) => [normal(r, [3, 4], 2)], fn: (x) => k.sigmoid(x) },
  { name: 'tanh', inputs: (r) => [normal(r, [3, 4], 1.5)], fn: (x) => k.tanh(x) },
  { name: 'square', inputs: (r) => [normal(r, [3, 4])], fn: (x) => k.square(x) },
  { name: 'reciprocal', inputs: (r) => [f([3, 4], away(r, 12, 0.3, 2))], fn: (x) => k.reciprocal(x) },
  { name: 'clamp', inputs: (r) => [avoiding(r, [4, 5], [-0.5, 0.7])], fn: (x) => k.clamp(x, -0.5, 0.7) },
  { name: 'cast float32→float32', inputs: (r) => [normal(r, [2, 3])], fn: (x) => k.cast(x, 'float32') },
];

const binaryCases: OpCase[] = [
  { name: 'add [3,1,4]+[2,4]', inputs: (r) => [normal(r, [3, 1, 4]), normal(r, [2, 4])], fn: (a, b) => k.add(a, b) },
  { name: 'sub [2,3]-[]', inputs: (r) => [normal(r, [2, 3]), normal(r, [])], fn: (a, b) => k.sub(a, b) },
  { name: 'mul [4]*[3,1]', inputs: (r) => [normal(r, [4]), normal(r, [3, 1])], fn: (a, b) => k.mul(a, b) },
  { name: 'div [2,3]/[3]', inputs: (r) => [normal(r, [2, 3]), f([3], away(r, 3, 0.4, 2))], fn: (a, b) => k.div(a, b) },
  {
    name: 'pow [2,3]^[2,1]',
    inputs: (r) => [f([2, 3], uniform(r, 6, 0.4, 2)), f([2, 1], uniform(r, 2, -1.5, 2.5))],
    fn: (a, b) => k.pow(a, b),
  },
  { name: 'maximum [3,4] vs [4]', inputs: (r) => [gridValues(r, [3, 4], 0), gridValues(r, [4], 0.05)], fn: (a, b) => k.maximum(a, b) },
  { name: 'minimum [2,1,3] vs [2,3]', inputs: (r) => [gridValues(r, [2, 1, 3], 0), gridValues(r, [2, 3], 0.05)], fn: (a, b) => k.minimum(a, b) },
  { name: 'number operands', inputs: (r) => [f([2, 3], away(r, 6, 0.3, 2))], fn: (x) => k.add(k.mul(x, 2.5), k.div(1.5, k.sub(3, x))) },
  { name: 'pow with number exponent', inputs: (r) => [normal(r, [5])], fn: (x) => k.pow(x, 3) },
  {
    name: 'where broadcast',
    inputs: (r) => [noGradF([3, 1], mask01(r, 3)), normal(r, [3, 4]), normal(r, [4])],
    fn: (c, a, b) => k.where(c, a, b),
  },
];

const reduceCases: OpCase[] = [
  { name: 'sum axes [0,2] keepDims', inputs: (r) => [normal(r, [2, 3, 4])], fn: (x) => k.sum(x, [0, 2], true) },
  { name: 'sum all', inputs: (r) => [normal(r, [2, 3])], fn: (x) => k.sum(x) },
  { name: 'mean axis -1', inputs: (r) => [normal(r, [2, 3, 4])], fn: (x) => k.mean(x, -1) },
  { name: 'max axis 1', inputs: (r) => [gridValues(r, [3, 4, 2], 0)], fn: (x) => k.max(x, 1) },
  { name: 'max axes [0,2] keepDims', inputs: (r) => [gridValues(r, [3, 4, 2], 0)], fn: (x) => k.max(x, [0, 2], true) },
  { name: 'min all', inputs: (r) => [gridValues(r, [3, 4], 0)], fn: (x) => k.min(x) },
  { name: 'softmax axis 1', inputs: (r) => [normal(r, [2, 4, 3], 2)], fn: (x) => k.softmax(x, 1) },
  { name: 'logSoftmax axis 0', inputs: (r) => [normal(r, [3, 4], 2)], fn: (x) => k.logSoftmax(x, 0) },
  { name: 'softmax last axis', inputs: (r) => [normal(r, [3, 5], 2)], fn: (x) => k.softmax(x) },
];

const layoutCases: OpCase[] = [
  { name: 'reshape / flatten / unsqueeze / squeeze', inputs: (r) => [normal(r, [2, 3, 4])],
    fn: (x) => k.squeeze(k.unsqueeze(k.flatten(k.reshape(x, [4, 3, 2]), 1), 0), 0) },
  { name: 'transpose [2,0,1]', inputs: (r) => [normal(r, [2, 3, 4])], fn: (x) => k.transpose(x, [2, 0, 1]) },
  { name: 'slice', inputs: (r) => [normal(r, [3, 4, 5])], fn: (x) => k.slice(x, [1, 0, 2], [2, 3, -1]) },
  { name: 'pad', inputs: (r) => [normal(r, [2, 3])], fn: (x) => k.pad(x, [1, 0], [2, 3]) },
  { name: 'concat axis 1', inputs: (r) => [normal(r, [2, 1, 3]), normal(r, [2, 3, 3]), normal(r, [2, 2, 3])],
    fn: (a, b, c) => k.concat([a, b, c], 1) },
  { name: 'stack axis 1', inputs: (r) => [normal(r, [2, 3]), normal(r, [2, 3])], fn: (a, b) => k.stack([a, b], 1) },
  { name: 'gather axis 1 with repeats', inputs: (r) => [normal(r, [2, 5, 3]), i32([4], Int32Array.from([4, 0, 4, 2]))],
    fn: (x, i) => k.gather(x, i, 1) },
  { name: 'scatterAdd axis 0 with repeats', inputs: (r) => [normal(r, [4, 3]), i32([4], ints(r, 4, 0, 3))],
    fn: (s, i) => k.scatterAdd(s, i, 5, 0) },
  { name: 'broadcastTo', inputs: (r) => [normal(r, [3, 1, 2])], fn: (x) => k.broadcastTo(x, [2, 3, 4, 2]) },
];

const linalgCases: OpCase[] = [
  { name: 'matmul 2-D', inputs: (r) => [normal(r, [3, 4]), normal(r, [4, 2])], fn: (a, b) => k.matmul(a, b) },
  { name: 'matmul transA transB', inputs: (r) => [normal(r, [4, 3]), normal(r, [2, 4])],
    fn: (a, b) => k.matmul(a, b, { transA: true, transB: true }) },
  { name: 'matmul batched, b broadcast', inputs: (r) => [normal(r, [2, 3, 4]), normal(r, [4, 2])], fn: (a, b) => k.matmul(a, b) },
  { name: 'matmul batch-1 a, transB', inputs: (r) => [normal(r, [1, 3, 4]), normal(r, [2, 2, 4])],
    fn: (a, b) => k.matmul(a, b, { transB: true }) },
  { name: 'linear 3-D with bias', inputs: (r) => [normal(r, [2, 2, 3]), normal(r, [4, 3]), normal(r, [4])],
    fn: (x, w, b) => k.linear(x, w, b) },
];

const convCases: OpCase[] = [
  { name: 'conv2d stride 2 pad 1 bias', inputs: (r) => [normal(r, [2, 2, 5, 6]), normal(r, [3, 2, 3, 3], 0.5), normal(r, [3])],
    fn: (x, w, b) => k.conv2d(x, w, b, { stride: 2, padding: 1 }) },
  { name: 'conv2d groups 2 dilation 2 pad 2', inputs: (r) => [normal(r, [1, 4, 6, 5]), normal(r, [4, 2, 3, 3], 0.5)],
    fn: (x, w) => k.conv2d(x, w, null, { groups: 2, dilation: 2, padding: 2 }) },
  { name: 'conv2d depthwise 2x3 kernel', inputs: (r) => [normal(r, [1, 3, 5, 5]), normal(r, [3, 1, 2, 3], 0.5), normal(r, [3])],
    fn: (x, w, b) => k.conv2d(x, w, b, { groups: 3, stride: [1, 2], padding: [1, 0] }) },
  { name: 'maxPool2d 3x3/2 pad 1', inputs: (r) => [gridValues(r, [1, 2, 7, 6], 0)], fn: (x) => k.maxPool2d(x, 3, { stride: 2, padding: 1 }) },
  { name: 'maxPool2d 2x2/2 odd size', inputs: (r) => [gridValues(r, [2, 1, 5, 7], 0)], fn: (x) => k.maxPool2d(x, 2) },
];

const lossCases: OpCase[] = [
  { name: 'crossEntropy labels, weights, ignoreIndex, mean',
    inputs: (r) => [normal(r, [5, 4]), i32([5], Int32Array.from([0, 3, -100, 1, 3])), noGradF([4], uniform(r, 4, 0.3, 2))],
    fn: (x, t, w) => k.crossEntropy(x, t, { weight: w }) },
  { name: 'crossEntropy labels, sum', inputs: (r) => [normal(r, [4, 3]), i32([4], ints(r, 4, 0, 3))],
    fn: (x, t) => k.crossEntropy(x, t, { reduction: 'sum' }) },
  { name: 'crossEntropy soft targets, weights, none',
    inputs: (r) => [normal(r, [3, 4]), f([3, 4], probabilities(r, 3, 4)), noGradF([4], uniform(r, 4, 0.3, 2))],
    fn: (x, t, w) => k.crossEntropy(x, t, { weight: w, reduction: 'none' }) },
  { name: 'smoothL1 beta 1 mean', inputs: (r) => smoothL1Pair(r, [3, 4], 1), fn: (p, t) => k.smoothL1(p, t) },
  { name: 'smoothL1 beta 1/9 sum', inputs: (r) => smoothL1Pair(r, [3, 4], 1 / 9),
    fn: (p, t) => k.smoothL1(p, t, { beta: 1 / 9, reduction: 'sum' }) },
  { name: 'smoothL1 beta 0 none', inputs: (r) => smoothL1Pair(r, [2, 3], 0), fn: (p, t) => k.smoothL1(p, t, { beta: 0, reduction: 'none' }) },
  { name: 'mse mean', inputs: (r) => [normal(r, [3, 4]), normal(r, [3, 4])], fn: (p, t) => k.mse(p, t) },
];

/** ROIs over a [2, c, 6, 7] map at stride 2, partly outside, tiny, in both batch images. */
const ROIS = Float64Array.from([
  0, 1.3, 2.1, 9.7, 8.9,
  1, -3.6, -2.2, 6.4, 7.1,
  1, 8.2, 6.6, 17.9, 15.3,
  0, 5.0, 5.0, 5.6, 5.4,
]);

const detectionCases: OpCase[] = [
  { name: 'roiAlign sampling 2 aligned', inputs: (r) => [normal(r, [2, 2, 6, 7]), noGradF([4, 5], ROIS)],
    fn: (x, rois) => k.roiAlign(x, rois, { outputSize: [2, 3], spatialScale: 0.5, samplingRatio: 2, aligned: true }) },
  { name: 'roiAlign adaptive not aligned', inputs: (r) => [normal(r, [2, 2, 6, 7]), noGradF([4, 5], ROIS)],
    fn: (x, rois) => k.roiAlign(x, rois, { outputSize: 2, spatialScale: 0.5 }) },
  { name: 'roiPool', inputs: (r) => [gridValues(r, [2, 2, 6, 7], 0), noGradF([4, 5], ROIS)],
    fn: (x, rois) => k.roiPool(x, rois, { outputSize: [2, 2], spatialScale: 0.5 }) },
];

/** A small conv net's classification loss: every layer type of a detector head in one graph. */
const compositeCases: OpCase[] = [
  {
    name: 'conv → relu → maxPool → linear → crossEntropy',
    inputs: (r) => [
      normal(r, [2, 2, 6, 6]), normal(r, [3, 2, 3, 3], 0.4), normal(r, [3], 0.1),
      normal(r, [4, 27], 0.3), normal(r, [4], 0.1), i32([2], Int32Array.from([1, 3])),
    ],
    fn: (x, w, b, fw, fb, labels) => {
      const h = k.maxPool2d(k.relu(k.conv2d(x, w, b, { padding: 1 })), 2);
      return k.crossEntropy(k.linear(k.flatten(h, 1), fw, fb), labels);
    },
  },
];

export const OP_CASES: OpCase[] = [
  ...unaryCases, ...binaryCases, ...reduceCases, ...layoutCases, ...linalgCases,
  ...convCases, ...lossCases, ...detectionCases, ...compositeCases,
];
