import { maxPool2d } from '../engine/ops/conv.js';
import { add, relu } from '../engine/ops/elementwise.js';
import type { Rng } from '../engine/random.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { FeaturePyramidNetwork, LastLevelMaxPool, type ExtraFPNBlock, type FeatureMaps } from '../detection/fpn.js';
import type { BatchNorm2d, FrozenBatchNorm2d } from '../nn/batchnorm.js';
import { kaimingNormal } from '../nn/init.js';
import { Conv2d, Sequential, type Layer } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { BackboneWithFPN, type FeatureExtractor } from './backbone-with-fpn.js';
import { makeNorm, type NormOptions } from './conv-norm-act.js';

/*
 * torchvision 0.14's ResNet (models/resnet.py) as a detection body: the stem and layer1..layer4,
 * no avgpool/fc, under torchvision's module names. Bottleneck is v1.5 (stride on the 3×3 conv).
 * groups, width_per_group and dilation are not supported (1, 64, none): the Faster R-CNN
 * builders never set them.
 */

type Norm = BatchNorm2d | FrozenBatchNorm2d;

/** kaiming_normal_(mode='fan_out', nonlinearity='relu'), torchvision's ResNet conv init. */
function conv(cin: number, cout: number, k: number, stride: number, rng: Rng, o: NormOptions): Conv2d {
  return new Conv2d(cin, cout, k, rng, {
    stride,
    padding: (k - 1) >> 1,
    bias: false,
    init: (shape, r) => kaimingNormal(shape, r, 'fanOut', o.backend),
    backend: o.backend,
  });
}

/** A residual block: the input and planes in, planes · expansion out. */
interface ResidualBlock extends Module {
  forward(x: Tensor): Tensor;
}

/** torchvision's BasicBlock (ResNet-18/34): 3×3 (stride) → 3×3, plus the shortcut. */
export class BasicBlock extends Module implements ResidualBlock {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: Norm;
  readonly conv2: Conv2d;
  readonly bn2: Norm;

  constructor(inplanes: number, planes: number, stride: number, readonly downsample: Sequential | null, rng: Rng, norm: NormOptions) {
    super();
    this.conv1 = this.addModule('conv1', conv(inplanes, planes, 3, stride, rng, norm));
    this.bn1 = this.addModule('bn1', makeNorm(planes, norm));
    this.conv2 = this.addModule('conv2', conv(planes, planes, 3, 1, rng, norm));
    this.bn2 = this.addModule('bn2', makeNorm(planes, norm));
    if (downsample) this.addModule('downsample', downsample);
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      const h = relu(this.bn1.forward(this.conv1.forward(x)));
      const y = this.bn2.forward(this.conv2.forward(h));
      return relu(add(y, this.downsample ? this.downsample.forward(x) : x));
    });
  }
}

/** torchvision's Bottleneck (ResNet-50/101/152), v1.5: 1×1 → 3×3 (stride) → 1×1 (×4), plus the shortcut. */
export class Bottleneck extends Module implements ResidualBlock {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: Norm;
  readonly conv2: Conv2d;
  readonly bn2: Norm;
  readonly conv3: Conv2d;
  readonly bn3: Norm;

  constructor(inplanes: number, planes: number, stride: number, readonly downsample: Sequential | null, rng: Rng, norm: NormOptions) {
    super();
    this.conv1 = this.addModule('conv1', conv(inplanes, planes, 1, 1, rng, norm));
    this.bn1 = this.addModule('bn1', makeNorm(planes, norm));
    this.conv2 = this.addModule('conv2', conv(planes, planes, 3, stride, rng, norm));
    this.bn2 = this.addModule('bn2', makeNorm(planes, norm));
    this.conv3 = this.addModule('conv3', conv(planes, planes * 4, 1, 1, rng, norm));
    this.bn3 = this.addModule('bn3', makeNorm(planes * 4, norm));
    if (downsample) this.addModule('downsample', downsample);
  }

  forward(x: Tensor): Tensor {
    return scope(() => {
      let h = relu(this.bn1.forward(this.conv1.forward(x)));
      h = relu(this.bn2.forward(this.conv2.forward(h)));
      const y = this.bn3.forward(this.conv3.forward(h));
      return relu(add(y, this.downsample ? this.downsample.forward(x) : x));
    });
  }
}

export const RESNET_ARCHS = {
  resnet18: { block: BasicBlock, layers: [2, 2, 2, 2] },
  resnet34: { block: BasicBlock, layers: [3, 4, 6, 3] },
  resnet50: { block: Bottleneck, layers: [3, 4, 6, 3] },
  resnet101: { block: Bottleneck, layers: [3, 4, 23, 3] },
  resnet152: { block: Bottleneck, layers: [3, 8, 36, 3] },
} as const;

export type ResNetArch = keyof typeof RESNET_ARCHS;

export interface ResNetBodyOptions extends NormOptions {
  /**
   * Which of layer1..layer4 to return (torchvision's returned_layers; default all four). Layers
   * after the last returned one are not built, as IntermediateLayerGetter drops them.
   */
  returnedLayers?: readonly number[];
}

/**
 * ResNet's body for detection: torchvision's IntermediateLayerGetter over a ResNet with
 * return_layers {layer1: '0', …, layer4: '3'}: conv1 (7×7, stride 2) → bn1 → ReLU →
 * max pool 3×3 stride 2 → layer1..layer4, returning C2..C5 (strides 4..32). Norm 'batch' or
 * 'frozen' (default 'batch' here; resnetFpnBackbone defaults to 'frozen', as torchvision).
 */
