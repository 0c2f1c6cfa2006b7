import { tensor } from '../engine/ops/creation.js';
import { relu } from '../engine/ops/elementwise.js';
import { flatten } from '../engine/ops/layout.js';
import { roiAlign } from '../engine/ops/detection.js';
import type { Rng } from '../engine/random.js';
import type { Tensor } from '../engine/tensor.js';
import { normal } from '../nn/init.js';
import { Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import type { BoxCoder } from './box-coder.js';
import { boxCount, iouMatrix, takeRows, type Boxes } from './boxes.js';
import { labelsFromMatches, match, type MatcherConfig } from './matcher.js';
import { sampleBalanced, type SamplerConfig } from './sampler.js';

export interface RoiHeadsConfig {
  matcher: MatcherConfig;
  sampler: SamplerConfig;
  /** roi_align output side. */
  poolSize: number;
  samplingRatio: number;
  representationSize: number;
  scoreThreshold: number;
  nmsThreshold: number;
  detectionsPerImage: number;
  minSize: number;
}

/** torchvision's TwoMLPHead: flattened pooled features → fc6 → ReLU → fc7 → ReLU. */
export class TwoMLPHead extends Module {
  readonly fc6: Linear;
  readonly fc7: Linear;

  constructor(inFeatures: number, representation: number, rng: Rng) {
    super();
    this.fc6 = this.addModule('fc6', new Linear(inFeatures, representation, rng));
    this.fc7 = this.addModule('fc7', new Linear(representation, representation, rng));
  }

  forward(pooled: Tensor): Tensor {
    return relu(this.fc7.forward(relu(this.fc6.forward(flatten(pooled, 1)))));
  }
}

/** torchvision's FastRCNNPredictor: (C+1)-way class logits and class-specific deltas [(C+1)·4]. */
export class FastRCNNPredictor extends Module {
  readonly clsScore: Linear;
  readonly bboxPred: Linear;

  constructor(representation: number, numClassesWithBg: number, rng: Rng) {
    super();
    // Small initial weights keep the first classification and regression losses sane.
    this.clsScore = this.addModule('cls_score', new Linear(representation, numClassesWithBg, rng, { init: (s, r) => normal(s, 0.01, r) }));
    this.bboxPred = this.addModule('bbox_pred', new Linear(representation, numClassesWithBg * 4, rng, { init: (s, r) => normal(s, 0.001, r) }));
  }

  forward(x: Tensor): { logits: Tensor; deltas: Tensor } {
    return { logits: this.clsScore.forward(x), deltas: this.bboxPred.forward(x) };
  }
}

/** The box branch of the ROI heads, named as torchvision's roi_heads (box_head, box_predictor). */
export class BoxHead extends Module {
  readonly boxHead: TwoMLPHead;
  readonly predictor: FastRCNNPredictor;

  constructor(inFeatures: number, representation: number, numClassesWithBg: number, rng: Rng) {
    super();
    this.boxHead = this.addModule('box_head', new TwoMLPHead(inFeatures, representation, rng));
    this.predictor = this.addModule('box_predictor', new FastRCNNPredictor(representation, numClassesWithBg, rng));
  }

  forward(pooled: Tensor): { logits: Tensor; deltas: Tensor } {
    const x = this.boxHead.forward(pooled);
    const out = this.predictor.forward(x);
    x.dispose();
    return out;
  }
}

export interface RoiTargets {
  /** [K, 5] rows (image, x1, y1, x2, y2) of the sampled ROIs, positives first per image. */
  rois: Float32Array;
  /** Class of each ROI, 0 for background. */
  labels: Int32Array;
  /** Indices (into the K ROIs) of the positive ROIs. */
  positive: Int32Array;
  /** Regression targets [positive, 4] for the ground-truth class. */
  targets: Float32Array;
}

/**
 * Add the ground-truth boxes to the proposals, match (IoU ≥ high → foreground), sample a
 * balanced set per image and encode targets (torchvision's select_training_samples).
 */
export function roiTargets(
  proposals: readonly Boxes[],
  gtBoxes: readonly Boxes[],
  gtLabels: readonly Int32Array[],
  cfg: Pick<RoiHeadsConfig, 'matcher' | 'sampler'>,
  coder: BoxCoder,
  rng: Rng,
): RoiTargets {
  const rois: number[] = [];
  const labels: number[] = [];
  const positive: number[] = [];
  const targets: number[] = [];
  proposals.forEach((props, img) => {
    const gt = gtBoxes[img]!;
    const cand = new Float32Array(props.length + gt.length);
    cand.set(props);
    cand.set(gt, props.length);
    const n = boxCount(cand);
    const g = boxCount(gt);
    const matches = match(iouMatrix(gt, cand), g, n, cfg.matcher);
    const lab = labelsFromMatches(matches, (g) => gtLabels[img]![g]!);
    const { positive: pos, negative: neg } = sampleBalanced(lab, cfg.sampler, rng);
    if (pos.length) targets.push(...coder.encode(takeRows(cand, 4, pos), takeRows(gt, 4, pos.map((i) => matches[i]!))));
    for (const i of [...pos, ...neg]) {
      if (lab[i]! > 0) positive.push(labels.length);
      rois.push(img, cand[i * 4]!, cand[i * 4 + 1]!, cand[i * 4 + 2]!, cand[i * 4 + 3]!);
      labels.push(lab[i]!);
    }
  });
  return {
    rois: Float32Array.from(rois),
    labels: Int32Array.from(labels),
    positive: Int32Array.from(positive),
    targets: Float32Array.from(targets),
  };
}

/** Pool ROI features: roi_align at the feature stride (torchvision uses sampling ratio 2, not aligned). */
export function poolRois(features: Tensor, rois: Float32Array, stride: number, cfg: RoiHeadsConfig): Tensor {
  const r = tensor(rois, [rois.length / 5, 5], { backend: features.backend });
  const pooled = roiAlign(features, r, {
    outputSize: cfg.poolSize,
    spatialScale: 1 / stride,
    samplingRatio: cfg.samplingRatio,
    aligned: false,
  });
  r.dispose();
  return pooled;
}
