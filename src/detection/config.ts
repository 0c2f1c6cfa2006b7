import type { AnchorConfig } from './anchors.js';
import type { BackboneConfig } from './backbone.js';
import type { RoiHeadsConfig } from './roi-heads.js';
import type { RPNConfig } from './rpn.js';
import { defaultTransformConfig, type TransformConfig } from './transform.js';

/** Everything that defines a Faster R-CNN; stored in checkpoints' metadata. */
export interface FasterRCNNConfig {
  /** Foreground classes (background excluded). */
  numClasses: number;
  backbone: BackboneConfig;
  anchors: Omit<AnchorConfig, 'stride'>;
  rpn: RPNConfig;
  roiHeads: RoiHeadsConfig;
  /** Per-channel normalisation applied to [0, 1] images (also the transform's mean/std). */
  imageMean: readonly number[];
  imageStd: readonly number[];
  /**
   * How images of any size become a batch: resize (short side minSize, long side at most
   * maxSize), pad to a multiple of sizeDivisible, boxes back in original pixels (see
   * DetectionTransform). Absent (every checkpoint written before it existed): the identity, images
   * used at the size they come in, as those models were trained.
   */
  transform?: TransformConfig;
}

/**
 * torchvision's Faster R-CNN defaults, scaled to small images (128² scenes with 16–64 px
 * objects): anchor sizes 16/32/64, fewer proposals and ROIs per image. Every value is an option.
 *
 * `opts.transform` adds an input transform for images of any size and aspect ratio (true: the
 * defaults of defaultTransformConfig, short side 128, long side at most 213, padding to the
 * backbone's stride; or some of those values). Without it the config has none, and the model
 * takes images at the size they come in, as the built-in fixed-size scenes need.
 */
export function defaultConfig(numClasses: number, backbone: BackboneConfig, opts: { transform?: boolean | Partial<TransformConfig> } = {}): FasterRCNNConfig {
  const transform = opts.transform ? defaultTransformConfig(backbone, opts.transform === true ? {} : opts.transform) : undefined;
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
    ...(transform ? { transform } : {}),
  };
}
