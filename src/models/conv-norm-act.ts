import type { Backend } from '../engine/backend.js';
import type { Rng } from '../engine/random.js';
import type { Tensor } from '../engine/tensor.js';
import { hardswish } from '../nn/activations.js';
import { BatchNorm2d, FrozenBatchNorm2d } from '../nn/batchnorm.js';
import { kaimingNormal } from '../nn/init.js';
import { Conv2d, Lambda, ReLU, Sequential, type Layer } from '../nn/layers.js';

/*
 * The pieces torchvision's backbones are assembled from, under torchvision's module names so that
 * state dicts map one to one: a norm layer chosen by name, and Conv2dNormActivation (a Sequential
 * of conv, norm, activation: `0.weight`, `1.running_mean`, …).
 */

/**
 * 'batch': torch.nn.BatchNorm2d (what torchvision's detection builders use without pretrained
 * weights); 'frozen': torchvision.ops.misc.FrozenBatchNorm2d (their default with pretrained
 * weights: fixed statistics and affine, nothing trainable).
 */
export type NormKind = 'batch' | 'frozen';

export interface NormOptions {
  norm?: NormKind;
  /** Default 1e-5, both kinds (torch's and torchvision's defaults). */
  eps?: number;
  /** BatchNorm2d only; default 0.1. */
  momentum?: number | null;
  backend?: Backend;
}

export function makeNorm(channels: number, opts: NormOptions = {}): BatchNorm2d | FrozenBatchNorm2d {
  const eps = opts.eps ?? 1e-5;
  if ((opts.norm ?? 'batch') === 'frozen') return new FrozenBatchNorm2d(channels, eps, { backend: opts.backend });
  return new BatchNorm2d(channels, { eps, momentum: opts.momentum === undefined ? 0.1 : opts.momentum, backend: opts.backend });
}

export type Activation = 'relu' | 'hardswish' | null;

export function activationLayer(a: Activation): Layer | null {
  if (a === 'relu') return ReLU();
  if (a === 'hardswish') return new Lambda('Hardswish', hardswish);
  return null;
}

export interface ConvNormActOptions {
  stride?: number;
  /** Default (kernel − 1) / 2 · dilation, as torchvision. */
  padding?: number;
  dilation?: number;
  groups?: number;
  /** The norm layer; null for none, and then the conv has a bias (torchvision's `bias=None` rule). */
  norm: NormOptions | null;
  activation: Activation;
  /** Weight initialiser; default kaiming normal, fan-out (torchvision's ResNet and MobileNet). */
  init?: (shape: number[], rng: Rng) => Tensor;
  backend?: Backend;
}

/** torchvision.ops.misc.Conv2dNormActivation: Sequential(conv, [norm], [activation]). */
export function conv2dNormActivation(inChannels: number, outChannels: number, kernel: number, rng: Rng, opts: ConvNormActOptions): Sequential {
  const dilation = opts.dilation ?? 1;
  const conv = new Conv2d(inChannels, outChannels, kernel, rng, {
    stride: opts.stride ?? 1,
    padding: opts.padding ?? Math.floor((kernel - 1) / 2) * dilation,
    dilation,
    groups: opts.groups ?? 1,
    bias: opts.norm === null,
    init: opts.init ?? ((shape, r) => kaimingNormal(shape, r, 'fanOut', opts.backend)),
    backend: opts.backend,
  });
  const layers: Layer[] = [conv];
  if (opts.norm) layers.push(makeNorm(outChannels, { ...opts.norm, backend: opts.norm.backend ?? opts.backend }));
  const act = activationLayer(opts.activation);
  if (act) layers.push(act);
  return new Sequential(layers);
}
