import { add, div, minimum, mul, sqrt, square, sub } from '../engine/ops/elementwise.js';
import { sgdUpdate } from '../engine/ops/optim.js';
import { sum } from '../engine/ops/reduce.js';
import { keep, scope } from '../engine/scope.js';
import { noGrad } from '../engine/tape.js';
import type { Tensor } from '../engine/tensor.js';
import type { Parameter } from './parameter.js';

/** Anything an optimiser can checkpoint: per-parameter state tensors plus a step counter. */
export interface OptimizerState {
  step: number;
  /** slot name → one tensor per parameter (in the optimiser's parameter order). */
  slots: Record<string, (Tensor | null)[]>;
}

export abstract class Optimizer {
  step = 0;
  constructor(
    readonly params: readonly Parameter[],
    public lr: number,
  ) {}

  /**
   * Apply one update with gradients aligned to `params`; the gradients are not disposed.
   * `gradScale` (one value, e.g. clipGradCoefficient's) multiplies every gradient first, inside
   * the update where the optimiser fuses it (SGD), so no scaled copy of the gradients is made.
   */
  apply(grads: readonly Tensor[], opts: { gradScale?: Tensor } = {}): void {
    if (grads.length !== this.params.length) {
      throw new Error(`kdet.${this.constructor.name}.apply: ${grads.length} gradients for ${this.params.length} parameters`);
    }
    this.params.forEach((p, i) => {
      const g = grads[i]!;
      if (g.shape.length !== p.shape.length || g.shape.some((d, j) => d !== p.shape[j])) {
        throw new Error(`kdet.${this.constructor.name}.apply: gradient ${i} has shape [${g.shape}] for parameter [${p.shape}]`);
      }
    });
    this.step++;
    const s = opts.gradScale ?? null;
    noGrad(() => this.params.forEach((p, i) => this.update(p, i, grads[i]!, s)));
  }

  protected abstract update(p: Parameter, index: number, grad: Tensor, gradScale: Tensor | null): void;
  abstract state(): OptimizerState;
  abstract loadState(state: OptimizerState): void;

  dispose(): void {
    for (const list of Object.values(this.state().slots)) for (const t of list) t?.dispose();
  }
}

/** Replace a slot's tensor, keeping it out of scopes and freeing the previous one. */
function swap(slots: (Tensor | null)[], i: number, next: Tensor): Tensor {
  slots[i]?.dispose();
  slots[i] = keep(next);
  return next;
}

export interface SGDOptions {
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/**
 * torch.optim.SGD: d = g + wd·p; buf = μ·buf + d (buf = d at the first step); p −= lr·buf, with
 * lr times the parameter's lrScale.
 */
export class SGD extends Optimizer {
  private readonly momentumBuf: (Tensor | null)[];

  constructor(
    params: readonly Parameter[],
    lr: number,
    readonly opts: SGDOptions = {},
  ) {
    super(params, lr);
    this.momentumBuf = params.map(() => null);
  }

  protected update(p: Parameter, i: number, g: Tensor, gradScale: Tensor | null): void {
    const { momentum = 0, weightDecay = 0, nesterov = false } = this.opts;
    // One fused kernel per parameter (engine/ops/optim.ts): the same float32 operations as the
    // elementwise spelling, without its five or six passes over the tensor and their allocations.
    const r = sgdUpdate(p.value, g, this.momentumBuf[i] ?? null, { lr: this.lr * p.lrScale, momentum, weightDecay, nesterov }, gradScale);
    if (r.momentum) swap(this.momentumBuf, i, r.momentum);
    p.assign(r.param);
  }

  state(): OptimizerState {
    return { step: this.step, slots: { momentum: this.momentumBuf } };
  }

  loadState(state: OptimizerState): void {
    loadSlots(this.momentumBuf, state.slots.momentum, this.params);
    this.step = state.step;
  }
}

export interface AdamOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/** torch.optim.Adam (L2 weight decay added to the gradient, bias-corrected moments), lr times the parameter's lrScale. */
export class Adam extends Optimizer {
  private readonly m: (Tensor | null)[];
  private readonly v: (Tensor | null)[];

