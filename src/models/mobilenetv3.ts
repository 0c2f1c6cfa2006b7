import type { Backend } from '../engine/backend.js';
import { add, mul, relu } from '../engine/ops/elementwise.js';
import type { Rng } from '../engine/random.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { FeaturePyramidNetwork, LastLevelMaxPool, type ExtraFPNBlock, type FeatureMaps } from '../detection/fpn.js';
import { hardsigmoid } from '../nn/activations.js';
import { kaimingNormal } from '../nn/init.js';
import { Conv2d, type Layer, Sequential } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { adaptiveAvgPool2d } from '../nn/resample.js';
import { BackboneWithFPN, type FeatureExtractor } from './backbone-with-fpn.js';
import { conv2dNormActivation, type NormOptions } from './conv-norm-act.js';

/*
 * torchvision 0.14's MobileNetV3-Large `features` (models/mobilenetv3.py) as a detection body,
 * under torchvision's module names: `0` the stem, `1`..`15` inverted residuals (`block.0.0.weight`,
 * SE as `block.2.fc1.weight`), `16` the last 1×1 conv to 960 channels. The detection
 * configuration only: width 1.0, reduced_tail=False, dilated=False. Depthwise convolutions are
 * conv2d with groups = channels.
 */

/** torchvision's _make_divisible (from the TF MobileNet code): round to a multiple of `divisor`, never below 90 % of v. */
export function makeDivisible(v: number, divisor = 8, minValue = divisor): number {
  let n = Math.max(minValue, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

/** One row of the paper's Table 1 (torchvision's InvertedResidualConfig). */
export interface InvertedResidualConfig {
  inChannels: number;
  kernel: number;
  expandedChannels: number;
  outChannels: number;
  useSE: boolean;
  activation: 'relu' | 'hardswish';
  stride: number;
}

const row = (inChannels: number, kernel: number, expandedChannels: number, outChannels: number, useSE: boolean, act: 'RE' | 'HS', stride: number): InvertedResidualConfig => ({
  inChannels,
  kernel,
  expandedChannels,
  outChannels,
  useSE,
  activation: act === 'HS' ? 'hardswish' : 'relu',
  stride,
});

/** mobilenet_v3_large's inverted residual setting (C1..C4 mark the stride-2 blocks). */
export const MOBILENET_V3_LARGE: readonly InvertedResidualConfig[] = [
  row(16, 3, 16, 16, false, 'RE', 1),
  row(16, 3, 64, 24, false, 'RE', 2), // C1
  row(24, 3, 72, 24, false, 'RE', 1),
  row(24, 5, 72, 40, true, 'RE', 2), // C2
  row(40, 5, 120, 40, true, 'RE', 1),
  row(40, 5, 120, 40, true, 'RE', 1),
  row(40, 3, 240, 80, false, 'HS', 2), // C3
  row(80, 3, 200, 80, false, 'HS', 1),
  row(80, 3, 184, 80, false, 'HS', 1),
  row(80, 3, 184, 80, false, 'HS', 1),
  row(80, 3, 480, 112, true, 'HS', 1),
  row(112, 3, 672, 112, true, 'HS', 1),
  row(112, 5, 672, 160, true, 'HS', 2), // C4
  row(160, 5, 960, 160, true, 'HS', 1),
  row(160, 5, 960, 160, true, 'HS', 1),
];

const convInit = (backend: Backend | undefined) => (shape: number[], r: Rng) => kaimingNormal(shape, r, 'fanOut', backend);

/**
 * torchvision.ops.misc.SqueezeExcitation as MobileNetV3 uses it: global average → 1×1 conv
 * (fc1) → ReLU → 1×1 conv (fc2) → hardsigmoid, which scales the input per channel.
 */
export class SqueezeExcitation extends Module {
  readonly fc1: Conv2d;
  readonly fc2: Conv2d;

  constructor(channels: number, squeezeChannels: number, rng: Rng, backend?: Backend) {
    super();
    this.fc1 = this.addModule('fc1', new Conv2d(channels, squeezeChannels, 1, rng, { init: convInit(backend), backend }));
    this.fc2 = this.addModule('fc2', new Conv2d(squeezeChannels, channels, 1, rng, { init: convInit(backend), backend }));
  }

  forward(x: Tensor): Tensor {
    return scope(() => mul(hardsigmoid(this.fc2.forward(relu(this.fc1.forward(adaptiveAvgPool2d(x, 1))))), x));
  }
}

/**
 * MobileNetV3's inverted residual (section 5 of the paper): 1×1 expand (when widths differ) →
 * k×k depthwise (stride) → [SE] → 1×1 project (no activation), plus the input when stride 1 and
 * widths equal. All in `block` (a Sequential), as torchvision names it.
 */
export class InvertedResidual extends Module {
  readonly block: Sequential;
  readonly useResidual: boolean;
  /** torchvision's `_is_cn`: a stride-2 block, where a stage begins. */
  readonly isStageStart: boolean;
  readonly outChannels: number;

  constructor(cnf: InvertedResidualConfig, rng: Rng, norm: NormOptions) {
    super();
    this.useResidual = cnf.stride === 1 && cnf.inChannels === cnf.outChannels;
    this.isStageStart = cnf.stride > 1;
    this.outChannels = cnf.outChannels;
    const backend = norm.backend;
    const cna = (cin: number, cout: number, k: number, o: { stride?: number; groups?: number; act: 'relu' | 'hardswish' | null }) =>
      conv2dNormActivation(cin, cout, k, rng, { stride: o.stride, groups: o.groups, norm, activation: o.act, backend });
    const layers: Layer[] = [];
    const exp = cnf.expandedChannels;
    if (exp !== cnf.inChannels) layers.push(cna(cnf.inChannels, exp, 1, { act: cnf.activation }));
    layers.push(cna(exp, exp, cnf.kernel, { stride: cnf.stride, groups: exp, act: cnf.activation }));
    if (cnf.useSE) layers.push(new SqueezeExcitation(exp, makeDivisible(Math.floor(exp / 4), 8), rng, backend));
    layers.push(cna(exp, cnf.outChannels, 1, { act: null }));
    this.block = this.addModule('block', new Sequential(layers));
  }

  forward(x: Tensor): Tensor {
    if (!this.useResidual) return this.block.forward(x);
    return scope(() => add(this.block.forward(x), x));
  }
}

export interface MobileNetV3BodyOptions extends NormOptions {
  /**
   * Stages to return, as indices into the stage list (torchvision's returned_layers for
   * _mobilenet_extractor with fpn=True; default the last two, [4, 5]). Blocks after the last
   * returned one are not built, as IntermediateLayerGetter drops them.
   */
  returnedLayers?: readonly number[];
}

/**
 * MobileNetV3-Large's `features` behind torchvision's IntermediateLayerGetter, as
 * _mobilenet_extractor(fpn=True) builds it. Stages begin at block 0, at every stride-2 block and
 * at the last block: stage indices [0, 2, 4, 7, 13, 16]. By default it returns '0' (block 13,
 * the C4 block: 160 channels, stride 32) and '1' (block 16: 960 channels, stride 32).
 *
 * Norm defaults to BatchNorm2d with eps 1e-5, momentum 0.1, which is what
 * fasterrcnn_mobilenet_v3_large_fpn passes explicitly (nn.BatchNorm2d, or FrozenBatchNorm2d with
 * eps 1e-5 when pretrained); mobilenet_v3_large()'s own default is eps 0.001, momentum 0.01
 * (pass them to get it).
 */
export class MobileNetV3Body extends Module implements FeatureExtractor {
  readonly blocks: Layer[] = [];
  /** torchvision's stage_indices: 0, every stride-2 block, the last block. */
  readonly stageIndices: readonly number[];
  /** Block index → output name ('13' → '0', '16' → '1' by default). */
  readonly returnLayers: ReadonlyMap<number, string>;
  readonly outChannels: readonly number[];

  constructor(rng: Rng, opts: MobileNetV3BodyOptions = {}) {
    super();
    const norm: NormOptions = { norm: opts.norm, eps: opts.eps, momentum: opts.momentum, backend: opts.backend };
    const backend = opts.backend;
    const setting = MOBILENET_V3_LARGE;
    const widths: number[] = [];
    const all: Layer[] = [conv2dNormActivation(3, setting[0]!.inChannels, 3, rng, { stride: 2, norm, activation: 'hardswish', backend })];
    widths.push(setting[0]!.inChannels);
    for (const cnf of setting) {
      all.push(new InvertedResidual(cnf, rng, norm));
      widths.push(cnf.outChannels);
    }
    const lastIn = setting[setting.length - 1]!.outChannels;
    all.push(conv2dNormActivation(lastIn, 6 * lastIn, 1, rng, { norm, activation: 'hardswish', backend }));
    widths.push(6 * lastIn);

    const stages = [0, ...all.flatMap((b, i) => (b instanceof InvertedResidual && b.isStageStart ? [i] : [])), all.length - 1];
    this.stageIndices = stages;
    const numStages = stages.length;
    const returned = [...(opts.returnedLayers ?? [numStages - 2, numStages - 1])];
    if (returned.length === 0 || returned.some((l, i) => !Number.isInteger(l) || l < 0 || l >= numStages || (i > 0 && l <= returned[i - 1]!))) {
      throw new Error(`kdet.MobileNetV3Body: returnedLayers must be increasing, each in [0, ${numStages - 1}], got [${returned}]`);
    }
    this.returnLayers = new Map(returned.map((l, i) => [stages[l]!, String(i)]));
    this.outChannels = returned.map((l) => widths[stages[l]!]!);
    const lastBlock = stages[returned[returned.length - 1]!]!;
    for (let i = 0; i <= lastBlock; i++) this.blocks.push(this.addModule(String(i), all[i]!));
    // The blocks past the last returned one were never registered: free what they allocated.
    for (let i = lastBlock + 1; i < all.length; i++) all[i]!.dispose();
  }

  forward(x: Tensor): FeatureMaps {
    if (x.rank !== 4 || x.shape[1] !== 3) throw new Error(`kdet.MobileNetV3Body: expected images [N, 3, H, W], got [${x.shape}]`);
    const out: FeatureMaps = new Map();
    let h = x;
    // Eagerly free what is neither returned nor the caller's: 17 blocks of activations otherwise
    // all live until the end (the tape keeps its own references for backward).
    this.blocks.forEach((b, i) => {
      const next = b.forward(h);
      if (h !== x && ![...out.values()].includes(h)) h.dispose();
      h = next;
      const name = this.returnLayers.get(i);
      if (name !== undefined) out.set(name, h);
    });
    return out;
  }

  /**
   * torchvision's _mobilenet_extractor freezing: with n of the 6 stages trainable (0..6), every
   * block before stage_indices[6 − n] is frozen (all blocks for n = 0), the rest trainable.
   */
  setTrainableLayers(n: number): this {
    const numStages = this.stageIndices.length;
    if (!Number.isInteger(n) || n < 0 || n > numStages) throw new Error(`kdet.MobileNetV3Body: trainable layers should be in [0, ${numStages}], got ${n}`);
    const freezeBefore = n === 0 ? Infinity : this.stageIndices[numStages - n]!;
    this.blocks.forEach((b, i) => b.setTrainable(i >= freezeBefore));
    return this;
  }
}

export interface MobileNetV3FpnOptions extends MobileNetV3BodyOptions {
  /** Stages left trainable (0..6); default 3, fasterrcnn_mobilenet_v3_large_fpn's with pretrained weights (6 without). */
  trainableLayers?: number;
  /** FPN channels; default 256. */
  outChannels?: number;
  /** Default LastLevelMaxPool (the 'pool' level); null for none. */
  extraBlocks?: ExtraFPNBlock | null;
}

/**
 * The backbone of torchvision's fasterrcnn_mobilenet_v3_large_fpn (_mobilenet_extractor with
 * fpn=True): MobileNetV3-Large features (default norm 'frozen'), an FPN of 256 channels on
 * blocks 13 and 16, LastLevelMaxPool: levels '0', '1', 'pool'.
 */
export function mobilenetV3LargeFpnBackbone(rng: Rng, opts: MobileNetV3FpnOptions = {}): BackboneWithFPN<MobileNetV3Body> {
  const body = new MobileNetV3Body(rng, { ...opts, norm: opts.norm ?? 'frozen' });
  body.setTrainableLayers(opts.trainableLayers ?? 3);
  const extraBlocks = opts.extraBlocks === undefined ? new LastLevelMaxPool() : opts.extraBlocks;
  const fpn = new FeaturePyramidNetwork(body.outChannels, opts.outChannels ?? 256, rng, { extraBlocks, backend: opts.backend });
  return new BackboneWithFPN(body, fpn);
}
