import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import type { FeatureMaps, FeaturePyramidNetwork } from '../detection/fpn.js';
import { Module } from '../nn/module.js';

/**
 * A backbone body as torchvision's IntermediateLayerGetter presents it: the image in, the chosen
 * stages' outputs out, named '0', '1', … highest resolution first.
 */
export interface FeatureExtractor extends Module {
  forward(x: Tensor): FeatureMaps;
  /** Channels of each returned map, in order (the FPN's in_channels_list). */
  readonly outChannels: readonly number[];
}

/**
 * torchvision.models.detection.backbone_utils.BackboneWithFPN: `body` then `fpn`. Parameter and
 * buffer names are torchvision's state_dict keys without FasterRCNN's `backbone.` prefix
 * (`body.layer1.0.conv1.weight`, `fpn.inner_blocks.0.0.weight`), in the same order, so a
 * torchvision state dict loads by name. (kdet keeps num_batches_tracked as a float32 scalar;
 * torch's is int64.)
 */
export class BackboneWithFPN<B extends FeatureExtractor = FeatureExtractor> extends Module {
  readonly body: B;
  readonly fpn: FeaturePyramidNetwork;

  constructor(body: B, fpn: FeaturePyramidNetwork) {
    super();
    if (fpn.inChannelsList.length !== body.outChannels.length || fpn.inChannelsList.some((c, i) => c !== body.outChannels[i])) {
      throw new Error(`kdet.BackboneWithFPN: the FPN takes [${fpn.inChannelsList}] channels, the body gives [${body.outChannels}]`);
    }
    this.body = this.addModule('body', body);
    this.fpn = this.addModule('fpn', fpn);
  }

  /** Channels of every pyramid level (torchvision's `out_channels`). */
  get outChannels(): number {
    return this.fpn.outChannels;
  }

  forward(x: Tensor): FeatureMaps {
    return scope(() => this.fpn.forward(this.body.forward(x)));
  }
}
