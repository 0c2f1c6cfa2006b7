import type { Backend } from '../engine/backend.js';
import { relu } from '../engine/ops/elementwise.js';
import { conv2d, maxPool2d, type Pair } from '../engine/ops/conv.js';
import { linear } from '../engine/ops/linalg.js';
import type { Rng } from '../engine/random.js';
import type { Tensor } from '../engine/tensor.js';
import { constant, torchDefault } from './init.js';
import { Module } from './module.js';
import type { Parameter } from './parameter.js';

export interface Conv2dLayerOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
  backend?: Backend;
  /** Custom weight initialiser; PyTorch's default when absent. */
  init?: (shape: number[], rng: Rng) => Tensor;
}

/** torch.nn.Conv2d: weight [out, in/groups, kh, kw], bias [out]. */
export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernel: number | [number, number],
    rng: Rng,
    readonly opts: Conv2dLayerOptions = {},
  ) {
    super();
    const [kh, kw] = typeof kernel === 'number' ? [kernel, kernel] : kernel;
    const groups = opts.groups ?? 1;
    const shape = [outChannels, inChannels / groups, kh, kw];
    const fanIn = (inChannels / groups) * kh * kw;
    this.weight = this.addParameter('weight', opts.init ? opts.init(shape, rng) : torchDefault(shape, fanIn, rng, opts.backend));
    this.bias = opts.bias === false ? null : this.addParameter('bias', opts.init ? constant([outChannels], 0, opts.backend) : torchDefault([outChannels], fanIn, rng, opts.backend));
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight.value, this.bias?.value ?? null, this.opts);
  }

  /** Multiply-adds of one forward pass for an input of h×w (per image). */
  flops(h: number, w: number): { flops: number; outH: number; outW: number } {
    const [kh, kw] = typeof this.kernel === 'number' ? [this.kernel, this.kernel] : this.kernel;
    const [sh, sw] = pairOf(this.opts.stride ?? 1);
    const [ph, pw] = pairOf(this.opts.padding ?? 0);
    const [dh, dw] = pairOf(this.opts.dilation ?? 1);
    const outH = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
    const outW = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
    const groups = this.opts.groups ?? 1;
    return { flops: 2 * outH * outW * this.outChannels * (this.inChannels / groups) * kh * kw, outH, outW };
  }
}

function pairOf(v: Pair): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/** torch.nn.Linear: weight [out, in], bias [out]. */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    rng: Rng,
    opts: { bias?: boolean; backend?: Backend; init?: (shape: number[], rng: Rng) => Tensor } = {},
  ) {
    super();
    const shape = [outFeatures, inFeatures];
    this.weight = this.addParameter('weight', opts.init ? opts.init(shape, rng) : torchDefault(shape, inFeatures, rng, opts.backend));
    this.bias = opts.bias === false ? null : this.addParameter('bias', opts.init ? constant([outFeatures], 0, opts.backend) : torchDefault([outFeatures], inFeatures, rng, opts.backend));
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight.value, this.bias?.value ?? null);
  }

  /** Multiply-add FLOPs (×2) of a forward pass on `rows` inputs. */
  flops(rows: number): number {
    return 2 * rows * this.inFeatures * this.outFeatures;
  }
}

/** A layer without parameters, so that Sequential indices match torch.nn.Sequential's. */
export class Lambda extends Module {
  constructor(
    readonly name: string,
    readonly fn: (x: Tensor) => Tensor,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return this.fn(x);
  }
}

export const ReLU = (): Lambda => new Lambda('ReLU', relu);
export const MaxPool2d = (kernel: Pair, stride?: Pair, padding: Pair = 0): Lambda =>
  new Lambda('MaxPool2d', (x) => maxPool2d(x, kernel, { stride: stride ?? kernel, padding }));

export interface Layer extends Module {
  forward(x: Tensor): Tensor;
}

/** torch.nn.Sequential: children named 0, 1, 2, … */
export class Sequential extends Module {
  readonly layers: Layer[];

  constructor(layers: Layer[]) {
    super();
    this.layers = layers;
    layers.forEach((l, i) => this.addModule(String(i), l));
  }

  forward(x: Tensor): Tensor {
    let h = x;
    for (const l of this.layers) {
      const next = l.forward(h);
      if (h !== x && h !== next) h.dispose();
      h = next;
    }
    return h;
  }
}
