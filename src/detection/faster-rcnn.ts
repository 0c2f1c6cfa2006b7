import { tensor } from '../engine/ops/creation.js';
import { div, sub } from '../engine/ops/elementwise.js';
import { gather, reshape } from '../engine/ops/layout.js';
import { crossEntropy, smoothL1 } from '../engine/ops/nn.js';
import { scalar } from '../engine/ops/creation.js';
import type { Rng } from '../engine/random.js';
import { keep } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { Module } from '../nn/module.js';
import { AnchorGenerator } from './anchors.js';
import { Backbone } from './backbone.js';
import { BoxCoder } from './box-coder.js';
import type { Boxes } from './boxes.js';
import type { FasterRCNNConfig } from './config.js';
import { BoxHead, poolRois, roiTargets, type RoiTargets } from './roi-heads.js';
import { proposals, RPNHead, rpnTargets, type RPNTargets } from './rpn.js';
import { checkSizes, DetectionTransform, type ImageInput, type ImageSize, type TransformedBatch } from './transform.js';
import type { DetectionBatch } from '../data/types.js';

/** Smooth-L1 threshold of both heads' box losses (torchvision: 1/9). */
export const BOX_LOSS_BETA = 1 / 9;

export interface TargetBatch {
  /** Ground-truth boxes per image, [n, 4] (x1, y1, x2, y2) pixels. */
  boxes: readonly Boxes[];
  /** Ground-truth classes per image, 1..C. */
  labels: readonly Int32Array[];
  /**
   * Each image's own [height, width] inside the padded batch (torchvision's image_sizes):
   * proposals are clipped to it. Absent: every image fills the batch, as before per-image
   * sizes existed.
   */
  imageSizes?: readonly ImageSize[];
}

/** A batch ready for the detector: the image tensor and targets, plus the transform's sizes. */
export interface PreparedBatch {
  /** [N, C, H, W] in [0, 1], padded (the model normalises). */
  images: Tensor;
  /** Ground truth in the transformed images' pixels, with each image's size. */
  targets: TargetBatch & { imageSizes: readonly ImageSize[] };
  /** Each image's [height, width] before the transform: detections are mapped back to these. */
  originalSizes: readonly ImageSize[];
}

// A type alias (not an interface) so it is assignable to Record<string, Tensor>.
export type DetectorLosses = {
  rpnCls: Tensor;
  rpnReg: Tensor;
  roiCls: Tensor;
  roiReg: Tensor;
};

/** What a training forward pass exposes, for the loss and for distillation. */
export interface TrainForward {
  features: Tensor;
  rpn: { logits: Tensor; deltas: Tensor; targets: RPNTargets };
  roi: { logits: Tensor; deltas: Tensor; targets: RoiTargets };
  losses: DetectorLosses;
}

export interface Detections {
  boxes: Float32Array;
  scores: Float32Array;
  labels: Int32Array;
}

/**
 * Faster R-CNN on one feature map, cut like torchvision's: backbone → RPN (anchors, matcher,
 * sampler, proposals) → ROI heads (roi_align, two FC layers, predictor). Parameter names follow
 * torchvision's (`backbone.0.weight`, `rpn.head.cls_logits.weight`,
 * `roi_heads.box_predictor.cls_score.weight`) so that checkpoints map onto it.
 */
export class FasterRCNN extends Module {
  readonly backbone: Backbone;
  readonly rpnHead: RPNHead;
  readonly boxHead: BoxHead;
  readonly anchorGenerator: AnchorGenerator;
  readonly rpnCoder = new BoxCoder([1, 1, 1, 1]);
  readonly roiCoder = new BoxCoder([10, 10, 5, 5]);
  /** Images of any size into a batch and detections back (the identity without config.transform). */
  readonly transform: DetectionTransform;
  private readonly mean: Tensor;
  private readonly std: Tensor;

