import { tensor } from '../engine/ops/creation.js';
import { concat, gather, reshape, slice } from '../engine/ops/layout.js';
import { mean } from '../engine/ops/reduce.js';
import { check } from '../engine/errors.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { Lambda } from './layers.js';

/*
 * Resampling layers torchvision's MobileNetV3 (squeeze-excitation, heads) and FPN (top-down path)
 * need, composed from the engine's differentiable ops; gradients come from the tape.
 */

function checkInput(op: string, x: Tensor, size: readonly [number, number]): [number, number, number, number] {
  check(x.rank === 4, op, () => `expected input [N, C, H, W], got [${x.shape}]`);
  check(size.length === 2 && size.every((d) => Number.isInteger(d) && d > 0), op, () => `output size must be two positive integers, got [${size}]`);
  return x.shape as [number, number, number, number];
}

/** Mean over PyTorch's adaptive bins along `axis`: bin i covers [floor(i·n/m), ceil((i+1)·n/m)). */
function adaptiveMeanAxis(x: Tensor, axis: 2 | 3, m: number): Tensor {
  const n = x.shape[axis]!;
  if (m === n) return x;
  if (m === 1) return mean(x, axis, true);
  if (n % m === 0) {
    // Equal, disjoint bins: [.., m, n/m, ..] and a mean over the bin axis.
    const s = [...x.shape];
    s.splice(axis, 1, m, n / m);
    return mean(reshape(x, s), axis + 1);
  }
  const parts: Tensor[] = [];
  for (let i = 0; i < m; i++) {
    const start = Math.floor((i * n) / m);
    const end = Math.ceil(((i + 1) * n) / m);
    const begin = [0, 0, 0, 0];
    begin[axis] = start;
    const size = [...x.shape];
    size[axis] = end - start;
    parts.push(mean(slice(x, begin, size), axis, true));
  }
  return concat(parts, axis);
}

/**
 * torch.nn.functional.adaptive_avg_pool2d(x, [oh, ow]) for x [N, C, H, W]: output cell (i, j)
 * is the mean of rows [floor(i·H/oh), ceil((i+1)·H/oh)) and columns [floor(j·W/ow),
 * ceil((j+1)·W/ow)). The bins are rectangles, so the mean is taken along H, then along W
 * (a reshape + mean when the size divides, one slice + mean per bin otherwise; output 1×1 is a
 * plain mean). Output sizes larger than the input are allowed (bins then repeat rows), as in PyTorch.
 */
export function adaptiveAvgPool2d(x: Tensor, size: number | readonly [number, number]): Tensor {
  const hw: [number, number] = typeof size === 'number' ? [size, size] : [size[0], size[1]];
  const [, , h, w] = checkInput('adaptiveAvgPool2d', x, hw);
  if (hw[0] === h && hw[1] === w) return reshape(x, x.shape);
  return scope(() => {
    if (hw[0] === 1 && hw[1] === 1) return mean(x, [2, 3], true);
    return adaptiveMeanAxis(adaptiveMeanAxis(x, 2, hw[0]), 3, hw[1]);
  });
}

/**
 * PyTorch's source row for output row `dst` of mode='nearest' (UpSample.h nearest_idx, float32
 * tensors): identity for equal sizes, dst >> 1 for exactly twice, else
 * min(floorf(dst · (float)(in / out)), in − 1) in float32 arithmetic, which for some sizes differs
 * from the exact floor(dst · in / out) (e.g. 26 → 22: row 11 reads row 12, not 13).
 */
export function nearestSourceIndex(dst: number, inSize: number, outSize: number): number {
  if (outSize === inSize) return dst;
  if (outSize === 2 * inSize) return dst >> 1;
  const scale = Math.fround(inSize / outSize);
  return Math.min(Math.floor(Math.fround(dst * scale)), inSize - 1);
}

/**
 * torch.nn.functional.interpolate(x, size=[oh, ow], mode='nearest') for x [N, C, H, W] (any
 * sizes, up or down): two gathers (rows, then columns); the gradient sums into the source pixels
 * (gather's adjoint, scatterAdd).
 */
export function interpolateNearest(x: Tensor, size: number | readonly [number, number]): Tensor {
  const hw: [number, number] = typeof size === 'number' ? [size, size] : [size[0], size[1]];
  const [, , h, w] = checkInput('interpolateNearest', x, hw);
  if (hw[0] === h && hw[1] === w) return reshape(x, x.shape);
  return scope(() => {
    const index = (n: number, m: number): Tensor =>
      tensor(Int32Array.from({ length: m }, (_, i) => nearestSourceIndex(i, n, m)), [m], { dtype: 'int32', backend: x.backend });
    const rows = hw[0] === h ? x : gather(x, index(h, hw[0]), 2);
    return hw[1] === w ? rows : gather(rows, index(w, hw[1]), 3);
  });
}

/** torch.nn.AdaptiveAvgPool2d(size) (no parameters). */
export const AdaptiveAvgPool2d = (size: number | readonly [number, number]): Lambda =>
  new Lambda('AdaptiveAvgPool2d', (x) => adaptiveAvgPool2d(x, size));
