import { zerosLike } from '../engine/ops/creation.js';
import { concat } from '../engine/ops/layout.js';
import type { Rng } from '../engine/random.js';
import type { Tensor } from '../engine/tensor.js';
import type { Boxes } from './boxes.js';
import { classAndBoxLoss, gatherRows, type DetectorLosses, type TargetBatch } from './faster-rcnn.js';
import type { FeatureMaps } from './fpn.js';
import { roiTargets, type RoiTargets } from './roi-heads.js';
import { rpnTargets, type RPNTargets } from './rpn.js';
import type { TvBoxConfig, TvRPNConfig } from './tv-presets.js';
import { RPN_BOX_CODER } from './tv-proposals.js';
import type { TvRegionProposalNetwork } from './tv-rpn.js';
import type { TvRoIHeads } from './tv-box-head.js';
import { checkSizes, type ImageSize } from './transform.js';

/*
 * torchvision 0.14's FasterRCNN in training mode (GeneralizedRCNN.forward with targets): the RPN's
 * assign_targets_to_anchors + fg_bg_sampler + compute_loss, and RoIHeads' select_training_samples
 * + fastrcnn_loss, on kdet's matcher, sampler and box coders (the ones kdet's own presets train
 * with). Sampling is seeded by the caller's Rng instead of torch.randperm: the same distribution,
 * other draws; when the per-image batch exceeds the candidates both keep every one and the losses
 * agree with torchvision's exactly (test/detection/tv-train.test.ts).
 */

/** torchvision's names of the four losses (the keys of GeneralizedRCNN's loss dict). */
export const TV_LOSS_NAMES: Readonly<Record<keyof DetectorLosses, string>> = {
  rpnCls: 'loss_objectness',
  rpnReg: 'loss_rpn_box_reg',
  roiCls: 'loss_classifier',
  roiReg: 'loss_box_reg',
};

/** What a training forward exposes: for the losses, and for distillation on these models. */
export interface TvTrainForward {
  features: FeatureMaps;
  rpn: {
    /** [N·M, 1] objectness logits and [N·M, 4] deltas, on the tape. */
    objectness: Tensor;
    deltas: Tensor;
    /** [M, 4], every image's anchors. */
    anchors: Boxes;
    numAnchorsPerLevel: number[];
    targets: RPNTargets;
    /** Per image, the proposals handed to the box head (before ground truth is added). */
    proposals: Boxes[];
  };
  roi: {
    /** [K, C] and [K, 4C] over the sampled ROIs, image-major. */
    classLogits: Tensor;
    boxRegression: Tensor;
    targets: RoiTargets;
    /** Per image, the sampled ROIs' boxes (the rows of `targets.rois`). */
    boxes: Boxes[];
  };
  losses: DetectorLosses;
}

/** The RPN's Matcher(fg, bg, allow_low_quality_matches=True) and its balanced sampler. */
export const rpnSampling = (c: TvRPNConfig) => ({
  matcher: { highThreshold: c.fgIouThresh, lowThreshold: c.bgIouThresh, allowLowQualityMatches: true },
  sampler: { batchSizePerImage: c.batchSizePerImage, positiveFraction: c.positiveFraction },
});

/** RoIHeads' Matcher(fg, bg, allow_low_quality_matches=False) and its balanced sampler. */
export const boxSampling = (c: TvBoxConfig) => ({
  matcher: { highThreshold: c.fgIouThresh, lowThreshold: c.bgIouThresh, allowLowQualityMatches: false },
  sampler: { batchSizePerImage: c.batchSizePerImage, positiveFraction: c.positiveFraction },
});

/**
 * loss_objectness and loss_rpn_box_reg: binary cross-entropy with logits over the sampled anchors
 * (mean), smooth-L1 (β = 1/9) over the positives summed and divided by the sampled count.
 *
 * BCE on a single logit o is the two-way cross-entropy of the pair [0, o] (softmax([0, o])₁ =
 * sigmoid(o)), so the engine's tested cross-entropy serves, gradient included (the constant
 * column gets none).
 */
export function tvRpnLoss(objectness: Tensor, deltas: Tensor, t: RPNTargets): { cls: Tensor; reg: Tensor } {
  const rows = gatherRows(objectness, t.sampled);
  const pair = concat([zerosLike(rows), rows], 1);
  return classAndBoxLoss(pair, deltas, null, t.labels, t.positive, t.targets, 1);
}

