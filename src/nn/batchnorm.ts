import type { Backend } from '../engine/backend.js';
import { full, ones, zeros } from '../engine/ops/creation.js';
import { batchNormTrain } from '../engine/ops/batchnorm.js';
import { add, div, mul, sqrt, square, sub } from '../engine/ops/elementwise.js';
import { reshape } from '../engine/ops/layout.js';
import { mean } from '../engine/ops/reduce.js';
import { scope } from '../engine/scope.js';
import { noGrad } from '../engine/tape.js';
import type { Tensor } from '../engine/tensor.js';
import { Module } from './module.js';
import type { Parameter } from './parameter.js';

/*
 * Batch normalisation, composed from the engine's differentiable ops (the gradient, including the
 * batch statistics' part, comes from the tape).
 *
 * kdet's Module has no separate buffer registry, and checkpoints and state dicts collect
 * parameters only. Running statistics are therefore registered as *non-trainable parameters*
 * ("buffers"): they are saved and loaded with checkpoints and state dicts under PyTorch's names,
 * are left out of `trainableParameters()` (which is what optimisers are given), and their
 * `trainable` flag is pinned to false so `Module.setTrainable(true)` cannot make an optimiser
 * update them.
 */

/** Register `value` as a buffer: a parameter whose `trainable` is always false. */
function pinFrozen(p: Parameter): Parameter {
  Object.defineProperty(p, 'trainable', { get: () => false, set: () => {}, configurable: true, enumerable: true });
  return p;
}

export interface BatchNorm2dOptions {
  eps?: number;
  /** Weight of the new batch statistic in the running average; null: cumulative average (torch's momentum=None). */
  momentum?: number | null;
  /** Learnable per-channel weight and bias. */
  affine?: boolean;
  /** Keep running statistics (used in eval mode); without them eval mode uses the batch's statistics too. */
  trackRunningStats?: boolean;
  backend?: Backend;
}

/** Per-channel view [1, C, 1, 1] of a [C] vector. */
const chan = (t: Tensor): Tensor => reshape(t, [1, t.shape[0]!, 1, 1]);

/**
 * Training-mode batch norm of x [N, C, H, W] with the batch's statistics: the output, and the
 * per-channel mean and biased variance ([1, C, 1, 1]). Differentiable in x, weight and bias
 * (weight and bias [C], or null for no affine transform).
 */
export function batchNorm2dTrain(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): { y: Tensor; mean: Tensor; variance: Tensor } {
  return scope(() => {
    // The backend's fused kernel where it has one (wasm): one pass for the statistics, one for y.
    const fused = batchNormTrain(x, weight, bias, eps);
    if (!fused) return batchNorm2dTrainComposed(x, weight, bias, eps);
    return { y: fused.y, mean: chan(fused.mean), variance: chan(fused.variance) };
  });
}

/**
 * The same from the engine's elementwise and reduction ops (backends without a fused kernel; the
 * independent check of the fused ones). Its mean and variance are differentiable too.
 */
export function batchNorm2dTrainComposed(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): { y: Tensor; mean: Tensor; variance: Tensor } {
  return scope(() => {
    const mu = mean(x, [0, 2, 3], true);
    const xc = sub(x, mu);
    const variance = mean(square(xc), [0, 2, 3], true);
    const xhat = mul(xc, div(1, sqrt(add(variance, eps))));
    const scaled = weight ? mul(xhat, chan(weight)) : xhat;
    const y = bias ? add(scaled, chan(bias)) : scaled;
    return { y, mean: mu, variance };
  });
}

/**
 * Eval-mode (and frozen) batch norm: y = x · scale + shift per channel, with
 * scale = weight · rsqrt(var + eps) and shift = bias − mean · scale.
 */
export function batchNorm2dInference(x: Tensor, mean: Tensor, variance: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  return scope(() => {
    const inv = div(1, sqrt(add(variance, eps)));
    const scale = weight ? mul(weight, inv) : inv;
    const ms = mul(mean, scale);
    const shift = bias ? sub(bias, ms) : mul(ms, -1);
    return add(mul(x, chan(scale)), chan(shift));
  });
}

/**
 * torch.nn.BatchNorm2d over [N, C, H, W]. State names as PyTorch's: `weight`, `bias` (trainable,
 * when affine), `running_mean`, `running_var`, `num_batches_tracked` (buffers, when tracking;
 * `num_batches_tracked` is a float32 scalar here, int64 in PyTorch).
 *
 * Training mode normalises with the batch's per-channel mean and biased variance and updates the
 * running stats with the unbiased variance: r ← (1 − momentum)·r + momentum·batch. Eval mode uses
 * the running stats.
 */
