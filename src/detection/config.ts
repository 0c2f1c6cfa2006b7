import type { AnchorConfig } from './anchors.js';
import type { BackboneConfig } from './backbone.js';
import type { RoiHeadsConfig } from './roi-heads.js';
import type { RPNConfig } from './rpn.js';

/** Everything that defines a Faster R-CNN; stored in checkpoints' metadata. */
export interface FasterRCNNConfig {
  /** Foreground classes (background excluded). */
  numClasses: number;
  backbone: BackboneConfig;
  anchors: Omit<AnchorConfig, 'stride'>;
  rpn: RPNConfig;
  roiHeads: RoiHeadsConfig;
  /** Per-channel normalisation applied to [0, 1] images. */
  imageMean: readonly number[];
  imageStd: readonly number[];
}

/**
 * torchvision's Faster R-CNN defaults, scaled to small images (128² scenes with 16–64 px
 * objects): anchor sizes 16/32/64, fewer proposals and ROIs per image. Every value is an option.
 */
export function defaultConfig(numClasses: number, backbone: BackboneConfig): FasterRCNNConfig {
  return {
    numClasses,
    backbone,
    anchors: { sizes: [16, 32, 64], aspectRatios: [0.5, 1, 2] },
    rpn: {
      matcher: { highThreshold: 0.7, lowThreshold: 0.3, allowLowQualityMatches: true },
      sampler: { batchSizePerImage: 256, positiveFraction: 0.5 },
      preNmsTopN: { train: 1000, test: 500 },
      postNmsTopN: { train: 300, test: 100 },
      nmsThreshold: 0.7,
      minSize: 1e-3,
      scoreThreshold: 0,
    },
    roiHeads: {
      matcher: { highThreshold: 0.5, lowThreshold: 0.5, allowLowQualityMatches: false },
      sampler: { batchSizePerImage: 128, positiveFraction: 0.25 },
      poolSize: 7,
      samplingRatio: 2,
      representationSize: 256,
      scoreThreshold: 0.05,
      nmsThreshold: 0.5,
      detectionsPerImage: 100,
      minSize: 1e-2,
    },
    imageMean: [0.485, 0.456, 0.406],
    imageStd: [0.229, 0.224, 0.225],
  };
}