  constructor(
    readonly config: FasterRCNNConfig,
    rng: Rng,
  ) {
    super();
    // Checked first, so that a refused transform leaks nothing.
    this.transform = DetectionTransform.fromModelConfig(config);
    this.backbone = this.addModule('backbone', new Backbone(config.backbone, rng));
    this.anchorGenerator = new AnchorGenerator({ ...config.anchors, stride: this.backbone.stride });
    const rpn = this.addModule('rpn', new RPNContainer());
    this.rpnHead = rpn.add('head', new RPNHead(this.backbone.outChannels, this.anchorGenerator.perLocation, rng));
    const p = config.roiHeads.poolSize;
    this.boxHead = this.addModule('roi_heads', new BoxHead(this.backbone.outChannels * p * p, config.roiHeads.representationSize, config.numClasses + 1, rng));
    this.mean = keep(tensor(Float32Array.from(config.imageMean), [1, config.imageMean.length, 1, 1]));
    this.std = keep(tensor(Float32Array.from(config.imageStd), [1, config.imageStd.length, 1, 1]));
  }

  get stride(): number {
    return this.backbone.stride;
  }

  /** Backbone features of [0, 1] images [N, 3, H, W] (normalised here). */
  features(images: Tensor): Tensor {
    return this.backbone.forward(div(sub(images, this.mean), this.std));
  }

  anchorsFor(features: Tensor): Boxes {
    return this.anchorGenerator.anchors(features.shape[2]!, features.shape[3]!);
  }

  /**
   * The training forward pass with ground truth: features, RPN outputs and targets, proposals,
   * sampled ROIs and their head outputs, and the four losses normalised as in the paper
   * (classification averaged over the sampled batch, regression summed over positives and
   * divided by the sampled batch size).
   */
  async forwardTrain(images: Tensor, targets: TargetBatch, rng: Rng): Promise<TrainForward> {
    const n = images.shape[0]!;
    const padded: ImageSize = [images.shape[2]!, images.shape[3]!];
    const size = targets.imageSizes ?? Array.from({ length: n }, () => padded);
    checkSizes(size, n, padded, 'FasterRCNN.forwardTrain');
    const features = this.features(images);
    const anchors = this.anchorsFor(features);
    const rpnOut = this.rpnHead.forward(features);
    const rpnT = rpnTargets(anchors, targets.boxes, this.config.rpn, this.rpnCoder, rng);
    const props = await proposals(rpnOut.logits, rpnOut.deltas, anchors, n, size, this.config.rpn, this.rpnCoder, true);
    const roiT = roiTargets(props, targets.boxes, targets.labels, this.config.roiHeads, this.roiCoder, rng);
    const pooled = poolRois(features, roiT.rois, this.stride, this.config.roiHeads);
    const roiOut = this.boxHead.forward(pooled);
    const rpnLoss = classAndBoxLoss(rpnOut.logits, rpnOut.deltas, rpnT.sampled, rpnT.labels, rpnT.positive, rpnT.targets, 1);
    const roiLoss = classAndBoxLoss(roiOut.logits, roiOut.deltas, null, roiT.labels, roiT.positive, roiT.targets, this.config.numClasses + 1);
    return {
      features,
      rpn: { ...rpnOut, targets: rpnT },
      roi: { ...roiOut, targets: roiT },
      losses: { rpnCls: rpnLoss.cls, rpnReg: rpnLoss.reg, roiCls: roiLoss.cls, roiReg: roiLoss.reg },
    };
  }

  /**
   * Boxes, scores and labels per image (torchvision's postprocess_detections) of a batch as the
   * network sees it: [N, C, H, W] in [0, 1], no transform, boxes in the batch's pixels. Boxes
   * are clipped to each image's `imageSizes` when given (images padded into the batch), else to
   * H × W.
   */
  async detect(images: Tensor, imageSizes?: readonly ImageSize[]): Promise<Detections[]> {
    const { detect } = await import('./postprocess.js');
    return detect(this, images, imageSizes);
  }

