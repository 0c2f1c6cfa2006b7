import type { SgdParams } from '../backend.js';
import { check, fmtShape } from '../errors.js';
import { sameShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { backendOf, expectDType, out } from './util.js';

/**
 * One torch.optim.SGD step of a parameter, fused into one kernel: g = g·gradScale (a one-element
 * tensor, e.g. gradient clipping's coefficient, when given); d = g + wd·p;
 * buf' = μ·buf + d (d when `momentumBuf` is null, the first step); d = nesterov ? d + μ·buf' : buf';
 * p' = p − lr·d. Returns the new parameter and momentum buffer (null when μ = 0) as new
 * tensors; the inputs are untouched. Not differentiable: it is an optimiser's step (call it
 * under noGrad). The result equals the unfused elementwise ops' bit for bit on wasm.
 */
export function sgdUpdate(
  param: Tensor, grad: Tensor, momentumBuf: Tensor | null, o: SgdParams, gradScale: Tensor | null = null,
): { param: Tensor; momentum: Tensor | null } {
  const op = 'sgdUpdate';
  expectDType(op, 'param', param, 'float32');
  expectDType(op, 'grad', grad, 'float32');
  check(sameShape(grad.shape, param.shape), op, () => `grad has shape ${fmtShape(grad.shape)} for param ${fmtShape(param.shape)}`);
  for (const k of ['lr', 'momentum', 'weightDecay'] as const) {
    check(Number.isFinite(o[k]) && o[k] >= 0, op, () => `${k} must be a finite number ≥ 0, got ${o[k]}`);
  }
  check(!o.nesterov || o.momentum > 0, op, () => 'nesterov needs momentum > 0');
  if (momentumBuf) {
    check(o.momentum > 0, op, () => 'a momentum buffer was given with momentum 0');
    expectDType(op, 'momentumBuf', momentumBuf, 'float32');
    check(sameShape(momentumBuf.shape, param.shape), op, () => `momentumBuf has shape ${fmtShape(momentumBuf.shape)} for param ${fmtShape(param.shape)}`);
  }
  if (gradScale) {
    expectDType(op, 'gradScale', gradScale, 'float32');
    check(gradScale.size === 1, op, () => `gradScale must hold one value, got shape ${fmtShape(gradScale.shape)}`);
  }
  const b = backendOf(op, param, grad, ...(momentumBuf ? [momentumBuf] : []), ...(gradScale ? [gradScale] : []));
  const r = b.sgdUpdate(param.buf, grad.buf, momentumBuf?.buf ?? null, gradScale?.buf ?? null, param.size, o);
  return { param: out(b, r.param, param.shape), momentum: r.momentum === null ? null : out(b, r.momentum, param.shape) };
}