/** The sampled ROIs of `roiTargets` ([K, 5] rows: image, x1, y1, x2, y2) as boxes per image. */
export function roisPerImage(rois: Float32Array, images: number): Boxes[] {
  const per: number[][] = Array.from({ length: images }, () => []);
  for (let r = 0; r < rois.length; r += 5) per[rois[r]!]!.push(rois[r + 1]!, rois[r + 2]!, rois[r + 3]!, rois[r + 4]!);
  return per.map((b) => Float32Array.from(b));
}

/**
 * The training forward of torchvision's FasterRCNN after the backbone: `features` of the batch
 * (images padded to `paddedSize`, each one's own size in `targets.imageSizes`), ground truth in
 * the batch's pixels. The RPN and box head must be in training mode (train-time top-n).
 */
export async function tvTrainForward(
  rpn: TvRegionProposalNetwork,
  roiHeads: TvRoIHeads,
  features: FeatureMaps,
  paddedSize: ImageSize,
  targets: TargetBatch,
  rng: Rng,
): Promise<TvTrainForward> {
  const sizes = checkTrainInputs(rpn, roiHeads, paddedSize, targets);
  const n = sizes.length;
  const out = await rpn.forward(features, paddedSize, sizes);
  try {
    const rpnT = rpnTargets(out.anchors, targets.boxes, rpnSampling(rpn.config), RPN_BOX_CODER, rng);
    const roiT = roiTargets(out.boxes, targets.boxes, targets.labels, boxSampling(roiHeads.config), roiHeads.boxCoder, rng);
    const boxes = roisPerImage(roiT.rois, n);
    const head = roiHeads.forward(features, boxes, sizes);
    const rpnLoss = tvRpnLoss(out.objectness, out.deltas, rpnT);
    const roiLoss = classAndBoxLoss(head.classLogits, head.boxRegression, null, roiT.labels, roiT.positive, roiT.targets, roiHeads.boxPredictor.numClasses);
    return {
      features,
      rpn: { objectness: out.objectness, deltas: out.deltas, anchors: out.anchors, numAnchorsPerLevel: out.numAnchorsPerLevel, targets: rpnT, proposals: out.boxes },
      roi: { ...head, targets: roiT, boxes },
      losses: { rpnCls: rpnLoss.cls, rpnReg: rpnLoss.reg, roiCls: roiLoss.cls, roiReg: roiLoss.reg },
    };
  } catch (e) {
    out.objectness.dispose();
    out.deltas.dispose();
    throw e;
  }
}

/**
 * Everything forwardTrain can refuse, checked before any tensor exists: training mode, one size,
 * box set and label set per image, sizes inside the batch, GeneralizedRCNN's target checks.
 * Returns each image's size.
 */
export function checkTrainInputs(rpn: TvRegionProposalNetwork, roiHeads: TvRoIHeads, paddedSize: ImageSize, targets: TargetBatch): readonly ImageSize[] {
  if (!rpn.training) throw new Error('kdet.TvFasterRCNN.forwardTrain: call train() first (training uses the train-time top-n and batch statistics)');
  const n = targets.boxes.length;
  const sizes = targets.imageSizes ?? Array.from({ length: n }, () => paddedSize);
  checkSizes(sizes, n, paddedSize, 'TvFasterRCNN.forwardTrain');
  if (targets.labels.length !== n) throw new Error(`kdet.TvFasterRCNN.forwardTrain: ${n} images of boxes but ${targets.labels.length} of labels`);
  targets.boxes.forEach((b, i) => checkTargets(b, targets.labels[i]!, roiHeads.boxPredictor.numClasses, i));
  return sizes;
}

/** GeneralizedRCNN's target checks: [n, 4] boxes of positive width and height, labels 1..C−1. */
function checkTargets(boxes: Boxes, labels: Int32Array, numClasses: number, image: number): void {
  const where = `kdet.TvFasterRCNN.forwardTrain: image ${image}`;
  if (boxes.length % 4 !== 0 || boxes.length / 4 !== labels.length) throw new Error(`${where}: ${boxes.length / 4} boxes but ${labels.length} labels`);
  for (let b = 0; b < labels.length; b++) {
    const [x1, y1, x2, y2] = boxes.subarray(b * 4, b * 4 + 4);
    if (!(x2! > x1! && y2! > y1!)) throw new Error(`${where}: box ${b} [${x1}, ${y1}, ${x2}, ${y2}] has no positive width and height (torchvision refuses degenerate boxes)`);
    const l = labels[b]!;
    if (!(Number.isInteger(l) && l >= 1 && l < numClasses)) throw new Error(`${where}: label ${l} of box ${b} is not a class in 1..${numClasses - 1} (0 is the background)`);
  }
}
