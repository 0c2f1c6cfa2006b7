import type { Backend } from '../engine/backend.js';
import { concat, reshape, transpose } from '../engine/ops/layout.js';
import type { Rng } from '../engine/random.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { normal } from '../nn/init.js';
import { Conv2d, Sequential } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { conv2dNormActivation } from '../models/conv-norm-act.js';

export interface TvRPNHeadOptions {
  /** Number of 3×3 conv + ReLU blocks (torchvision's conv_depth); 1 in every Faster R-CNN builder. */
  convDepth?: number;
  backend?: Backend;
}

/**
 * torchvision.models.detection.rpn.RPNHead (0.14): shared over the FPN levels, a 3×3 conv + ReLU,
 * then per anchor ONE objectness logit (sigmoid, unlike kdet's own 2-way RPNHead) and 4 box
 * deltas. The conv sits in Conv2dNormActivation inside a Sequential, so the parameter names are
 * torchvision's state_dict keys: `conv.0.0.weight`, `cls_logits.weight`, `bbox_pred.bias` (under
 * FasterRCNN, `rpn.head.` before them). Every conv is initialised N(0, 0.01) with zero bias, as
 * torchvision does.
 */
export class TvRPNHead extends Module {
  readonly conv: Sequential;
  readonly clsLogits: Conv2d;
  readonly bboxPred: Conv2d;

  constructor(
    readonly inChannels: number,
    readonly numAnchors: number,
    rng: Rng,
    opts: TvRPNHeadOptions = {},
  ) {
    super();
    const backend = opts.backend;
    const init = (shape: number[], r: Rng): Tensor => normal(shape, 0.01, r, backend);
    const blocks = Array.from({ length: opts.convDepth ?? 1 }, () =>
      conv2dNormActivation(inChannels, inChannels, 3, rng, { norm: null, activation: 'relu', init, backend }),
    );
    this.conv = this.addModule('conv', new Sequential(blocks));
    this.clsLogits = this.addModule('cls_logits', new Conv2d(inChannels, numAnchors, 1, rng, { init, backend }));
    this.bboxPred = this.addModule('bbox_pred', new Conv2d(inChannels, numAnchors * 4, 1, rng, { init, backend }));
  }

  /** Per level: objectness [N, A, H, W] and box deltas [N, 4A, H, W], as torchvision returns them. */
  forward(features: readonly Tensor[]): { logits: Tensor[]; bboxReg: Tensor[] } {
    const logits: Tensor[] = [];
    const bboxReg: Tensor[] = [];
    for (const feature of features) {
      const [l, b] = scope(() => {
        const t = this.conv.forward(feature);
        return [this.clsLogits.forward(t), this.bboxPred.forward(t)];
      });
      logits.push(l!);
      bboxReg.push(b!);
    }
    return { logits, bboxReg };
  }
}

/** torchvision's permute_and_flatten: [N, A·C, H, W] → [N, H·W·A, C] (location-major, anchor-minor). */
export function permuteAndFlatten(layer: Tensor, c: number): Tensor {
  const [n, ac, h, w] = layer.shape as [number, number, number, number];
  return scope(() => reshape(transpose(reshape(layer, [n, ac / c, c, h, w]), [0, 3, 4, 1, 2]), [n, -1, c]));
}

/**
 * torchvision's concat_box_prediction_layers: every level flattened in the anchor generator's
 * order and concatenated per image: objectness [N·M, C] (C = 1 for RPNHead) and deltas [N·M, 4],
 * image-major. Engine ops throughout, so a loss on them reaches the head's weights.
 */
export function concatBoxPredictionLayers(boxCls: readonly Tensor[], boxRegression: readonly Tensor[]): { objectness: Tensor; deltas: Tensor } {
  if (boxCls.length === 0 || boxCls.length !== boxRegression.length) {
    throw new Error(`kdet.concatBoxPredictionLayers: ${boxCls.length} objectness levels but ${boxRegression.length} regression levels`);
  }
  return scope(() => {
    const cls: Tensor[] = [];
    const reg: Tensor[] = [];
    boxCls.forEach((o, i) => {
      const r = boxRegression[i]!;
      const a = r.shape[1]! / 4;
      cls.push(permuteAndFlatten(o, o.shape[1]! / a));
      reg.push(permuteAndFlatten(r, 4));
    });
    const c = cls[0]!.shape[2]!;
    const objectness = reshape(cls.length === 1 ? cls[0]! : concat(cls, 1), [-1, c]);
    const deltas = reshape(reg.length === 1 ? reg[0]! : concat(reg, 1), [-1, 4]);
    return { objectness, deltas };
  });
}
