/**
 * A torchvision backbone body (MobileNetV3-Large's features, a ResNet) as an image classifier:
 * body → global average pool of its last map → linear. This is how torchvision's detectors get
 * their ImageNet-pretrained `weights_backbone`: the classifier's body weights are loaded into the
 * detector's `backbone.body`, then frozen in part. kdet pre-trains the same bodies on Fashion-MNIST
 * items (`kdet pretrain --backbone <builder>`), the stand-in for ImageNet; `BodyView` names the
 * body's tensors as inside the detector, so the saved file is a detector's body, key for key.
 */
import { tensor } from '../engine/ops/creation.js';
import { div, sub } from '../engine/ops/elementwise.js';
import { mean } from '../engine/ops/reduce.js';
import type { Rng } from '../engine/random.js';
import { keep } from '../engine/scope.js';
import { view, type Tensor } from '../engine/tensor.js';
import { Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import type { FeatureExtractor } from './backbone-with-fpn.js';
import type { NormOptions } from './conv-norm-act.js';
import { MobileNetV3Body } from './mobilenetv3.js';
import { ResNetBody, type ResNetArch } from './resnet.js';

/** A body by the name of the torchvision classifier it comes from. */
export type BodyArch = 'mobilenet_v3_large' | ResNetArch;

/** The body as the detection builders make it (MobileNetV3: blocks 0–16; ResNet: layer1–4). */
export function buildBody(arch: BodyArch, rng: Rng, norm: NormOptions = {}): FeatureExtractor {
  return arch === 'mobilenet_v3_large' ? new MobileNetV3Body(rng, norm) : new ResNetBody(arch, rng, norm);
}

export class BodyClassifier extends Module {
  readonly body: FeatureExtractor;
  readonly fc: Linear;
  private readonly mean: Tensor;
  private readonly std: Tensor;

  constructor(
    readonly arch: BodyArch,
    readonly numClasses: number,
    rng: Rng,
    /** The detector's input normalisation (ImageNet's for torchvision's), so the features learnt fit it. */
    imageMean: readonly number[],
    imageStd: readonly number[],
    norm: NormOptions = { norm: 'batch' },
  ) {
    super();
    this.body = this.addModule('body', buildBody(arch, rng, norm));
    this.fc = this.addModule('fc', new Linear(this.body.outChannels[this.body.outChannels.length - 1]!, numClasses, rng));
    this.mean = keep(tensor(Float32Array.from(imageMean), [1, imageMean.length, 1, 1]));
    this.std = keep(tensor(Float32Array.from(imageStd), [1, imageStd.length, 1, 1]));
  }

  /** Logits [N, classes] of [0, 1] images [N, 3, H, W]. */
  forward(images: Tensor): Tensor {
    const maps = this.body.forward(div(sub(images, this.mean), this.std));
    const names = [...maps.keys()];
    const last = maps.get(names[names.length - 1]!)!;
    for (const [name, m] of maps) if (m !== last) maps.get(name)!.dispose();
    return this.fc.forward(mean(last, [2, 3]));
  }

  override dispose(): void {
    super.dispose();
    this.mean.dispose();
    this.std.dispose();
  }
}

/** Holds the body under the name `body`, as BackboneWithFPN does. */
class BodyHolder extends Module {
  constructor(body: Module) {
    super();
    this.addModule('body', body);
  }
}

/**
 * A view of a body whose tensors are named as inside a torchvision-family detector
 * (`backbone.body.0.0.weight`), to save and load body-only checkpoints. Disposing it does not
 * dispose the body.
 */
export class BodyView extends Module {
  constructor(readonly body: Module) {
    super();
    this.addModule('backbone', new BodyHolder(body));
  }

  override dispose(): void {}
}

/**
 * Move a body's tensors into another body of the same architecture, whatever its norm: from
 * BatchNorm2d (as pre-trained) into FrozenBatchNorm2d, which keeps weight, bias and the running
 * statistics and has no `num_batches_tracked` (torchvision drops it the same way). Every tensor
 * of `to` must be given; returns how many were taken.
 */
export function copyBody(from: Module, to: Module): number {
  const have = from.stateDict();
  const want = to.namedParameters();
  const wanted = new Set(want.map(([name]) => name));
  const missing = want.filter(([name]) => !have.has(name)).map(([name]) => name);
  if (missing.length) throw new Error(`kdet.copyBody: the body lacks ${missing.length} tensor(s) the model has (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''})`);
  const unused = [...have.keys()].filter((name) => !wanted.has(name) && !name.endsWith('num_batches_tracked'));
  if (unused.length) throw new Error(`kdet.copyBody: the body has ${unused.length} tensor(s) the model lacks (${unused.slice(0, 3).join(', ')}${unused.length > 3 ? ', …' : ''})`);
  // Views share the source's storage (reference-counted): disposing the source keeps them.
  to.loadStateDict(new Map(want.map(([name]) => [name, view(have.get(name)!, have.get(name)!.shape)])), false);
  return want.length;
}
