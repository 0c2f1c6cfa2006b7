import { check, fmtShape } from '../errors.js';
import { record } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { add } from './elementwise.js';
import { reshape } from './layout.js';
import { sum } from './reduce.js';
import { backendOf, expectDType, out } from './util.js';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/**
 * Matrix product over the last two axes, batched over the leading ones. Batch shapes must be
 * equal, or one operand has no batch (rank 2) or a batch of 1, which is broadcast.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  expectDType('matmul', 'a', a, 'float32');
  expectDType('matmul', 'b', b, 'float32');
  check(a.rank >= 2 && b.rank >= 2, 'matmul', () => `operands need rank ≥ 2, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const backend = backendOf('matmul', a, b);
  const [m, k] = transA ? [a.shape[a.rank - 1]!, a.shape[a.rank - 2]!] : [a.shape[a.rank - 2]!, a.shape[a.rank - 1]!];
  const [k2, n] = transB ? [b.shape[b.rank - 1]!, b.shape[b.rank - 2]!] : [b.shape[b.rank - 2]!, b.shape[b.rank - 1]!];
  check(k === k2, 'matmul', () =>
    `inner dimensions differ: a ${fmtShape(a.shape)}${transA ? 'ᵀ' : ''} has ${k}, b ${fmtShape(b.shape)}${transB ? 'ᵀ' : ''} has ${k2}`);
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const batchA = aBatch.reduce((p, d) => p * d, 1);
  const batchB = bBatch.reduce((p, d) => p * d, 1);
  const sameBatch = aBatch.length === bBatch.length && aBatch.every((d, i) => d === bBatch[i]);
  check(sameBatch || batchA === 1 || batchB === 1, 'matmul', () =>
    `batch shapes ${fmtShape(aBatch)} and ${fmtShape(bBatch)} differ and neither is 1`);
  const batchShape = batchA >= batchB ? aBatch : bBatch;
  const shape = [...batchShape, m, n];
  const y = out(backend, backend.matmul(a.buf, b.buf, { batchA, batchB, m, k, n, transA, transB }), shape);
  record('matmul', [a, b], [y], (tape) => {
    const sa = tape.save(a);
    const sb = tape.save(b);
    return ([dy], need) => {
      // d(A·B): dA = dY·Bᵀ, dB = Aᵀ·dY, expressed through the transpose flags so nothing is copied.
      let da: Tensor | null = null;
      let db: Tensor | null = null;
      if (need[0]) {
        da = transA ? matmul(sb, dy!, { transA: transB, transB: true }) : matmul(dy!, sb, { transB: !transB });
        if (batchA === 1 && batchB > 1) da = sum(reshape(da, [batchB, da.shape[da.rank - 2]!, da.shape[da.rank - 1]!]), 0);
        da = reshape(da, sa.shape);
      }
      if (need[1]) {
        db = transB ? matmul(dy!, sa, { transA: true, transB: transA }) : matmul(sa, dy!, { transA: !transA });
        if (batchB === 1 && batchA > 1) db = sum(reshape(db, [batchA, db.shape[db.rank - 2]!, db.shape[db.rank - 1]!]), 0);
        db = reshape(db, sb.shape);
      }
      return [da, db];
    };
  });
  return y;
}

/** y = x·wᵀ + bias, with w in PyTorch's [out, in] layout; x is [..., in]. */
export function linear(x: Tensor, w: Tensor, bias?: Tensor | null): Tensor {
  check(w.rank === 2, 'linear', () => `weight: expected [out, in], got ${fmtShape(w.shape)}`);
  check(x.shape[x.rank - 1] === w.shape[1], 'linear', () =>
    `input ${fmtShape(x.shape)} has ${x.shape[x.rank - 1]} features but weight ${fmtShape(w.shape)} expects ${w.shape[1]}`);
  if (bias) {
    check(bias.rank === 1 && bias.shape[0] === w.shape[0], 'linear', () =>
      `bias: expected [${w.shape[0]}], got ${fmtShape(bias.shape)}`);
  }
  const x2 = x.rank === 2 ? x : reshape(x, [-1, x.shape[x.rank - 1]!]);
  const y2 = matmul(x2, w, { transB: true });
  const y = bias ? add(y2, bias) : y2;
  return x.rank === 2 ? y : reshape(y, [...x.shape.slice(0, -1), w.shape[0]!]);
}
