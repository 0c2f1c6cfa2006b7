import { check, fmtShape } from '../engine/errors.js';
import { add, div, equal, mul, sqrt, square, sub, where } from '../engine/ops/elementwise.js';
import { reshape, stopGradient } from '../engine/ops/layout.js';
import { logSoftmax, mse, softmax } from '../engine/ops/nn.js';
import { mean, sum } from '../engine/ops/reduce.js';
import { noGrad } from '../engine/tape.js';
import type { Tensor } from '../engine/tensor.js';

/**
 * Two later feature-imitation losses that can stand in for the paper's hint (Chen et al. 2017)
 * on the same pair of maps: the adapted student feature S and the teacher's T, both [N, C, H, W].
 * Beyond the paper. Both are composed from the engine's differentiable ops, so their gradients
 * come from the tape on every backend; the teacher's side is a constant (no gradient flows into
 * it, even if a caller forgot noGrad).
 *
 * - PKD: Cao et al. 2022, "PKD: General Distillation Framework for Object Detectors via Pearson
 *   Correlation Coefficient" (NeurIPS 2022), as mmrazor's `PKDLoss`.
 * - CWD: Shu et al. 2021, "Channel-wise Knowledge Distillation for Dense Prediction" (ICCV 2021),
 *   as mmrazor's `ChannelWiseDivergence`.
 */

/** PKD's guard against a zero std: (x − mean) / (std + ε), as mmrazor writes it. */
export const PKD_EPS = 1e-6;

function checkPair(op: string, student: Tensor, teacher: Tensor): [number, number, number, number] {
  check(
    student.rank === 4 && teacher.rank === 4 && student.shape.every((d, i) => d === teacher.shape[i]),
    op,
    () => `adapted student features ${fmtShape(student.shape)} must match the teacher's features ${fmtShape(teacher.shape)} as [N, C, H, W] (same channels via the adaptation layer, same stride)`,
  );
  check(student.dtype === 'float32' && teacher.dtype === 'float32', op, () => `features must be float32, got ${student.dtype} and ${teacher.dtype}`);
  return student.shape as [number, number, number, number];
}

/**
 * Each channel standardised over N, H and W: (x − mean) / (std + 1e-6), std with the unbiased
 * (n − 1) estimator, torch.std's default. A constant channel (a dead ReLU channel reaching the
 * loss unadapted) gives 0, and its std passes no gradient, as torch.std's backward masks a zero
 * std: the gradient stays finite (large: 1e6 × what reaches the channel) instead of 0 · ∞ = NaN.
 */
export function standardisePerChannel(x: Tensor): Tensor {
  const [n, , h, w] = x.shape as [number, number, number, number];
  const count = n * h * w;
  const d = sub(x, mean(x, [0, 2, 3], true));
  const variance = div(sum(square(d), [0, 2, 3], true), count - 1);
  // sqrt's gradient 1 / (2·std) is infinite at 0; there the std is the constant 0 instead. A
  // NaN variance is not equal to 0 and stays NaN.
  const zero = noGrad(() => equal(variance, 0));
  const std = where(zero, 0, sqrt(where(zero, 1, variance)));
  return div(d, add(std, PKD_EPS));
}

/**
 * PKD: mse(norm(S), norm(T)) / 2, the mean over all elements, each channel of either map
 * standardised over N, H, W. Equals the mean over channels of (1 − r)·(m − 1)/m, r the Pearson
 * correlation of the two channels' m = N·H·W values (up to the ε). Unweighted: γ is the caller's
 * (mmrazor's Faster R-CNN FPN config weighs it 6 per level).
 */
export function pkdLoss(student: Tensor, teacher: Tensor): Tensor {
  const [n, , h, w] = checkPair('pkdLoss', student, teacher);
  check(n * h * w >= 2, 'pkdLoss', () => `the unbiased std of a channel needs at least 2 values over N, H, W; features ${fmtShape(student.shape)} have ${n * h * w}`);
  const normT = noGrad(() => standardisePerChannel(stopGradient(teacher)));
  return div(mse(standardisePerChannel(student), normT), 2);
}

/**
 * CWD: per (n, c), the softmax over the H·W positions at temperature τ of the teacher's map, p_T,
 * and of the student's, p_S; loss = τ² · Σ p_T · (log p_T − log p_S) / (N · C), the KL divergence
 * of the channel distributions summed over positions and averaged over images and channels.
 * Unweighted: γ is the caller's (mmrazor's Faster R-CNN FPN config: τ 1, weight 10 per level).
 */
export function cwdLoss(student: Tensor, teacher: Tensor, tau = 1): Tensor {
  const [n, c, h, w] = checkPair('cwdLoss', student, teacher);
  check(tau > 0 && Number.isFinite(tau), 'cwdLoss', () => `temperature τ must be a finite number > 0, got ${tau}`);
  const rows = n * c;
  const cols = h * w;
  const scale = (x: Tensor) => (tau === 1 ? x : div(x, tau));
  const t = noGrad(() => {
    const zt = scale(reshape(stopGradient(teacher), [rows, cols]));
    return { p: softmax(zt, 1), logP: logSoftmax(zt, 1) };
  });
  const logPs = logSoftmax(scale(reshape(student, [rows, cols])), 1);
  const kl = sum(mul(t.p, sub(t.logP, logPs)));
  return mul(kl, (tau * tau) / rows);
}
