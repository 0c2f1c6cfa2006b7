import type { Backend } from '../engine/backend.js';
import { maxPool2d } from '../engine/ops/conv.js';
import { add } from '../engine/ops/elementwise.js';
import type { Rng } from '../engine/random.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { uniform } from '../nn/init.js';
import type { Sequential } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { interpolateNearest } from '../nn/resample.js';
import { conv2dNormActivation } from '../models/conv-norm-act.js';
import { ModuleList } from '../models/module-list.js';

/**
 * Named feature maps, highest resolution first (torchvision's OrderedDict[str, Tensor]): a body's
 * output ('0', '1', …) and an FPN's ('0', …, 'pool').
 */
export type FeatureMaps = Map<string, Tensor>;

/**
 * torchvision.ops.feature_pyramid_network.ExtraFPNBlock: adds levels after the top-down pass,
 * given the FPN's results, the original inputs and their names.
 */
export interface ExtraFPNBlock extends Module {
  apply(results: Tensor[], inputs: Tensor[], names: string[]): { results: Tensor[]; names: string[] };
}

/**
 * torchvision's LastLevelMaxPool: one more level, 'pool', subsampled from the last with
 * max_pool2d(kernel 1, stride 2, padding 0), i.e. every other pixel (what Faster R-CNN's fifth
 * anchor size is placed on). No parameters.
 */
export class LastLevelMaxPool extends Module implements ExtraFPNBlock {
  apply(results: Tensor[], _inputs: Tensor[], names: string[]): { results: Tensor[]; names: string[] } {
    const last = results[results.length - 1]!;
    return { results: [...results, maxPool2d(last, 1, { stride: 2, padding: 0 })], names: [...names, 'pool'] };
  }
}

export interface FeaturePyramidNetworkOptions {
  /** Levels after the top-down pass; none by default, as torchvision's FeaturePyramidNetwork. */
  extraBlocks?: ExtraFPNBlock | null;
  backend?: Backend;
}

/**
 * torchvision.ops.FeaturePyramidNetwork (Lin et al. 2017) without a norm layer, the configuration
 * of torchvision's Faster R-CNN builders: per input level a 1×1 lateral conv (`inner_blocks.i`)
 * and a 3×3 output conv (`layer_blocks.i`), both with bias. Top-down, each lateral adds the level
 * above upsampled to its own size by nearest neighbour (PyTorch's index rule, so odd sizes match).
 *
 * torchvision 0.14 wraps each conv in Conv2dNormActivation (a Sequential), so its parameters are
 * `inner_blocks.0.0.weight`, `layer_blocks.2.0.bias`, …; they are named so here.
 */
export class FeaturePyramidNetwork extends Module {
  readonly innerBlocks: ModuleList<Sequential>;
  readonly layerBlocks: ModuleList<Sequential>;
  readonly extraBlocks: ExtraFPNBlock | null;

  constructor(
    readonly inChannelsList: readonly number[],
    readonly outChannels: number,
    rng: Rng,
    opts: FeaturePyramidNetworkOptions = {},
  ) {
    super();
    if (inChannelsList.length === 0 || inChannelsList.some((c) => !Number.isInteger(c) || c <= 0)) {
      throw new Error(`kdet.FeaturePyramidNetwork: in_channels must be positive integers, got [${inChannelsList}]`);
    }
    const backend = opts.backend;
    // torchvision: kaiming_uniform_(a=1), i.e. U(±√(3 / fan_in)), and zero bias.
    const init = (shape: number[], r: Rng): Tensor => uniform(shape, Math.sqrt(3 / (shape[1]! * shape[2]! * shape[3]!)), r, backend);
    const block = (cin: number, k: number) => conv2dNormActivation(cin, outChannels, k, rng, { norm: null, activation: null, init, backend });
    this.innerBlocks = this.addModule('inner_blocks', new ModuleList(inChannelsList.map((c) => block(c, 1))));
    this.layerBlocks = this.addModule('layer_blocks', new ModuleList(inChannelsList.map(() => block(outChannels, 3))));
    this.extraBlocks = opts.extraBlocks ?? null;
    if (this.extraBlocks) this.addModule('extra_blocks', this.extraBlocks);
  }

  /** Feature maps in increasing depth (decreasing resolution) → the pyramid, same names (+ extra levels). */
  forward(x: FeatureMaps): FeatureMaps {
    const names = [...x.keys()];
    const feats = [...x.values()];
    const n = this.innerBlocks.length;
    if (feats.length !== n) throw new Error(`kdet.FeaturePyramidNetwork: expected ${n} feature maps, got ${feats.length} (${names.join(', ')})`);
    feats.forEach((f, i) => {
      if (f.rank !== 4 || f.shape[1] !== this.inChannelsList[i]) {
        throw new Error(`kdet.FeaturePyramidNetwork: feature '${names[i]}' should be [N, ${this.inChannelsList[i]}, H, W], got [${f.shape}]`);
      }
    });
    return scope(() => {
      let lastInner = this.innerBlocks.at(n - 1).forward(feats[n - 1]!);
      const results = [this.layerBlocks.at(n - 1).forward(lastInner)];
      for (let i = n - 2; i >= 0; i--) {
        const lateral = this.innerBlocks.at(i).forward(feats[i]!);
        const topDown = interpolateNearest(lastInner, [lateral.shape[2]!, lateral.shape[3]!]);
        lastInner = add(lateral, topDown);
        results.unshift(this.layerBlocks.at(i).forward(lastInner));
      }
      const out = this.extraBlocks ? this.extraBlocks.apply(results, feats, names) : { results, names };
      return new Map(out.names.map((name, i) => [name, out.results[i]!]));
    });
  }
}
