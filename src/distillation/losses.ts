import { check, fmtShape } from '../engine/errors.js';
import { abs, add, div, greater, mul, square, sub } from '../engine/ops/elementwise.js';
import { crossEntropy, smoothL1, softmax } from '../engine/ops/nn.js';
import { mean, sum } from '../engine/ops/reduce.js';
import { tensor } from '../engine/ops/creation.js';
import { stopGradient } from '../engine/ops/layout.js';
import { noGrad } from '../engine/tape.js';
import type { Tensor } from '../engine/tensor.js';

/**
 * The paper's losses (Chen et al. 2017, §3; ../shared/PAPER.md). Each takes student outputs
 * that carry gradients and teacher outputs that do not (the teacher is frozen: its tensors are
 * treated as constants here even if a caller forgot noGrad).
 */

export interface SoftCEOptions {
  /** Temperature T: P = softmax(Z / T). */
  temperature: number;
  /** Per-class weights w_c [C] (background 1.5, others 1 in the paper); none = all 1. */
  classWeights?: readonly number[] | null;
  /**
   * Multiply the soft term by T² (Hinton et al. 2015, beyond the paper): when the logits differ
   * by much less than T the soft gradient shrinks as 1/T², which the factor undoes. Where they
   * differ by more (a student early in training) the factored gradient is about T times T 1's
   * instead: at T 2 and 4 it cost 11 and 26 mAP points here (README, results/ablation).
   */
  scaleByTemperatureSquared?: boolean;
}

/** Teacher probabilities at temperature T, as a constant. */
export function teacherProbabilities(teacherLogits: Tensor, temperature: number): Tensor {
  return noGrad(() => softmax(temperature === 1 ? teacherLogits : div(teacherLogits, temperature), 1));
}

/**
 * Class-weighted soft cross-entropy L_soft = −Σ_c w_c · P_t[c] · log P_s[c] per row, averaged
 * over the rows (the 1/M or 1/N of the paper's L_RPN / L_RCN).
 */
export function weightedSoftCrossEntropy(studentLogits: Tensor, teacherLogits: Tensor, opts: SoftCEOptions): Tensor {
  check(studentLogits.rank === 2 && studentLogits.shape.every((d, i) => d === teacherLogits.shape[i]) && teacherLogits.rank === 2, 'weightedSoftCrossEntropy', () =>
    `student logits ${fmtShape(studentLogits.shape)} and teacher logits ${fmtShape(teacherLogits.shape)} must be the same [N, C]`);
  check(opts.temperature > 0, 'weightedSoftCrossEntropy', () => `temperature must be > 0, got ${opts.temperature}`);
  const c = studentLogits.shape[1]!;
  if (opts.classWeights) {
    check(opts.classWeights.length === c, 'weightedSoftCrossEntropy', () => `classWeights has ${opts.classWeights!.length} entries for ${c} classes`);
  }
  const pt = teacherProbabilities(teacherLogits, opts.temperature);
  const zs = opts.temperature === 1 ? studentLogits : div(studentLogits, opts.temperature);
  const weight = opts.classWeights ? tensor(Float32Array.from(opts.classWeights), [c], { backend: studentLogits.backend }) : null;
  const ce = crossEntropy(zs, pt, { weight, reduction: 'mean' });
  return opts.scaleByTemperatureSquared && opts.temperature !== 1 ? mul(ce, opts.temperature ** 2) : ce;
}

export interface ClassificationDistillOptions extends SoftCEOptions {
  /** μ: weight of the hard (ground-truth) term; 1 − μ goes to the soft term. */
  mu: number;
}

/** L_cls = μ · L_hard(P_s, y) + (1 − μ) · L_soft(P_s, P_t); the class weights touch L_soft only. */
export function distillClassification(studentLogits: Tensor, teacherLogits: Tensor, labels: Tensor, opts: ClassificationDistillOptions): { total: Tensor; hard: Tensor; soft: Tensor } {
  check(opts.mu >= 0 && opts.mu <= 1, 'distillClassification', () => `mu must be in [0, 1], got ${opts.mu}`);
  const hard = crossEntropy(studentLogits, labels);
  const soft = weightedSoftCrossEntropy(studentLogits, teacherLogits, opts);
  return { total: add(mul(hard, opts.mu), mul(soft, 1 - opts.mu)), hard, soft };
}

/**
 * Distance between box deltas, per box: the paper's squared L2 (‖a − b‖²₂), or smooth-L1 summed
 * over the four coordinates with the ground-truth term's β (beyond the paper: its gradient is
 * capped at 1 per coordinate like the ground truth's, where L2's grows with the error).
 */
export type RegressionDistance = 'l2' | 'smooth-l1';

function boxDistance(a: Tensor, b: Tensor, distance: RegressionDistance, beta: number): Tensor {
  return distance === 'smooth-l1' ? sum(smoothL1(a, b, { beta, reduction: 'none' }), 1) : sum(square(sub(a, b)), 1);
}

