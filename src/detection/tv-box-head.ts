import type { Backend } from '../engine/backend.js';
import { flatten } from '../engine/ops/layout.js';
import type { Rng } from '../engine/random.js';
import { scope } from '../engine/scope.js';
import { noGrad } from '../engine/tape.js';
import type { Tensor } from '../engine/tensor.js';
import { relu } from '../engine/ops/elementwise.js';
import { Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { BoxCoder } from './box-coder.js';
import type { Boxes } from './boxes.js';
import type { Detections } from './faster-rcnn.js';
import type { FeatureMaps } from './fpn.js';
import { MultiScaleRoIAlign } from './multiscale-roi-align.js';
import { postprocessDetections } from './tv-postprocess.js';
import { TV_BOX_DEFAULTS, type TvBoxConfig } from './tv-presets.js';
import type { ImageSize } from './transform.js';

/**
 * torchvision's TwoMLPHead: the pooled features flattened, fc6 → ReLU → fc7 → ReLU, nn.Linear's
 * default init (U(±1/√fan_in)). The same as kdet's own TwoMLPHead, plus a backend to draw on.
 */
export class TvTwoMLPHead extends Module {
  readonly fc6: Linear;
  readonly fc7: Linear;

  constructor(inChannels: number, representationSize: number, rng: Rng, opts: { backend?: Backend } = {}) {
    super();
    this.fc6 = this.addModule('fc6', new Linear(inChannels, representationSize, rng, { backend: opts.backend }));
    this.fc7 = this.addModule('fc7', new Linear(representationSize, representationSize, rng, { backend: opts.backend }));
  }

  forward(x: Tensor): Tensor {
    return scope(() => relu(this.fc7.forward(relu(this.fc6.forward(flatten(x, 1))))));
  }

  /**
   * forward(pool.forward(features, boxes, imageSizes)) with fc6 applied as the pooler sees fit
   * (through the map's pixels where the map is smaller than the box count: the same values up to
   * float32 rounding, a fraction of the work).
   */
  forwardPooled(pool: MultiScaleRoIAlign, features: FeatureMaps, boxes: readonly Boxes[], imageSizes: readonly ImageSize[]): Tensor {
    return scope(() => relu(this.fc7.forward(relu(pool.forwardLinear(features, boxes, imageSizes, this.fc6.weight.value, this.fc6.bias?.value ?? null)))));
  }
}

/**
 * torchvision's FastRCNNPredictor: `cls_score` (C logits, background included) and `bbox_pred`
 * (4·C class-specific deltas) on the box head's features, with nn.Linear's default init
 * (kdet's own FastRCNNPredictor draws smaller ones for its small-image training).
 */
export class TvFastRCNNPredictor extends Module {
  readonly clsScore: Linear;
  readonly bboxPred: Linear;

  constructor(inChannels: number, readonly numClasses: number, rng: Rng, opts: { backend?: Backend } = {}) {
    super();
    this.clsScore = this.addModule('cls_score', new Linear(inChannels, numClasses, rng, { backend: opts.backend }));
    this.bboxPred = this.addModule('bbox_pred', new Linear(inChannels, numClasses * 4, rng, { backend: opts.backend }));
  }

  /** [K, D] (or [K, D, 1, 1]) → class logits [K, C] and box regression [K, 4C]. */
  forward(x: Tensor): { classLogits: Tensor; boxRegression: Tensor } {
    if (x.rank === 4 && (x.shape[2] !== 1 || x.shape[3] !== 1)) {
      throw new Error(`kdet.FastRCNNPredictor: x has the wrong shape, expecting the last two dimensions to be [1,1] instead of [${x.shape.slice(2)}]`);
    }
    return scope(() => {
      const flat = flatten(x, 1);
      return { classLogits: this.clsScore.forward(flat), boxRegression: this.bboxPred.forward(flat) };
    });
  }
}

export interface TvRoIHeadsOptions {
  /** Default ['0', '1', '2', '3'], 7, 2 (FasterRCNN's). */
  featmapNames?: readonly string[];
  outputSize?: number;
  samplingRatio?: number;
  /** TwoMLPHead's width, 1024 in FasterRCNN. */
  representationSize?: number;
  config?: Partial<TvBoxConfig>;
  backend?: Backend;
}

/**
 * The box branch of torchvision's RoIHeads: `box_roi_pool` (MultiScaleRoIAlign, no parameters),
 * `box_head` (TwoMLPHead on C·7·7 inputs) and `box_predictor` (FastRCNNPredictor), so parameters
 * are named `box_head.fc6.weight`, `box_predictor.cls_score.bias`, … (`roi_heads.` before them
 * under FasterRCNN).
 */
export class TvRoIHeads extends Module {
  readonly boxRoiPool: MultiScaleRoIAlign;
  readonly boxHead: TvTwoMLPHead;
  readonly boxPredictor: TvFastRCNNPredictor;
  readonly config: TvBoxConfig;
  readonly boxCoder: BoxCoder;

  constructor(inChannels: number, numClasses: number, rng: Rng, opts: TvRoIHeadsOptions = {}) {
    super();
    const size = opts.outputSize ?? 7;
    const representation = opts.representationSize ?? 1024;
    this.boxRoiPool = this.addModule('box_roi_pool', new MultiScaleRoIAlign(opts.featmapNames ?? ['0', '1', '2', '3'], size, opts.samplingRatio ?? 2));
    this.boxHead = this.addModule('box_head', new TvTwoMLPHead(inChannels * size * size, representation, rng, { backend: opts.backend }));
    this.boxPredictor = this.addModule('box_predictor', new TvFastRCNNPredictor(representation, numClasses, rng, { backend: opts.backend }));
    this.config = { ...TV_BOX_DEFAULTS, ...opts.config };
    this.boxCoder = new BoxCoder(this.config.bboxRegWeights);
  }

  /** Pool the proposals, run the head: class logits [K, C] and box regression [K, 4C], image-major. */
  forward(features: FeatureMaps, proposals: readonly Boxes[], imageSizes: readonly ImageSize[]): { classLogits: Tensor; boxRegression: Tensor } {
    return scope(() => this.boxPredictor.forward(this.boxHead.forwardPooled(this.boxRoiPool, features, proposals, imageSizes)));
  }

  /** Eval-mode RoIHeads.forward: the detections per image, boxes in the (transformed) input's pixels. */
  async detect(features: FeatureMaps, proposals: readonly Boxes[], imageSizes: readonly ImageSize[]): Promise<Detections[]> {
    const { classLogits, boxRegression } = noGrad(() => this.forward(features, proposals, imageSizes));
    try {
      return await postprocessDetections(classLogits, boxRegression, proposals, imageSizes, this.config, this.boxCoder);
    } finally {
      classLogits.dispose();
      boxRegression.dispose();
    }
  }
}