export class BatchNorm2d extends Module {
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  readonly runningMean: Parameter | null;
  readonly runningVar: Parameter | null;
  readonly numBatchesTracked: Parameter | null;
  readonly eps: number;
  readonly momentum: number | null;

  constructor(
    readonly channels: number,
    opts: BatchNorm2dOptions = {},
  ) {
    super();
    if (!Number.isInteger(channels) || channels <= 0) throw new Error(`kdet.BatchNorm2d: channels must be a positive integer, got ${channels}`);
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    const backend = opts.backend;
    const affine = opts.affine ?? true;
    this.weight = affine ? this.addParameter('weight', ones([channels], { backend })) : null;
    this.bias = affine ? this.addParameter('bias', zeros([channels], { backend })) : null;
    if (opts.trackRunningStats ?? true) {
      this.runningMean = pinFrozen(this.addParameter('running_mean', zeros([channels], { backend }), false));
      this.runningVar = pinFrozen(this.addParameter('running_var', ones([channels], { backend }), false));
      this.numBatchesTracked = pinFrozen(this.addParameter('num_batches_tracked', zeros([], { backend }), false));
    } else {
      this.runningMean = this.runningVar = this.numBatchesTracked = null;
    }
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.channels) {
      throw new Error(`kdet.BatchNorm2d: expected input [N, ${this.channels}, H, W], got [${x.shape}]`);
    }
    const useBatch = this.training || !this.runningMean;
    if (!useBatch) return this.forwardEval(x);
    const [n, , h, w] = x.shape as [number, number, number, number];
    const count = n * h * w;
    if (count < 2) throw new Error(`kdet.BatchNorm2d: expected more than 1 value per channel when training, got input [${x.shape}]`);
    return scope(() => {
      const { y, mean: mu, variance } = batchNorm2dTrain(x, this.weight?.value ?? null, this.bias?.value ?? null, this.eps);
      if (this.training && this.runningMean && this.runningVar && this.numBatchesTracked) {
        this.updateRunningStats(mu, variance, count);
      }
      return y;
    });
  }

  private forwardEval(x: Tensor): Tensor {
    return batchNorm2dInference(x, this.runningMean!.value, this.runningVar!.value, this.weight?.value ?? null, this.bias?.value ?? null, this.eps);
  }

  private updateRunningStats(mu: Tensor, v: Tensor, count: number): void {
    noGrad(() => {
      const nbt = this.numBatchesTracked!;
      const rm = this.runningMean!;
      const rv = this.runningVar!;
      const [nextCount, nextMean, nextVar] = scope(() => {
        const c = add(nbt.value, 1);
        const batchMean = reshape(mu, [this.channels]);
        const batchVar = mul(reshape(v, [this.channels]), count / (count - 1));
        // momentum=null: cumulative average, the batch's weight is 1 / (batches seen), kept on
        // the device (no read-back, and right after loading a checkpoint).
        const m: Tensor | number = this.momentum ?? div(1, c);
        const blend = (r: Tensor, b: Tensor): Tensor => add(r, mul(sub(b, r), m));
        return [c, blend(rm.value, batchMean), blend(rv.value, batchVar)];
      });
      nbt.assign(nextCount!);
      rm.assign(nextMean!);
      rv.assign(nextVar!);
    });
  }
}

/**
 * torchvision.ops.misc.FrozenBatchNorm2d: batch norm with fixed statistics and affine parameters,
 * all four buffers (`weight`, `bias`, `running_mean`, `running_var`; no `num_batches_tracked`),
 * none trainable. y = x · scale + shift with scale = weight · rsqrt(running_var + eps) and
 * shift = bias − running_mean · scale, in training and eval mode alike.
 */
export class FrozenBatchNorm2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly runningMean: Parameter;
  readonly runningVar: Parameter;

  constructor(
    readonly channels: number,
    readonly eps = 1e-5,
    opts: { backend?: Backend } = {},
  ) {
    super();
    if (!Number.isInteger(channels) || channels <= 0) throw new Error(`kdet.FrozenBatchNorm2d: channels must be a positive integer, got ${channels}`);
    const backend = opts.backend;
    this.weight = pinFrozen(this.addParameter('weight', ones([channels], { backend }), false));
    this.bias = pinFrozen(this.addParameter('bias', zeros([channels], { backend }), false));
    this.runningMean = pinFrozen(this.addParameter('running_mean', zeros([channels], { backend }), false));
    this.runningVar = pinFrozen(this.addParameter('running_var', full([channels], 1, { backend }), false));
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.channels) {
      throw new Error(`kdet.FrozenBatchNorm2d: expected input [N, ${this.channels}, H, W], got [${x.shape}]`);
    }
    return batchNorm2dInference(x, this.runningMean.value, this.runningVar.value, this.weight.value, this.bias.value, this.eps);
  }
}
