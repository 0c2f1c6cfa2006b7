import type { Rng } from '../engine/random.js';
import type { Tensor } from '../engine/tensor.js';
import { kaimingNormal } from '../nn/init.js';
import { Conv2d, MaxPool2d, ReLU, Sequential, type Layer } from '../nn/layers.js';

/**
 * A VGG-style backbone: stages of 3×3 conv + ReLU, a 2×2 max-pool between stages. The feature
 * stride is 2^(stages − 1), so presets with the same number of stages line up for hint learning
 * and share anchors.
 */
export interface BackboneConfig {
  /** Output channels of each conv, stage by stage. */
  stages: readonly (readonly number[])[];
  inChannels: number;
}

export const BACKBONE_PRESETS = {
  /** The teacher: VGG-like, 4 stages, stride 8, 128 feature channels. */
  teacher: { inChannels: 3, stages: [[32, 32], [64, 64], [128, 128], [128, 128]] },
  /**
   * The student: one conv per stage and a quarter to half the widths (≈ 1/11 of the teacher's
   * FLOPs), ending in the teacher's 128 channels so hints can be tried with and without the
   * adaptation layer.
   */
  student: { inChannels: 3, stages: [[16], [32], [64], [128]] },
  /** A tiny net for tests. */
  tiny: { inChannels: 3, stages: [[8], [8], [16]] },
} as const satisfies Record<string, BackboneConfig>;

export type BackbonePreset = keyof typeof BACKBONE_PRESETS;

export class Backbone extends Sequential {
  readonly outChannels: number;
  readonly stride: number;

  constructor(
    readonly config: BackboneConfig,
    rng: Rng,
  ) {
    const layers: Layer[] = [];
    let c = config.inChannels;
    config.stages.forEach((stage, s) => {
      if (s > 0) layers.push(MaxPool2d(2, 2));
      for (const out of stage) {
        // torchvision's VGG init: kaiming normal (fan-out, ReLU), zero bias.
        layers.push(new Conv2d(c, out, 3, rng, { padding: 1, init: (shape, r) => kaimingNormal(shape, r, 'fanOut') }));
        layers.push(ReLU());
        c = out;
      }
    });
    super(layers);
    this.outChannels = c;
    this.stride = 2 ** (config.stages.length - 1);
  }

  /** The feature map's [height, width] for an h × w image (each 2×2 max pool floors). */
  outputSize(h: number, w: number): [number, number] {
    for (let s = 1; s < this.config.stages.length; s++) [h, w] = [Math.floor(h / 2), Math.floor(w / 2)];
    return [h, w];
  }

  /** Multiply-add FLOPs (×2) of one forward pass on an h × w image. */
  flops(h: number, w: number): number {
    let total = 0;
    let ch = h;
    let cw = w;
    for (const l of this.layers) {
      if (l instanceof Conv2d) total += l.flops(ch, cw).flops;
      else if ((l as { name?: string }).name === 'MaxPool2d') {
        ch = Math.floor(ch / 2);
        cw = Math.floor(cw / 2);
      }
    }
    return total;
  }

  override forward(x: Tensor): Tensor {
    return super.forward(x);
  }
}