  constructor(
    params: readonly Parameter[],
    lr: number,
    readonly opts: AdamOptions = {},
  ) {
    super(params, lr);
    this.m = params.map(() => null);
    this.v = params.map(() => null);
  }

  protected update(p: Parameter, i: number, grad: Tensor, gradScale: Tensor | null): void {
    const { beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0 } = this.opts;
    const t = this.step;
    const next = scope(() => {
      const g = gradScale ? mul(grad, gradScale) : grad;
      const d = weightDecay ? add(g, mul(p.value, weightDecay)) : g;
      const m0 = this.m[i];
      const v0 = this.v[i];
      const m = swap(this.m, i, m0 ? add(mul(m0, beta1), mul(d, 1 - beta1)) : mul(d, 1 - beta1));
      const v = swap(this.v, i, v0 ? add(mul(v0, beta2), mul(square(d), 1 - beta2)) : mul(square(d), 1 - beta2));
      const mHat = div(m, 1 - beta1 ** t);
      const denom = add(sqrt(div(v, 1 - beta2 ** t)), eps);
      return sub(p.value, mul(div(mHat, denom), this.lr * p.lrScale));
    });
    p.assign(next);
  }

  state(): OptimizerState {
    return { step: this.step, slots: { m: this.m, v: this.v } };
  }

  loadState(state: OptimizerState): void {
    loadSlots(this.m, state.slots.m, this.params);
    loadSlots(this.v, state.slots.v, this.params);
    this.step = state.step;
  }
}

function loadSlots(target: (Tensor | null)[], source: (Tensor | null)[] | undefined, params: readonly Parameter[]): void {
  if (!source || source.length !== target.length) {
    throw new Error(`kdet.Optimizer.loadState: expected ${target.length} slot tensors, got ${source?.length ?? 'none'}`);
  }
  source.forEach((t, i) => {
    const p = params[i]!;
    if (t && (t.shape.length !== p.shape.length || t.shape.some((d, j) => d !== p.shape[j]))) {
      throw new Error(`kdet.Optimizer.loadState: slot ${i} has shape [${t.shape}] for parameter [${p.shape}]`);
    }
    target[i]?.dispose();
    target[i] = t ? keep(t) : null;
  });
}

/**
 * The factor that brings the gradients' global L2 norm down to at most `maxNorm`
 * (min(maxNorm / (norm + 1e-6), 1), as torch.nn.utils.clip_grad_norm_), and the norm before
 * clipping, both as one-element tensors computed on the device so GPU backends need not read
 * back. Pass `coef` to Optimizer.apply's gradScale to clip without copying the gradients.
 */
export function clipGradCoefficient(grads: readonly Tensor[], maxNorm: number): { coef: Tensor; norm: Tensor } {
  return noGrad(() => {
    const norm = scope(() => sqrt(grads.map((g) => sum(square(g))).reduce((a, b) => add(a, b))));
    const coef = scope(() => minimum(div(maxNorm, add(norm, 1e-6)), 1));
    return { coef, norm };
  });
}

/**
 * Scale gradients so their global L2 norm is at most `maxNorm` (torch.nn.utils.clip_grad_norm_).
 * Returns the new gradient list (the old tensors are disposed) and the norm before clipping as a
 * tensor, computed on the device so GPU backends need not read back.
 */
export function clipGradNorm(grads: Tensor[], maxNorm: number): { grads: Tensor[]; norm: Tensor } {
  const { coef, norm } = clipGradCoefficient(grads, maxNorm);
  const clipped = noGrad(() =>
    grads.map((g) => {
      const r = mul(g, coef);
      g.dispose();
      return r;
    }),
  );
  coef.dispose();
  return { grads: clipped, norm };
}
