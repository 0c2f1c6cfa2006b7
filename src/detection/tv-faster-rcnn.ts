import type { FeatureMaps } from './fpn.js';
import type { Backend } from '../engine/backend.js';
import { tensor } from '../engine/ops/creation.js';
import { div, sub } from '../engine/ops/elementwise.js';
import type { Rng } from '../engine/random.js';
import { keep, scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { noGrad } from '../engine/tape.js';
import { Module } from '../nn/module.js';
import type { BackboneWithFPN } from '../models/backbone-with-fpn.js';
import { mobilenetV3LargeFpnBackbone } from '../models/mobilenetv3.js';
import { resnetFpnBackbone } from '../models/resnet.js';
import type { NormKind } from '../models/conv-norm-act.js';
import type { TargetBatch } from './faster-rcnn.js';
import { MultiLevelAnchorGenerator } from './anchors-multilevel.js';
import { TvRoIHeads } from './tv-box-head.js';
import { TV_PRESETS, type TvBoxConfig, type TvPreset, type TvPresetName, type TvRPNConfig } from './tv-presets.js';
import { TvRegionProposalNetwork } from './tv-rpn.js';
import { TvRPNHead } from './tv-rpn-head.js';
import { checkTrainInputs, tvTrainForward, type TvTrainForward } from './tv-training.js';
import { DetectionTransform, type ImageInput, type ImageSize, type TransformDetections } from './transform.js';

export interface TvFasterRCNNOptions {
  /** GeneralizedRCNNTransform's sizes; default the preset's (800/1333, or 320/640). */
  minSize?: number;
  maxSize?: number;
  /** ImageNet's by default, as torchvision. */
  imageMean?: readonly number[];
  imageStd?: readonly number[];
  /**
   * The builder's RPN and box-head keyword arguments, over the preset's (rpn_batch_size_per_image
   * is `rpn.batchSizePerImage`, box_score_thresh `box.scoreThresh`, …).
   */
  rpn?: Partial<TvRPNConfig>;
  box?: Partial<TvBoxConfig>;
  backend?: Backend;
}

/**
 * torchvision 0.14's FasterRCNN (GeneralizedRCNN) for inference, from kdet's parts under
 * torchvision's names: `backbone` (BackboneWithFPN), `rpn` (head `rpn.head.…`, anchors, proposal
 * filtering) and `roi_heads` (MultiScaleRoIAlign, `box_head`, `box_predictor`, postprocessing),
 * with the input transform (resize, normalise, pad to 32) outside the parameters. A torchvision
 * state_dict loads by name (num_batches_tracked included).
 */
export class TvFasterRCNN extends Module {
  readonly backbone: BackboneWithFPN;
  readonly rpn: TvRegionProposalNetwork;
  readonly roiHeads: TvRoIHeads;
  readonly transform: DetectionTransform;
  /** [1, 3, 1, 1] normalisation of training batches ([0, 1] images, as the trainer's loader gives). */
  private readonly mean: Tensor;
  private readonly std: Tensor;

  constructor(backbone: BackboneWithFPN, readonly numClasses: number, readonly preset: TvPreset, rng: Rng, opts: TvFasterRCNNOptions = {}) {
    super();
    const channels = backbone.outChannels;
    this.backbone = this.addModule('backbone', backbone);
    const anchors = new MultiLevelAnchorGenerator(preset.anchorSizes, preset.aspectRatios);
    const head = new TvRPNHead(channels, anchors.numAnchorsPerLocation()[0]!, rng, { backend: opts.backend });
    this.rpn = this.addModule('rpn', new TvRegionProposalNetwork(anchors, head, { ...preset.rpn, ...opts.rpn }));
    this.roiHeads = this.addModule(
      'roi_heads',
      new TvRoIHeads(channels, numClasses, rng, {
        featmapNames: preset.featmapNames,
        outputSize: preset.roiOutputSize,
        samplingRatio: preset.samplingRatio,
        representationSize: preset.representationSize,
        config: { ...preset.box, ...opts.box },
        backend: opts.backend,
      }),
    );
    this.transform = new DetectionTransform({
      minSize: opts.minSize ?? preset.minSize,
      maxSize: opts.maxSize ?? preset.maxSize,
      sizeDivisible: 32,
      mean: opts.imageMean ?? [0.485, 0.456, 0.406],
      std: opts.imageStd ?? [0.229, 0.224, 0.225],
    });
    const { mean, std } = this.transform.config!;
    this.mean = keep(tensor(Float32Array.from(mean), [1, mean.length, 1, 1], { backend: opts.backend }));
    this.std = keep(tensor(Float32Array.from(std), [1, std.length, 1, 1], { backend: opts.backend }));
  }

  /**
   * Training-mode GeneralizedRCNN.forward: a batch of [0, 1] images [N, 3, H, W] as the transform
   * makes it (resized, padded with the mean: normalised here, the padding becomes torchvision's
   * 0), ground truth in the batch's pixels with each image's size. The four losses under kdet's
   * names (TV_LOSS_NAMES gives torchvision's), and what distillation needs. Call train() first.
   */
  async forwardTrain(images: Tensor, targets: TargetBatch, rng: Rng): Promise<TvTrainForward> {
    if (images.rank !== 4 || images.shape[1] !== this.mean.shape[1]) {
      throw new Error(`kdet.TvFasterRCNN.forwardTrain: images must be [N, ${this.mean.shape[1]}, H, W], got [${images.shape}]`);
    }
    if (targets.boxes.length !== images.shape[0]) throw new Error(`kdet.TvFasterRCNN.forwardTrain: ${images.shape[0]} images but targets for ${targets.boxes.length}`);
    const padded: ImageSize = [images.shape[2]!, images.shape[3]!];
    checkTrainInputs(this.rpn, this.roiHeads, padded, targets);
    const features = this.features(images);
    try {
      return await tvTrainForward(this.rpn, this.roiHeads, features, padded, targets, rng);
    } catch (e) {
      for (const f of features.values()) f.dispose();
      throw e;
    }
  }

  /** The FPN levels of a batch of [0, 1] images [N, 3, H, W] (normalised here, as in forwardTrain). */
  features(images: Tensor): FeatureMaps {
    return this.backbone.forward(scope(() => div(sub(images, this.mean), this.std)));
  }

  /**
   * Eval-mode GeneralizedRCNN.forward: images (CHW in [0, 1], any sizes) → detections per image,
   * boxes in each image's own pixels, labels 1..numClasses−1 (0 is background). The model must
   * be in eval mode (batch norm statistics, test-time top-n), as torchvision's forward without
   * targets requires.
   */
  async detect(images: readonly ImageInput[]): Promise<TransformDetections[]> {
    if (this.training) throw new Error('kdet.TvFasterRCNN.detect: call eval() first (training needs targets)');
    const backend = this.rpn.head.clsLogits.weight.value.backend;
    return noGrad(() =>
      scope(async () => {
        const t = this.transform.batch(images, undefined, { normalise: true });
        const features = this.backbone.forward(tensor(t.images, t.shape, { backend }));
        const props = await this.rpn.propose(features, [t.shape[2], t.shape[3]], t.imageSizes);
        const detections = await this.roiHeads.detect(features, props.boxes, t.imageSizes);
        return this.transform.postprocess(detections, t.imageSizes, t.originalSizes);
      }),
    );
  }

  override dispose(): void {
    super.dispose();
    this.mean.dispose();
    this.std.dispose();
  }
}

export interface TvFasterRCNNBuildOptions extends TvFasterRCNNOptions {
  /**
   * 'batch' (BatchNorm2d, every layer trainable): what the builders make with weights=None and
   * weights_backbone=None; 'frozen' (FrozenBatchNorm2d, 3 trainable layers): with pretrained weights.
   */
  norm?: NormKind;
  trainableLayers?: number;
}

/** torchvision's trainable_backbone_layers range: 0..5 for a ResNet, 0..6 for MobileNetV3. */
export const maxTrainableLayers = (name: TvPresetName): number => (TV_PRESETS[name].body === 'mobilenet_v3_large' ? 6 : 5);

/**
 * torchvision's builders: fasterrcnn_resnet50_fpn, fasterrcnn_mobilenet_v3_large_fpn and
 * fasterrcnn_mobilenet_v3_large_320_fpn (and fasterrcnn_resnet18_fpn, the ResNet-50 recipe on
 * ResNet-18), for `numClasses` classes including the background.
 */
export function tvFasterRCNN(name: TvPresetName, numClasses: number, rng: Rng, opts: TvFasterRCNNBuildOptions = {}): TvFasterRCNN {
  const preset = TV_PRESETS[name];
  const norm = opts.norm ?? 'batch';
  const backend = opts.backend;
  const layers = opts.trainableLayers ?? (norm === 'batch' ? maxTrainableLayers(name) : 3);
  const backbone: BackboneWithFPN =
    preset.body === 'mobilenet_v3_large'
      ? mobilenetV3LargeFpnBackbone(rng, { norm, trainableLayers: layers, backend })
      : resnetFpnBackbone(preset.body, rng, { norm, trainableLayers: layers, backend });
  return new TvFasterRCNN(backbone, numClasses, preset, rng, opts);
}
