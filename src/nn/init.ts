import type { Backend } from '../engine/backend.js';
import { tensor } from '../engine/ops/creation.js';
import type { Rng } from '../engine/random.js';
import type { Shape } from '../engine/shape.js';
import type { Tensor } from '../engine/tensor.js';

/** fan-in and fan-out of a [out, in, ...kernel] weight, as torch.nn.init computes them. */
export function fans(shape: Shape): { fanIn: number; fanOut: number } {
  const receptive = shape.slice(2).reduce((p, d) => p * d, 1);
  return { fanIn: (shape[1] ?? 1) * receptive, fanOut: (shape[0] ?? 1) * receptive };
}

function make(shape: Shape, backend: Backend | undefined, sample: () => number): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = sample();
  return tensor(data, shape, backend ? { backend } : {});
}

export function normal(shape: Shape, std: number, rng: Rng, backend?: Backend): Tensor {
  return make(shape, backend, () => rng.normal() * std);
}

export function uniform(shape: Shape, bound: number, rng: Rng, backend?: Backend): Tensor {
  return make(shape, backend, () => rng.range(-bound, bound));
}

export function constant(shape: Shape, value: number, backend?: Backend): Tensor {
  return make(shape, backend, () => value);
}

/** He initialisation for ReLU nets: N(0, 2 / fan), fan = fan-in or fan-out. */
export function kaimingNormal(shape: Shape, rng: Rng, mode: 'fanIn' | 'fanOut' = 'fanOut', backend?: Backend): Tensor {
  const f = fans(shape);
  return normal(shape, Math.sqrt(2 / (mode === 'fanIn' ? f.fanIn : f.fanOut)), rng, backend);
}

/** PyTorch's default for Conv2d/Linear weights and biases: U(−1/√fan_in, 1/√fan_in). */
export function torchDefault(shape: Shape, fanIn: number, rng: Rng, backend?: Backend): Tensor {
  return uniform(shape, 1 / Math.sqrt(fanIn), rng, backend);
}
