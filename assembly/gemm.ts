// Batched SGEMM: the exported contract of the wasm backend's matmul (see src/engine/backend.ts).
// The work itself is the blocked driver in gemm-driver.ts.
import { MODE_STORE } from './gemm-kernel';
import { A_NORMAL, A_TRANS, B_NORMAL, B_TRANS, gemm, gemmScratchBytes } from './gemm-driver';

/** Scratch bytes `matmul` needs (independent of the batch). */
export function matmulScratchBytes(m: i32, k: i32, n: i32, transA: bool, transB: bool): usize {
  // The batch is unknown here and may be folded into M (see foldsBatch): size A's block for the
  // largest M block unless A is transposed (then M is never folded).
  return gemmScratchBytes(transA ? m : 1 << 20, n, k);
}

// @ts-ignore: decorator
@inline
function foldsBatch(batchA: i32, batchB: i32, transA: bool): bool {
  // With a shared B and row-major A, the batch of A stacks into one tall [batchA·m, k] matrix
  // whose product is exactly y's layout [batchA·m, n]: one big GEMM instead of many small ones.
  return batchB == 1 && batchA > 1 && !transA;
}

/**
 * y[batch, m, n] = op(a)·op(b). a: [batchA, m, k] ([batchA, k, m] when transA); b: [batchB, k, n]
 * ([batchB, n, k] when transB); batchA == batchB or one of them is 1 (broadcast). y overwritten.
 */
export function matmul(
  a: usize, b: usize, y: usize, batchA: i32, batchB: i32, m: i32, k: i32, n: i32,
  transA: bool, transB: bool, scratch: usize,
): void {
  matmulRange(a, b, y, batchA, batchB, m, k, n, transA, transB, scratch, 0, n);
}

/**
 * `matmul` restricted to output columns [jStart, jEnd) of every batch: disjoint ranges write
 * disjoint parts of y and give bit-identical results, so threads can split the work.
 */
export function matmulRange(
  a: usize, b: usize, y: usize, batchA: i32, batchB: i32, m: i32, k: i32, n: i32,
  transA: bool, transB: bool, scratch: usize, jStart: i32, jEnd: i32,
): void {
  const batch = max(batchA, batchB);
  if (m <= 0 || jEnd <= jStart || batch <= 0) return;
  if (k <= 0) {
    for (let bi = 0; bi < batch; bi++) {
      for (let i = 0; i < m; i++) {
        memory.fill(y + ((<usize>(bi * m + i) * n + jStart) << 2), 0, <usize>(jEnd - jStart) << 2);
      }
    }
    return;
  }
  const aKind = transA ? A_TRANS : A_NORMAL;
  const lda = transA ? m : k;
  const bKind = transB ? B_TRANS : B_NORMAL;
  const ldb = transB ? k : n;
  if (foldsBatch(batchA, batchB, transA)) {
    gemm(batchA * m, n, k, aKind, a, lda, bKind, b, ldb, y, n, MODE_STORE, 0, scratch, jStart, jEnd);
    return;
  }
  const aStride: usize = batchA == 1 ? 0 : (<usize>m * k) << 2;
  const bStride: usize = batchB == 1 ? 0 : (<usize>k * n) << 2;
  const yStride = (<usize>m * n) << 2;
  for (let bi = 0; bi < batch; bi++) {
    gemm(m, n, k, aKind, a + <usize>bi * aStride, lda, bKind, b + <usize>bi * bStride, ldb,
      y + <usize>bi * yStride, n, MODE_STORE, 0, scratch, jStart, jEnd);
  }
}
