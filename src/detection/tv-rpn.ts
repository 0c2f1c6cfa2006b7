import { noGrad } from '../engine/tape.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { Module } from '../nn/module.js';
import type { GridSize, MultiLevelAnchorGenerator } from './anchors-multilevel.js';
import type { Boxes } from './boxes.js';
import type { FeatureMaps } from './fpn.js';
import { readBoth } from './rpn.js';
import { filterProposals, type Proposals } from './tv-proposals.js';
import type { TvRPNConfig } from './tv-presets.js';
import { concatBoxPredictionLayers, type TvRPNHead } from './tv-rpn-head.js';
import type { ImageSize } from './transform.js';

export interface RPNForward extends Proposals {
  /** [N·M, 1] objectness logits and [N·M, 4] deltas, on the tape (for the RPN's losses). */
  objectness: Tensor;
  deltas: Tensor;
  /** [M, 4], every image's. */
  anchors: Boxes;
  numAnchorsPerLevel: number[];
}

/**
 * torchvision's RegionProposalNetwork, the proposal half: the head on every FPN level, the
 * anchors, decoding and filter_proposals with the train or test top-n (by `training`). Its
 * only parameters are the head's, named `head.…` (`rpn.head.conv.0.0.weight` under FasterRCNN).
 */
export class TvRegionProposalNetwork extends Module {
  readonly head: TvRPNHead;

  constructor(
    readonly anchorGenerator: MultiLevelAnchorGenerator,
    head: TvRPNHead,
    readonly config: TvRPNConfig,
  ) {
    super();
    this.head = this.addModule('head', head);
  }

  /**
   * `paddedSize`: the batch tensor's [H, W] (anchor strides); `imageSizes`: each image's own size
   * inside it (clipping). The caller disposes `objectness` and `deltas`.
   */
  async forward(features: FeatureMaps, paddedSize: GridSize, imageSizes: readonly ImageSize[]): Promise<RPNForward> {
    const { objectness, deltas, anchors, numAnchorsPerLevel } = this.outputs(features, paddedSize);
    try {
      const [o, d] = await readBoth(objectness, deltas);
      const props = await filterProposals(o, d, anchors, imageSizes, numAnchorsPerLevel, this.config, this.training, objectness.backend);
      return { ...props, objectness, deltas, anchors, numAnchorsPerLevel };
    } catch (e) {
      objectness.dispose();
      deltas.dispose();
      throw e;
    }
  }

  /**
   * The head on every level, flattened as the anchors are (level by level, location, anchor):
   * [N·M, 1] objectness and [N·M, 4] deltas (the caller disposes them), and the [M, 4] anchors.
   */
  outputs(features: FeatureMaps, paddedSize: GridSize): Pick<RPNForward, 'objectness' | 'deltas' | 'anchors' | 'numAnchorsPerLevel'> {
    const feats = [...features.values()];
    const { objectness, deltas } = scope(() => {
      const { logits, bboxReg } = this.head.forward(feats);
      return concatBoxPredictionLayers(logits, bboxReg);
    });
    const { boxes: anchors, numAnchorsPerLevel } = this.anchorGenerator.anchors(
      paddedSize,
      feats.map((t) => [t.shape[2]!, t.shape[3]!] as const),
    );
    return { objectness, deltas, anchors, numAnchorsPerLevel };
  }

  /** Proposals only, without the tape (inference). */
  async propose(features: FeatureMaps, paddedSize: GridSize, imageSizes: readonly ImageSize[]): Promise<Proposals> {
    const r = await noGrad(() => this.forward(features, paddedSize, imageSizes));
    r.objectness.dispose();
    r.deltas.dispose();
    return { boxes: r.boxes, scores: r.scores };
  }
}
