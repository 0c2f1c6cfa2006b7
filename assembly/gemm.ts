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
  matmulSplit(a, b, y, batchA, batchB, m, k, n, transA, transB, scratch, 0, max(batchA, batchB) * m, jStart, jEnd);
}

/**
 * `matmul` restricted to the rows [rStart, rEnd) of y seen as [batch·m, n] and the columns
 * [jStart, jEnd): the 2-D split the thread pool uses. Every element's sum runs over k in the same
 * order whatever the split (the K blocking depends on k alone), so any split is bit-identical.
 */
export function matmulSplit(
  a: usize, b: usize, y: usize, batchA: i32, batchB: i32, m: i32, k: i32, n: i32,
  transA: bool, transB: bool, scratch: usize, rStart: i32, rEnd: i32, jStart: i32, jEnd: i32,
): void {
  const batch = max(batchA, batchB);
  rStart = max(rStart, 0);
  rEnd = min(rEnd, batch * m);
  jStart = max(jStart, 0);
  jEnd = min(jEnd, n);
  if (m <= 0 || jEnd <= jStart || batch <= 0 || rEnd <= rStart) return;
  if (k <= 0) {
    for (let r = rStart; r < rEnd; r++) {
      memory.fill(y + ((<usize>r * n + jStart) << 2), 0, <usize>(jEnd - jStart) << 2);
    }
    return;
  }
  const aKind = transA ? A_TRANS : A_NORMAL;
  const lda = transA ? m : k;
  const bKind = transB ? B_TRANS : B_NORMAL;
  const ldb = transB ? k : n;
  if (foldsBatch(batchA, batchB, transA)) {
    gemm(batchA * m, n, k, aKind, a, lda, bKind, b, ldb, y, n, MODE_STORE, 0, scratch, rStart, rEnd, jStart, jEnd);
    return;
  }
  const aStride: usize = batchA == 1 ? 0 : (<usize>m * k) << 2;
  const bStride: usize = batchB == 1 ? 0 : (<usize>k * n) << 2;
  const yStride = (<usize>m * n) << 2;
  for (let bi = rStart / m; bi * m < rEnd; bi++) {
    const i0 = max(rStart - bi * m, 0);
    const i1 = min(rEnd - bi * m, m);
    gemm(m, n, k, aKind, a + <usize>bi * aStride, lda, bKind, b + <usize>bi * bStride, ldb,
      y + <usize>bi * yStride, n, MODE_STORE, 0, scratch, i0, i1, jStart, jEnd);
  }
}