export class ResNetBody extends Module implements FeatureExtractor {
  readonly conv1: Conv2d;
  readonly bn1: Norm;
  readonly layers: Sequential[] = [];
  readonly returnedLayers: readonly number[];
  readonly outChannels: readonly number[];

  constructor(
    readonly arch: ResNetArch,
    rng: Rng,
    opts: ResNetBodyOptions = {},
  ) {
    super();
    const spec = RESNET_ARCHS[arch];
    if (!spec) throw new Error(`kdet.ResNetBody: unknown architecture '${arch}' (known: ${Object.keys(RESNET_ARCHS).join(', ')})`);
    const returned = [...(opts.returnedLayers ?? [1, 2, 3, 4])];
    if (returned.length === 0 || returned.some((l, i) => !Number.isInteger(l) || l < 1 || l > 4 || (i > 0 && l <= returned[i - 1]!))) {
      throw new Error(`kdet.ResNetBody: returnedLayers must be increasing, each in [1, 4], got [${returned}]`);
    }
    this.returnedLayers = returned;
    const norm: NormOptions = { norm: opts.norm, eps: opts.eps, momentum: opts.momentum, backend: opts.backend };
    this.conv1 = this.addModule('conv1', conv(3, 64, 7, 2, rng, norm));
    this.bn1 = this.addModule('bn1', makeNorm(64, norm));
    const { block, layers } = spec;
    const expansion = block.expansion;
    let inplanes = 64;
    const last = returned[returned.length - 1]!;
    for (let i = 0; i < last; i++) {
      const planes = 64 * 2 ** i;
      const stride = i === 0 ? 1 : 2;
      const blocks: Layer[] = [];
      for (let b = 0; b < layers[i]!; b++) {
        // The first block of a layer changes stride and/or width: its shortcut is 1×1 conv + norm.
        const needs = b === 0 && (stride !== 1 || inplanes !== planes * expansion);
        const down = needs ? new Sequential([conv(inplanes, planes * expansion, 1, stride, rng, norm), makeNorm(planes * expansion, norm)]) : null;
        blocks.push(new block(inplanes, planes, b === 0 ? stride : 1, down, rng, norm));
        inplanes = planes * expansion;
      }
      this.layers.push(this.addModule(`layer${i + 1}`, new Sequential(blocks)));
    }
    // torchvision's in_channels_list: (final inplanes / 8) · 2^(layer − 1) = 64 · expansion · 2^(layer − 1).
    this.outChannels = returned.map((l) => 64 * expansion * 2 ** (l - 1));
  }

  forward(x: Tensor): FeatureMaps {
    if (x.rank !== 4 || x.shape[1] !== 3) throw new Error(`kdet.ResNetBody: expected images [N, 3, H, W], got [${x.shape}]`);
    return scope(() => {
      let h = relu(this.bn1.forward(this.conv1.forward(x)));
      h = maxPool2d(h, 3, { stride: 2, padding: 1 });
      const out: FeatureMaps = new Map();
      this.layers.forEach((layer, i) => {
        h = layer.forward(h);
        const at = this.returnedLayers.indexOf(i + 1);
        if (at >= 0) out.set(String(at), h);
      });
      return out;
    });
  }

  /**
   * torchvision's _resnet_fpn_extractor freezing: the last `n` (0..5) of layer4, layer3, layer2,
   * layer1, conv1 stay trainable (5 adds bn1); every other parameter is frozen. Norm buffers are
   * never trainable, and FrozenBatchNorm2d has nothing else.
   */
  setTrainableLayers(n: number): this {
    if (!Number.isInteger(n) || n < 0 || n > 5) throw new Error(`kdet.ResNetBody: trainable layers should be in [0, 5], got ${n}`);
    const prefixes = ['layer4', 'layer3', 'layer2', 'layer1', 'conv1'].slice(0, n);
    if (n === 5) prefixes.push('bn1');
    for (const [name, p] of this.namedParameters()) p.trainable = prefixes.some((l) => name.startsWith(l));
    return this;
  }
}

export interface ResNetFpnOptions extends ResNetBodyOptions {
  /** Layers left trainable (0..5, torchvision's trainable_layers); default 3. */
  trainableLayers?: number;
  /** FPN channels; default 256. */
  outChannels?: number;
  /** Default LastLevelMaxPool (the 'pool' level); null for none. */
  extraBlocks?: ExtraFPNBlock | null;
}

/**
 * torchvision's resnet_fpn_backbone / _resnet_fpn_extractor: a ResNet body (default norm
 * 'frozen', torchvision's default; fasterrcnn_resnet50_fpn without pretrained weights uses
 * 'batch' and 5 trainable layers) with an FPN of 256 channels returning '0'..'3' and 'pool'.
 */
export function resnetFpnBackbone(arch: ResNetArch, rng: Rng, opts: ResNetFpnOptions = {}): BackboneWithFPN<ResNetBody> {
  const body = new ResNetBody(arch, rng, { ...opts, norm: opts.norm ?? 'frozen' });
  body.setTrainableLayers(opts.trainableLayers ?? 3);
  const extraBlocks = opts.extraBlocks === undefined ? new LastLevelMaxPool() : opts.extraBlocks;
  const fpn = new FeaturePyramidNetwork(body.outChannels, opts.outChannels ?? 256, rng, { extraBlocks, backend: opts.backend });
  return new BackboneWithFPN(body, fpn);
}
