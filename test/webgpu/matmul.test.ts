import { afterAll, describe, it } from 'vitest';
import { gemmTuning } from '../../src/backends/webgpu/kernels/gemm.js';
import { downF, expectClose, expectEqual, openBackend, randf, rng, title, up } from './helpers.js';
import { matmulRef } from './ref.js';

const o = await openBackend();
const b = o.backend!;

describe.skipIf(!o.backend)(title('webgpu matmul', o), () => {
  afterAll(() => b.dispose());
  const r = rng(4);

  // [batchA, batchB, m, k, n]: every tile shape (16 or 64 per side), tile edges, broadcast
  // batches, and a long k with few tiles (split-K). Each transpose variant is its own pipeline;
  // SwiftShader compiles each for seconds, so those run a subset.
  const CASES: [number, number, number, number, number][] = [
    [1, 1, 1, 1, 1], [1, 1, 64, 64, 64], [1, 1, 65, 17, 63], [1, 1, 3, 200, 5], [2, 2, 33, 47, 31],
    [3, 1, 20, 9, 70], [1, 4, 7, 30, 18], [1, 1, 8, 1100, 8], [2, 2, 16, 700, 40], [1, 1, 130, 5, 1],
  ];
  const SUBSET = [CASES[2]!, CASES[4]!, CASES[6]!, CASES[7]!];

  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      it(`batched, broadcast and split-K products (transA ${transA}, transB ${transB})`, async () => {
        for (const [batchA, batchB, m, k, n] of transA || transB ? SUBSET : CASES) {
          const a = randf(r, batchA * m * k);
          const bb = randf(r, batchB * k * n);
          const want = matmulRef(a, bb, batchA, batchB, m, k, n, transA, transB);
          const got = await downF(b, b.matmul(up(b, a), up(b, bb), { batchA, batchB, m, k, n, transA, transB }), want.out.length);
          expectClose(got, want.out, { scale: want.mag, rtol: 1e-5 }, `matmul ${[batchA, batchB, m, k, n]}`);
        }
      });
    }
  }

  it('128×128 tiles (8×8 per invocation), forced on small shapes', async () => {
    gemmTuning.force = 'large';
    try {
      for (const [batchA, batchB, m, k, n, transA, transB] of [
        [1, 1, 130, 70, 200, false, false], [2, 1, 5, 33, 129, true, false], [1, 3, 129, 9, 17, false, true], [1, 1, 40, 1000, 40, false, false],
      ] as [number, number, number, number, number, boolean, boolean][]) {
        const a = randf(r, batchA * m * k);
        const bb = randf(r, batchB * k * n);
        const want = matmulRef(a, bb, batchA, batchB, m, k, n, transA, transB);
        const got = await downF(b, b.matmul(up(b, a), up(b, bb), { batchA, batchB, m, k, n, transA, transB }), want.out.length);
        expectClose(got, want.out, { scale: want.mag, rtol: 1e-5 }, `large tiles ${[batchA, batchB, m, k, n]}`);
      }
    } finally {
      gemmTuning.force = null;
    }
  });

  // The default path is the tiled kernel on GPUs and gemm_direct on CPU-emulated devices
  // (SwiftShader): run the other one too, so that a CI run on either checks both.
  it('the other GEMM kernel (tiled on a CPU-emulated device, direct on a GPU), forced', async () => {
    gemmTuning.force = b.ctx.cpuEmulated ? 'base' : 'direct';
    try {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          for (const [batchA, batchB, m, k, n] of transA || transB ? SUBSET.slice(0, 2) : CASES) {
            const a = randf(r, batchA * m * k);
            const bb = randf(r, batchB * k * n);
            const want = matmulRef(a, bb, batchA, batchB, m, k, n, transA, transB);
            const got = await downF(b, b.matmul(up(b, a), up(b, bb), { batchA, batchB, m, k, n, transA, transB }), want.out.length);
            expectClose(got, want.out, { scale: want.mag, rtol: 1e-5 }, `${gemmTuning.force} ${[batchA, batchB, m, k, n, transA, transB]}`);
          }
        }
      }
    } finally {
      gemmTuning.force = null;
    }
  });

  it('k = 0 gives zeros', async () => {
    const got = await downF(b, b.matmul(up(b, new Float32Array(0)), up(b, new Float32Array(0)), { batchA: 2, batchB: 2, m: 3, k: 0, n: 4, transA: false, transB: false }), 24);
    expectEqual(got, new Array(24).fill(0), 'k = 0');
  });
});