/**
 * The teacher-bounded regression loss, per box: L_b = d(R_s, y) when d(R_s, y) + m > d(R_t, y),
 * else 0, with d the paper's ‖·‖²₂ by default. Returns the per-box losses [P] (sum them and divide
 * by the sampled batch size like the smooth-L1 term).
 */
export function boundedRegression(studentDeltas: Tensor, teacherDeltas: Tensor, targets: Tensor, margin = 0, distance: RegressionDistance = 'l2', beta = 1 / 9): Tensor {
  check(studentDeltas.rank === 2 && [studentDeltas, teacherDeltas, targets].every((t) => t.shape.length === 2 && t.shape[0] === studentDeltas.shape[0] && t.shape[1] === studentDeltas.shape[1]), 'boundedRegression', () =>
    `student ${fmtShape(studentDeltas.shape)}, teacher ${fmtShape(teacherDeltas.shape)} and targets ${fmtShape(targets.shape)} must be the same [P, 4]`);
  const studentErr = boxDistance(studentDeltas, targets, distance, beta);
  const teacherErr = noGrad(() => boxDistance(teacherDeltas, targets, distance, beta));
  // The switch is a constant mask: no gradient flows through the comparison.
  const active = noGrad(() => greater(add(studentErr, margin), teacherErr));
  return mul(studentErr, active);
}

/** The plain alternative the paper compares against: d(R_s, R_t) per box (teacher as target). */
export function teacherL2Regression(studentDeltas: Tensor, teacherDeltas: Tensor, distance: RegressionDistance = 'l2', beta = 1 / 9): Tensor {
  return boxDistance(studentDeltas, stopGradient(teacherDeltas), distance, beta);
}

export interface RegressionDistillOptions {
  /** ν: weight of the bounded term. */
  nu: number;
  margin: number;
  /** smooth-L1 threshold of the ground-truth term. */
  beta: number;
  /** Rows in the sampled batch: both terms are summed over positives and divided by this. */
  normaliser: number;
  /** 'bounded' (the paper) or 'l2' (plain L2 to the teacher, for the ablation). */
  mode?: 'bounded' | 'l2';
  /** Distance of either term: 'l2' (the paper) or 'smooth-l1' with `beta`. */
  distance?: RegressionDistance;
}

/** L_reg = L_smoothL1(R_s, y) + ν · L_b(R_s, R_t, y), both summed over boxes / normaliser. */
export function distillRegression(studentDeltas: Tensor, teacherDeltas: Tensor, targets: Tensor, opts: RegressionDistillOptions): { total: Tensor; smoothL1: Tensor; bounded: Tensor } {
  const n = Math.max(opts.normaliser, 1);
  const sl1 = div(smoothL1(studentDeltas, targets, { beta: opts.beta, reduction: 'sum' }), n);
  const distance = opts.distance ?? 'l2';
  const perBox = opts.mode === 'l2'
    ? teacherL2Regression(studentDeltas, teacherDeltas, distance, opts.beta)
    : boundedRegression(studentDeltas, teacherDeltas, targets, opts.margin, distance, opts.beta);
  const bounded = div(sum(perBox), n);
  return { total: add(sl1, mul(bounded, opts.nu)), smoothL1: sl1, bounded };
}

export interface HintOptions {
  norm: 'l2' | 'l1';
  /**
   * 'mean': averaged over every element (the common implementation);
   * 'sum-per-image': summed over channels and locations, averaged over the batch (the paper's
   * ‖V − Z‖² literally, per image).
   */
  reduction: 'mean' | 'sum-per-image';
  /** Optional [N, 1, H, W] 0/1 mask (fine-grained imitation): sum over masked locations / (2·Σmask). */
  mask?: Tensor | null;
}

/** L_hint(V, Z) between the adapted student features V and the teacher's hint Z (a constant). */
export function hintLoss(adapted: Tensor, teacherFeatures: Tensor, opts: HintOptions): Tensor {
  check(adapted.rank === 4 && adapted.shape.every((d, i) => d === teacherFeatures.shape[i]), 'hintLoss', () =>
    `adapted student features ${fmtShape(adapted.shape)} must match the teacher's hint layer ${fmtShape(teacherFeatures.shape)} (same channels via the adaptation layer, same stride)`);
  const z = stopGradient(teacherFeatures);
  const d = sub(adapted, z);
  const e = opts.norm === 'l1' ? abs(d) : square(d);
  if (opts.mask) {
    // Wang et al. 2019: Σ_masked Σ_c (V − Z)² / (2 · N_p), N_p = number of masked locations.
    const np = noGrad(() => sum(opts.mask!));
    return div(sum(mul(e, opts.mask)), mul(add(np, 1e-6), 2));
  }
  if (opts.reduction === 'mean') return mean(e);
  return div(sum(e), adapted.shape[0]!);
}

