/**
 * The numbers torchvision 0.14's Faster R-CNN builders (models/detection/faster_rcnn.py) pass
 * between the FPN and the losses, per builder: anchors, RPN filtering, box head. Everything not
 * listed is FasterRCNN's default and the same for all three.
 */
import type { BodyArch } from '../models/body-classifier.js';

export type TvPresetName = 'fasterrcnn_resnet50_fpn' | 'fasterrcnn_resnet18_fpn' | 'fasterrcnn_mobilenet_v3_large_fpn' | 'fasterrcnn_mobilenet_v3_large_320_fpn';

export interface TrainTest {
  training: number;
  testing: number;
}

/** torchvision's RegionProposalNetwork settings. */
export interface TvRPNConfig {
  preNmsTopN: TrainTest;
  postNmsTopN: TrainTest;
  nmsThresh: number;
  /** Proposals with sigmoid(objectness) below it are dropped (`>=` keeps, as torchvision). */
  scoreThresh: number;
  /** remove_small_boxes' min_size, fixed at 1e-3 in torchvision. */
  minSize: number;
  /** Training: anchor matching and sampling. */
  fgIouThresh: number;
  bgIouThresh: number;
  batchSizePerImage: number;
  positiveFraction: number;
}

/** torchvision's RoIHeads box settings. */
export interface TvBoxConfig {
  /** Detections with a class probability at or below it are dropped (`>`). */
  scoreThresh: number;
  nmsThresh: number;
  detectionsPerImg: number;
  /** remove_small_boxes' min_size in postprocess_detections, fixed at 1e-2 in torchvision. */
  minSize: number;
  /** BoxCoder weights; torchvision's default (10, 10, 5, 5). */
  bboxRegWeights: readonly [number, number, number, number];
  /** Training: proposal matching and sampling. */
  fgIouThresh: number;
  bgIouThresh: number;
  batchSizePerImage: number;
  positiveFraction: number;
}

export interface TvPreset {
  /** The backbone body, by the name of the torchvision classifier whose weights it takes. */
  body: BodyArch;
  /** AnchorGenerator sizes and aspect ratios, one entry per FPN level. */
  anchorSizes: readonly (readonly number[])[];
  aspectRatios: readonly (readonly number[])[];
  rpn: TvRPNConfig;
  box: TvBoxConfig;
  /** MultiScaleRoIAlign(featmap_names, 7, 2): names absent from the FPN are skipped. */
  featmapNames: readonly string[];
  roiOutputSize: number;
  samplingRatio: number;
  /** TwoMLPHead's width (fixed in FasterRCNN). */
  representationSize: number;
  /** GeneralizedRCNNTransform's sizes. */
  minSize: number;
  maxSize: number;
}

const RATIOS = [0.5, 1, 2] as const;

function rpnConfig(testTopN: number, scoreThresh: number): TvRPNConfig {
  return {
    preNmsTopN: { training: 2000, testing: testTopN },
    postNmsTopN: { training: 2000, testing: testTopN },
    nmsThresh: 0.7,
    scoreThresh,
    minSize: 1e-3,
    fgIouThresh: 0.7,
    bgIouThresh: 0.3,
    batchSizePerImage: 256,
    positiveFraction: 0.5,
  };
}

export const TV_BOX_DEFAULTS: TvBoxConfig = {
  scoreThresh: 0.05,
  nmsThresh: 0.5,
  detectionsPerImg: 100,
  minSize: 1e-2,
  bboxRegWeights: [10, 10, 5, 5],
  fgIouThresh: 0.5,
  bgIouThresh: 0.5,
  batchSizePerImage: 512,
  positiveFraction: 0.25,
};

const COMMON = { box: TV_BOX_DEFAULTS, featmapNames: ['0', '1', '2', '3'], roiOutputSize: 7, samplingRatio: 2, representationSize: 1024 };

/** The MobileNetV3 builders: five sizes on each of three levels ('0', '1', 'pool'). */
const MOBILENET_ANCHORS = {
  anchorSizes: Array.from({ length: 3 }, () => [32, 64, 128, 256, 512]),
  aspectRatios: Array.from({ length: 3 }, () => [...RATIOS]),
};

// _default_anchorgen: one size per level '0'…'3', 'pool'; FasterRCNN's RPN defaults.
const RESNET50_FPN: TvPreset = {
  body: 'resnet50',
  anchorSizes: [[32], [64], [128], [256], [512]],
  aspectRatios: Array.from({ length: 5 }, () => [...RATIOS]),
  rpn: rpnConfig(1000, 0),
  ...COMMON,
  minSize: 800,
  maxSize: 1333,
};

export const TV_PRESETS: Record<TvPresetName, TvPreset> = {
  fasterrcnn_resnet50_fpn: RESNET50_FPN,
  // Not a torchvision builder: fasterrcnn_resnet50_fpn's recipe on ResNet-18 (FasterRCNN over
  // resnet_fpn_backbone('resnet18')), the cheap teacher: same anchors, RPN and sizes.
  fasterrcnn_resnet18_fpn: { ...RESNET50_FPN, body: 'resnet18' },
  // fasterrcnn_mobilenet_v3_large_fpn: defaults {rpn_score_thresh: 0.05}.
  fasterrcnn_mobilenet_v3_large_fpn: { body: 'mobilenet_v3_large', ...MOBILENET_ANCHORS, rpn: rpnConfig(1000, 0.05), ...COMMON, minSize: 800, maxSize: 1333 },
  // fasterrcnn_mobilenet_v3_large_320_fpn: min_size 320, max_size 640, test top-n 150/150, score 0.05.
  fasterrcnn_mobilenet_v3_large_320_fpn: { body: 'mobilenet_v3_large', ...MOBILENET_ANCHORS, rpn: rpnConfig(150, 0.05), ...COMMON, minSize: 320, maxSize: 640 },
};
