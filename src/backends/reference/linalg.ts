import type { MatmulParams } from '../../engine/backend.js';
import { refFail } from './buffer.js';

/** Batched matmul as specified in Backend.matmul: a size-1 batch broadcasts. */
export function matmul(a: Float64Array, b: Float64Array, p: MatmulParams): Float64Array {
  const { batchA, batchB, m, k, n, transA, transB } = p;
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) refFail('matmul', `batches ${batchA} and ${batchB} do not broadcast`);
  const batch = Math.max(batchA, batchB);
  const out = new Float64Array(batch * m * n);
  for (let bt = 0; bt < batch; bt++) {
    const aBase = (batchA === 1 ? 0 : bt) * m * k;
    const bBase = (batchB === 1 ? 0 : bt) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let t = 0; t < k; t++) {
          const av = a[aBase + (transA ? t * m + i : i * k + t)]!;
          const bv = b[bBase + (transB ? j * k + t : t * n + j)]!;
          acc += av * bv;
        }
        out[(bt * m + i) * n + j] = acc;
      }
    }
  }
  return out;
}
