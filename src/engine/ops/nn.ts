import { check, fmtShape } from '../errors.js';
import { normAxes } from '../shape.js';
import { record } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { abs, cast, div, exp, less, mul, neg, notEqual, oneHot, square, sub, where } from './elementwise.js';
import { reshape, transpose } from './layout.js';
import { mean, sum } from './reduce.js';
import { expectDType, out } from './util.js';

function lastAxis(x: Tensor, axis: number, fn: (x2: Tensor) => Tensor): Tensor {
  const [a] = normAxes('softmax', axis, x.rank);
  if (a === x.rank - 1) return fn(x);
  const perm = [...x.shape.keys()].filter((i) => i !== a).concat([a!]);
  const inv = new Array<number>(perm.length);
  perm.forEach((v, i) => (inv[v] = i));
  const t = transpose(x, perm);
  const r = fn(t);
  const y = transpose(r, inv);
  t.dispose();
  r.dispose();
  return y;
}

function softmaxLast(x: Tensor, log: boolean): Tensor {
  const cols = x.shape[x.rank - 1]!;
  const rows = cols === 0 ? 0 : x.size / cols;
  const b = x.backend;
  const y = out(b, b.softmax(x.buf, rows, cols, log), x.shape);
  record(log ? 'logSoftmax' : 'softmax', [x], [y], (tape) => {
    const sy = tape.save(y);
    return ([dy]) => {
      if (log) {
        // d logsoftmax: dx = dy − softmax(x)·Σdy
        const s = sum(dy!, -1, true);
        return [sub(dy!, mul(exp(sy), s))];
      }
      // d softmax: dx = y·(dy − Σ dy·y)
      const s = sum(mul(dy!, sy), -1, true);
      return [mul(sy, sub(dy!, s))];
    };
  });
  return y;
}

export function softmax(x: Tensor, axis = -1): Tensor {
  expectDType('softmax', 'x', x, 'float32');
  return lastAxis(x, axis, (t) => softmaxLast(t, false));
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  expectDType('logSoftmax', 'x', x, 'float32');
  return lastAxis(x, axis, (t) => softmaxLast(t, true));
}

export type Reduction = 'mean' | 'sum' | 'none';

function reduce(loss: Tensor, reduction: Reduction): Tensor {
  return reduction === 'none' ? loss : reduction === 'sum' ? sum(loss) : mean(loss);
}

export interface CrossEntropyOptions {
  /** Per-class weights [C]. */
  weight?: Tensor | null;
  reduction?: Reduction;
  /** Hard labels equal to this are skipped (PyTorch's −100 default). */
  ignoreIndex?: number;
}

/**
 * Cross-entropy of logits [N, C] against int32 labels [N] or float32 probabilities [N, C], with
 * PyTorch 1.13's semantics: with hard labels and weights, 'mean' divides by Σ w[yᵢ] over the
 * non-ignored rows; with soft targets, loss_i = −Σ_c w_c p_ic log q_ic and 'mean' divides by N.
 */
export function crossEntropy(logits: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const reduction = opts.reduction ?? 'mean';
  expectDType('crossEntropy', 'logits', logits, 'float32');
  check(logits.rank === 2, 'crossEntropy', () => `logits: expected [N, C], got ${fmtShape(logits.shape)}`);
  const [n, c] = logits.shape as [number, number];
  const w = opts.weight ?? null;
  if (w) {
    expectDType('crossEntropy', 'weight', w, 'float32');
    check(w.rank === 1 && w.shape[0] === c, 'crossEntropy', () => `weight: expected [${c}], got ${fmtShape(w.shape)}`);
  }
  const logp = logSoftmax(logits, 1);
  if (target.dtype === 'int32') {
    check(target.rank === 1 && target.shape[0] === n, 'crossEntropy', () =>
      `target: labels must be [${n}] for logits ${fmtShape(logits.shape)}, got ${fmtShape(target.shape)}`);
    if (target.backend.canReadSync) {
      const labels = target.dataSync();
      const ignored = opts.ignoreIndex ?? -100;
      for (let i = 0; i < labels.length; i++) {
        const v = labels[i]!;
        check(v === ignored || (v >= 0 && v < c), 'crossEntropy', () => `target[${i}] = ${v} is not a class in [0, ${c}) nor ignoreIndex ${ignored}`);
      }
    }
    // Ignored labels (outside [0, C)) one-hot to zero rows, so they drop out of sum and weight.
    const ignore = opts.ignoreIndex ?? -100;
    let hot = oneHot(target, c);
    // An ignoreIndex inside [0, C) is a real class id: mask those rows out explicitly.
    if (ignore >= 0 && ignore < c) hot = mul(hot, reshape(notEqual(cast(target, 'float32'), ignore), [n, 1]));
    const wHot = w ? mul(hot, w) : hot;
    const loss = neg(sum(mul(wHot, logp), 1));
    if (reduction !== 'mean') return reduction === 'sum' ? sum(loss) : loss;
    return div(sum(loss), sum(wHot));
  }
  expectDType('crossEntropy', 'target', target, 'float32');
  check(target.rank === 2 && target.shape[0] === n && target.shape[1] === c, 'crossEntropy', () =>
    `target: soft targets must match logits ${fmtShape(logits.shape)}, got ${fmtShape(target.shape)}`);
  const weighted = w ? mul(target, w) : target;
  const loss = neg(sum(mul(weighted, logp), 1));
  return reduce(loss, reduction);
}

/** Smooth-L1 (Huber with threshold β), as torch.nn.functional.smooth_l1_loss; β = 0 is L1. */
export function smoothL1(pred: Tensor, target: Tensor, opts: { beta?: number; reduction?: Reduction } = {}): Tensor {
  const beta = opts.beta ?? 1;
  check(beta >= 0, 'smoothL1', () => `beta must be ≥ 0, got ${beta}`);
  check(pred.shape.length === target.shape.length && pred.shape.every((d, i) => d === target.shape[i]), 'smoothL1', () =>
    `pred ${fmtShape(pred.shape)} and target ${fmtShape(target.shape)} must have the same shape`);
  const d = sub(pred, target);
  const ad = abs(d);
  const loss = beta === 0 ? ad : where(less(ad, beta), div(mul(square(d), 0.5), beta), sub(ad, 0.5 * beta));
  return reduce(loss, opts.reduction ?? 'mean');
}

/** Mean squared error, as torch.nn.functional.mse_loss. */
export function mse(pred: Tensor, target: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  check(pred.shape.length === target.shape.length && pred.shape.every((d, i) => d === target.shape[i]), 'mse', () =>
    `pred ${fmtShape(pred.shape)} and target ${fmtShape(target.shape)} must have the same shape`);
  return reduce(square(sub(pred, target)), opts.reduction ?? 'mean');
}
