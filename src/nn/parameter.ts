import { keep } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';

/**
 * A named, trainable slot holding a tensor. Tensors are immutable, so training replaces the
 * value (`assign`) and frees the old one; the parameter object itself stays the same, which is
 * what optimisers and state dicts key on.
 */
export class Parameter {
  private _value: Tensor;
  /**
   * Multiplier of the optimiser's learning rate for this parameter (Caffe's lr_mult; a parameter
   * group's lr in torch.optim). Distillation sets it below 1 on heads copied from the teacher, so
   * the large early steps a fresh backbone wants do not undo them. Not checkpointed: it is
   * configuration, set again by whoever builds the model.
   */
  lrScale = 1;

  constructor(
    value: Tensor,
    /** False for frozen parameters (a teacher, or a fine-tuning setup). */
    public trainable = true,
  ) {
    this._value = keep(value);
  }

  get value(): Tensor {
    return this._value;
  }

  get shape(): readonly number[] {
    return this._value.shape;
  }

  /** Replace the value (same shape), freeing the previous tensor. */
  assign(next: Tensor): void {
    if (next === this._value) return;
    if (next.shape.length !== this._value.shape.length || next.shape.some((d, i) => d !== this._value.shape[i])) {
      throw new Error(`kdet.Parameter.assign: shape [${next.shape}] does not match [${this._value.shape}]`);
    }
    const old = this._value;
    this._value = keep(next);
    old.dispose();
  }

  dispose(): void {
    this._value.dispose();
  }
}
