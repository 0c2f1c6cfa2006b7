import { clamp, div, greater, greaterEqual, less, lessEqual, mul, sub, where, add } from '../engine/ops/elementwise.js';
import { stopGradient } from '../engine/ops/layout.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { Lambda } from './layers.js';

/*
 * MobileNetV3's activations, composed from the engine's differentiable ops (no kernel of their
 * own). Each is built so that the tape reproduces PyTorch 1.13's float32 gradients everywhere,
 * including at the kinks and for non-finite inputs:
 *
 *   relu6'(x)       = 1 for 0 < x < 6, else 0; 1 at NaN    (hardtanh_backward: 0 where x <= 0 or x >= 6)
 *   hardsigmoid'(x) = 1/6 for -3 < x < 3, else 0; 0 at NaN
 *   hardswish'(x)   = 0 for x < -3, x/3 + 1/2 for -3 <= x <= 3, 1 for x > 3; 1 at NaN
 *                     (so hardswish'(-3) = -0.5 and hardswish'(3) = 1.5)
 *
 * A value outside the differentiable piece comes from `stopGradient` of the clamped value, and
 * `where` selects it, so that piece contributes no gradient and the backward never multiplies
 * a masked-out zero by an infinite input. Each costs a handful of elementwise kernels.
 */

/** min(max(x, 0), 6) (torch.nn.functional.relu6 / torch.nn.ReLU6). */
export function relu6(x: Tensor): Tensor {
  return scope(() => {
    // 1 - (x <= 0 or x >= 6): NaN compares false both ways, so the gradient passes at NaN.
    const inside = sub(1, add(lessEqual(x, 0), greaterEqual(x, 6)));
    return where(inside, x, stopGradient(clamp(x, 0, 6)));
  });
}

/** relu6(x + 3) / 6 (torch.nn.functional.hardsigmoid). */
export function hardsigmoid(x: Tensor): Tensor {
  return scope(() => {
    const inside = mul(greater(x, -3), less(x, 3));
    const lin = div(add(x, 3), 6);
    return where(inside, lin, stopGradient(div(clamp(add(x, 3), 0, 6), 6)));
  });
}

/** x · relu6(x + 3) / 6 (torch.nn.functional.hardswish). */
export function hardswish(x: Tensor): Tensor {
  return scope(() => {
    const inside = mul(greaterEqual(x, -3), lessEqual(x, 3));
    // The quadratic piece on [-3, 3] only; 0 elsewhere so its (masked) backward stays finite.
    const xi = where(inside, x, 0);
    const quad = div(mul(xi, add(xi, 3)), 6);
    // x < -3: x · 0 (NaN for -inf, -0 for negatives, as PyTorch), no gradient.
    const low = mul(stopGradient(x), 0);
    return where(less(x, -3), low, where(lessEqual(x, 3), quad, x));
  });
}

/** torch.nn.ReLU6 (no parameters). */
export const ReLU6 = (): Lambda => new Lambda('ReLU6', relu6);
/** torch.nn.Hardsigmoid (no parameters). */
export const Hardsigmoid = (): Lambda => new Lambda('Hardsigmoid', hardsigmoid);
/** torch.nn.Hardswish (no parameters). */
export const Hardswish = (): Lambda => new Lambda('Hardswish', hardswish);
