/**
 * A detector backbone as an image classifier (backbone → global average pool → linear), for
 * classification pre-training in the spirit of the paper's ImageNet-pretrained networks, and the
 * helpers that carry its backbone into a detector: a module naming the backbone's parameters as
 * the detector does (`backbone.0.weight`), and per-stage freezing.
 */
import { tensor } from '../engine/ops/creation.js';
import { div, sub } from '../engine/ops/elementwise.js';
import { mean } from '../engine/ops/reduce.js';
import type { Rng } from '../engine/random.js';
import { keep } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { Conv2d, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { Backbone, type BackboneConfig } from './backbone.js';

export class BackboneClassifier extends Module {
  readonly backbone: Backbone;
  readonly head: Linear;
  private readonly mean: Tensor;
  private readonly std: Tensor;

  constructor(
    config: BackboneConfig,
    readonly numClasses: number,
    rng: Rng,
    /** The detector's input normalisation, so the features learnt here are the ones it sees. */
    imageMean: readonly number[],
    imageStd: readonly number[],
  ) {
    super();
    this.backbone = this.addModule('backbone', new Backbone(config, rng));
    this.head = this.addModule('fc', new Linear(this.backbone.outChannels, numClasses, rng));
    this.mean = keep(tensor(Float32Array.from(imageMean), [1, imageMean.length, 1, 1]));
    this.std = keep(tensor(Float32Array.from(imageStd), [1, imageStd.length, 1, 1]));
  }

  /** Logits [N, classes] of [0, 1] images [N, 3, H, W]. */
  forward(images: Tensor): Tensor {
    const features = this.backbone.forward(div(sub(images, this.mean), this.std));
    return this.head.forward(mean(features, [2, 3]));
  }

  override dispose(): void {
    super.dispose();
    this.mean.dispose();
    this.std.dispose();
  }
}

/**
 * A view of a backbone whose parameters are named as inside a detector (`backbone.0.weight`), to
 * save and load backbone-only checkpoints. Disposing it does not dispose the backbone.
 */
export class BackboneView extends Module {
  constructor(readonly backbone: Backbone) {
    super();
    this.addModule('backbone', backbone);
  }

  override dispose(): void {}
}

/** The convolutions of each stage of a backbone, stage by stage. */
export function stageConvs(backbone: Backbone): Conv2d[][] {
  const convs = backbone.layers.filter((l): l is Conv2d => l instanceof Conv2d);
  const out: Conv2d[][] = [];
  let i = 0;
  for (const stage of backbone.config.stages) {
    out.push(convs.slice(i, i + stage.length));
    i += stage.length;
  }
  return out;
}

/** Freeze the first k stages (their parameters leave trainableParameters()); returns the count frozen. */
export function freezeStages(backbone: Backbone, k: number): number {
  const stages = stageConvs(backbone);
  if (!Number.isInteger(k) || k < 0 || k > stages.length) throw new Error(`kdet.freezeStages: k = ${k} is not in [0, ${stages.length}]`);
  let n = 0;
  for (const conv of stages.slice(0, k).flat()) {
    for (const p of conv.parameters()) {
      p.trainable = false;
      n += p.value.size;
    }
  }
  return n;
}
