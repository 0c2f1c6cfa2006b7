import type { BatchNormParams } from '../backend.js';
import { check, fmtShape } from '../errors.js';
import { record } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { backendOf, expectDType, expectRank, out } from './util.js';

/**
 * Batch normalisation of x [N, C, H, W] with the batch's per-channel statistics (BatchNorm2d in
 * training mode) as one fused kernel, on backends that have it (`batchNormTrain`; wasm): y, and the
 * channel mean and biased variance [C]. Differentiable in x, weight and bias; the mean and variance
 * carry no gradient (they feed the running statistics only). Returns null where the backend has no
 * fused kernel: callers compose it from elementwise ops then (src/nn/batchnorm.ts), which is also
 * the independent check of this one.
 */
export function batchNormTrain(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): { y: Tensor; mean: Tensor; variance: Tensor } | null {
  expectDType('batchNormTrain', 'x', x, 'float32');
  expectRank('batchNormTrain', 'x', x, 4);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  for (const [name, t] of [['weight', weight], ['bias', bias]] as const) {
    if (!t) continue;
    expectDType('batchNormTrain', name, t, 'float32');
    check(t.rank === 1 && t.shape[0] === c, 'batchNormTrain', () => `${name}: expected [${c}] for x ${fmtShape(x.shape)}, got ${fmtShape(t.shape)}`);
  }
  check(eps >= 0 && Number.isFinite(eps), 'batchNormTrain', () => `eps must be a finite number >= 0, got ${eps}`);
  const backend = backendOf('batchNormTrain', x, ...[weight, bias].filter((t): t is Tensor => t !== null));
  if (!backend.batchNormTrain || !backend.batchNormTrainGrad) return null;
  const p: BatchNormParams = { n, c, hw: h * w, eps };
  const r = backend.batchNormTrain(x.buf, weight?.buf ?? null, bias?.buf ?? null, p);
  const y = out(backend, r.y, x.shape);
  const mean = out(backend, r.mean, [c]);
  const variance = out(backend, r.variance, [c]);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  record('batchNormTrain', inputs, [y], (tape) => {
    const sx = tape.save(x);
    const sm = tape.save(mean);
    const sv = tape.save(variance);
    const sw = weight ? tape.save(weight) : null;
    return ([dy]) => {
      const b = dy!.backend;
      const g = b.batchNormTrainGrad!(dy!.buf, sx.buf, sm.buf, sv.buf, sw?.buf ?? null, p);
      const dx = out(b, g.dx, x.shape);
      const dweight = out(b, g.dweight, [c]);
      const dbias = out(b, g.dbias, [c]);
      const grads: (Tensor | null)[] = [dx];
      if (weight) grads.push(dweight);
      else dweight.dispose();
      if (bias) grads.push(dbias);
      else dbias.dispose();
      return grads;
    };
  });
  return { y, mean, variance };
}