  /**
   * Detect on images of any sizes and aspect ratios: through the model's transform (resize,
   * padding into one batch), clipped to each image's own size, and back to each original image's
   * pixels. Runs them as one batch; pass a few at a time for large sets.
   */
  async detectImages(images: readonly ImageInput[]): Promise<Detections[]> {
    if (images.length === 0) return [];
    const t = this.transform.batch(images);
    return this.detectTransformed(t);
  }

  /**
   * Detections of a loader's batch (images padded by the loader, each one's size in
   * `batch.sizes`), through the transform, in the pixels of the batch's images as the loader gave
   * them: the frame of `batch.boxes`.
   */
  async detectBatch(batch: DetectionBatch): Promise<Detections[]> {
    return this.detectTransformed(this.transform.fromBatch(batch));
  }

  /**
   * A loader's batch as forwardTrain wants it: through the transform (ground truth scaled with
   * the images), with each image's size for clipping. The identity keeps the loader's buffer.
   */
  prepareBatch(batch: DetectionBatch): PreparedBatch {
    return prepared(this.transform.fromBatch(batch), batch.labels);
  }

  private async detectTransformed(t: TransformedBatch): Promise<Detections[]> {
    const images = tensor(t.images, t.shape);
    try {
      const dets = await this.detect(images, t.imageSizes);
      return this.transform.postprocess(dets, t.imageSizes, t.originalSizes);
    } finally {
      images.dispose();
    }
  }

  override dispose(): void {
    super.dispose();
    this.mean.dispose();
    this.std.dispose();
  }
}

/** A transformed batch as tensors and targets. */
export function prepared(t: TransformedBatch, labels: readonly Int32Array[]): PreparedBatch {
  return {
    images: tensor(t.images, t.shape),
    targets: { boxes: t.boxes ?? [], labels, imageSizes: t.imageSizes },
    originalSizes: t.originalSizes,
  };
}

/** Holds the RPN head under the name `rpn.head`, as torchvision's RegionProposalNetwork. */
class RPNContainer extends Module {
  add<M extends Module>(name: string, m: M): M {
    return this.addModule(name, m);
  }
}

/**
 * Cross-entropy over the sampled rows plus smooth-L1 over the positive rows, the latter summed
 * and divided by the number of sampled rows (torchvision's normalisation of both heads).
 * `classes` > 1 means class-specific deltas [rows, classes·4] from which each positive row's
 * ground-truth class is taken.
 */
export function classAndBoxLoss(
  logits: Tensor,
  deltas: Tensor,
  sampled: Int32Array | null,
  labels: Int32Array,
  positive: Int32Array,
  targets: Float32Array,
  classes: number,
): { cls: Tensor; reg: Tensor } {
  const backend = logits.backend;
  const rows = sampled ? gatherRows(logits, sampled) : logits;
  const lab = tensor(labels, [labels.length], { dtype: 'int32', backend });
  const cls = crossEntropy(rows, lab);
  const count = labels.length;
  let reg: Tensor;
  if (positive.length === 0) {
    reg = scalar(0, { backend });
  } else {
    const pos = positiveDeltas(deltas, positive, sampled ? null : labels, classes);
    const tgt = tensor(targets, [positive.length, 4], { backend });
    reg = div(smoothL1(pos, tgt, { beta: BOX_LOSS_BETA, reduction: 'sum' }), count);
  }
  return { cls, reg };
}

/** The deltas of the positive rows, for their own class when deltas are class-specific. */
export function positiveDeltas(deltas: Tensor, positive: Int32Array, labels: Int32Array | null, classes: number): Tensor {
  if (classes === 1 || !labels) return gatherRows(deltas, positive);
  const idx = Int32Array.from(positive, (i) => i * classes + labels[i]!);
  return gatherRows(reshape(deltas, [-1, 4]), idx);
}

export function gatherRows(x: Tensor, rows: Int32Array): Tensor {
  const idx = tensor(rows, [rows.length], { dtype: 'int32', backend: x.backend });
  return gather(x, idx, 0);
}
