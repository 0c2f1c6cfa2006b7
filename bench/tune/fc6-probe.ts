/**
 * The three GEMMs of torchvision's box head fc6 (TwoMLPHead: 256·7·7 → 1024) in one training step
 * of fasterrcnn_mobilenet_v3_large_320_fpn at 128 ROIs × 4 images: forward x·Wᵀ, input gradient
 * dy·W, weight gradient dyᵀ·x, on kdet-wasm, one thread (best of 4). They are most of that step
 * (bench/tune/op-profile.ts: matmul 20 of 26 s over 8 steps).
 *
 *   node scripts/run.mjs bench/tune/fc6-probe.ts
 */
import * as k from '../../src/engine/index.js';
import { createWasmBackend } from '../../src/backends/wasm/index.js';
import { matmul } from '../../src/engine/ops/linalg.js';
const be = await createWasmBackend({ threads: 1 });
k.setBackend(be);
const r = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
const M = 512, K = 12544, N = 1024;
const x = k.tensor(r(M * K), [M, K]);
const w = k.tensor(r(N * K), [N, K]);
const dy = k.tensor(r(M * N), [M, N]);
const cases: [string, () => k.Tensor][] = [
  ['fwd x·Wᵀ', () => matmul(x, w, { transB: true })],
  ['dx dy·W', () => matmul(dy, w)],
  ['dW dyᵀ·x', () => matmul(dy, x, { transA: true })],
];
for (const [name, f] of cases) {
  const times: number[] = [];
  for (let i = 0; i < 4; i++) {
    const t0 = performance.now();
    const y = f();
    await y.data();
    times.push(performance.now() - t0);
    y.dispose();
  }
  const best = Math.min(...times);
  console.log(`${name}: best ${best.toFixed(0)} ms = ${((2 * M * N * K) / best / 1e6).toFixed(1)} GFLOP/s (all ${times.map((t) => t.toFixed(0)).join(', ')})`);
}
