/**
 * Times kdet's WebGPU matmul and conv2d kernels against TensorFlow.js's WebGPU backend on the
 * same device (each in its native layout: kdet NCHW, tfjs NHWC). For a real GPU; under Deno:
 *
 *   npx esbuild scripts/webgpu-bench.ts --bundle --format=esm --platform=browser --main-fields=module,main \
 *     --outfile=build/webgpu-bench.mjs
 *   deno run --allow-env --allow-read build/webgpu-bench.mjs [small]
 *
 * Each figure is the median over 5 rounds of (N back-to-back runs, then a one-element read of the
 * last output) after warm-up: it includes each library's per-dispatch overhead, not a readback.
 */
import { runtime } from './webgpu-bench-env.js';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { conv2DBackpropFilter } from '@tensorflow/tfjs-core/dist/ops/conv2d_backprop_filter.js';
import { conv2DBackpropInput } from '@tensorflow/tfjs-core/dist/ops/conv2d_backprop_input.js';
import { createWebGPUBackend } from '../src/backends/webgpu/index.js';
import { gemmTuning } from '../src/backends/webgpu/kernels/gemm.js';
import type { Conv2dParams } from '../src/engine/backend.js';

const args: string[] = (globalThis as { Deno?: { args: string[] } }).Deno?.args ?? [];
const small = args.includes('small');
const ITERS = small ? 2 : 20;

// Deno is neither tfjs's browser nor its Node: give it the few platform services it uses.
if (runtime === 'deno') {
  tf.setPlatform('deno', {
    fetch: (path: string, init?: RequestInit) => fetch(path, init),
    now: () => performance.now(),
    encode: (text: string) => new TextEncoder().encode(text),
    decode: (bytes: Uint8Array, encoding: string) => new TextDecoder(encoding).decode(bytes),
    isTypedArray: (a: unknown): a is Float32Array | Int32Array | Uint8Array | Uint8ClampedArray => ArrayBuffer.isView(a) && !(a instanceof DataView),
    setTimeoutCustom: (f: () => void, delay: number) => void setTimeout(f, delay),
  } as unknown as Parameters<typeof tf.setPlatform>[1]);
}

const b = await createWebGPUBackend();
await tf.setBackend('webgpu');
await tf.ready();
console.log(`${runtime}: kdet on ${(b as { description?: string }).description}; tfjs ${tf.version_core} on ${tf.getBackend()}`);

const rand = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.731) * 0.5);
const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)]!;

// Both libraries are timed the same way: N runs back to back with every output kept alive,
// then a one-element read of the last output (which waits for all queued work), then freeing.
// (Disposing a tfjs output before anything reads it let tfjs skip or defer work: times that did
// not grow with the problem size.)
async function timeKdet(run: () => unknown): Promise<number> {
  const once = async (n: number) => {
    const outs: unknown[] = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) outs.push(run());
    await b.read(outs[n - 1], 'float32', 1);
    const ms = (performance.now() - t0) / n;
    for (const o of outs) b.free(o);
    return ms;
  };
  await once(2);
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) rounds.push(await once(ITERS));
  return median(rounds);
}

async function timeTf(run: () => tf.Tensor): Promise<number> {
  const once = async (n: number) => {
    const outs: tf.Tensor[] = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) outs.push(run());
    const last = outs[n - 1]!;
    const one = tf.slice(tf.reshape(last, [-1]), [0], [1]);
    await one.data();
    const ms = (performance.now() - t0) / n;
    one.dispose();
    for (const o of outs) o.dispose();
    return ms;
  };
  await once(2);
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) rounds.push(await once(ITERS));
  return median(rounds);
}

function line(name: string, flops: number, ours: number, theirs: number): void {
  const g = (ms: number) => (flops / ms / 1e6).toFixed(0).padStart(6);
  console.log(`${name.padEnd(44)} kdet ${ours.toFixed(3).padStart(8)} ms ${g(ours)} GFLOP/s | tfjs ${theirs.toFixed(3).padStart(8)} ms ${g(theirs)} GFLOP/s | ×${(theirs / ours).toFixed(2)}`);
}

for (const [m, k, n, transB] of [[1024, 1024, 1024, false], [2048, 2048, 2048, false], [4096, 4096, 4096, false], [1024, 1024, 1024, true], [256, 4096, 1024, true]] as [number, number, number, boolean][]) {
  const [mm, kk, nn] = small ? [64, 64, 64] : [m, k, n];
  const A = b.upload(rand(mm * kk));
  const B = b.upload(rand(kk * nn));
  const ta = tf.tensor2d(rand(mm * kk), [mm, kk]);
  const tb = tf.tensor2d(rand(kk * nn), transB ? [nn, kk] : [kk, nn]);
  const theirs = await timeTf(() => tf.matMul(ta, tb, false, transB));
  for (const force of [null, 'base', 'large'] as const) {
    gemmTuning.force = force;
    const ours = await timeKdet(() => b.matmul(A, B, { batchA: 1, batchB: 1, m: mm, k: kk, n: nn, transA: false, transB }));
    line(`matmul ${mm}×${kk}×${nn}${transB ? ' Bᵀ' : ''} [${force ?? 'auto'}]`, 2 * mm * kk * nn, ours, theirs);
  }
  gemmTuning.force = null;
  b.free(A);
  b.free(B);
  ta.dispose();
  tb.dispose();
}

function conv(n: number, cIn: number, h: number, cOut: number, k: number, stride: number): Conv2dParams {
  const pad = (k - 1) >> 1;
  const out = Math.floor((h + 2 * pad - k) / stride) + 1;
  return { n, cIn, h, w: h, cOut, kh: k, kw: k, strideH: stride, strideW: stride, padH: pad, padW: pad, dilationH: 1, dilationW: 1, groups: 1, outH: out, outW: out };
}

const CONVS: [string, Conv2dParams][] = small
  ? [['conv 3×3 (small)', conv(1, 8, 8, 8, 3, 1)]]
  : [
    ['conv 3×3 8×64×56² → 64', conv(8, 64, 56, 64, 3, 1)],
    ['conv 3×3 8×128×28² → 128', conv(8, 128, 28, 128, 3, 1)],
    ['conv 3×3 8×256×14² → 256', conv(8, 256, 14, 256, 3, 1)],
    ['conv 1×1 8×256×56² → 64', conv(8, 256, 56, 64, 1, 1)],
    ['conv 3×3 s2 8×128×56² → 128', conv(8, 128, 56, 128, 3, 2)],
  ];

for (const [name, p] of CONVS) {
  const flops = 2 * p.n * p.cOut * p.outH * p.outW * p.cIn * p.kh * p.kw;
  const X = b.upload(rand(p.n * p.cIn * p.h * p.w));
  const W = b.upload(rand(p.cOut * p.cIn * p.kh * p.kw));
  const DY = b.upload(rand(p.n * p.cOut * p.outH * p.outW));
  const tx = tf.tensor4d(rand(p.n * p.h * p.w * p.cIn), [p.n, p.h, p.w, p.cIn]);
  const tw = tf.tensor4d(rand(p.kh * p.kw * p.cIn * p.cOut), [p.kh, p.kw, p.cIn, p.cOut]);
  const tdy = tf.tensor4d(rand(p.n * p.outH * p.outW * p.cOut), [p.n, p.outH, p.outW, p.cOut]);
  const pads = [[0, 0], [p.padH, p.padH], [p.padW, p.padW], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]];
  const tfFwd = await timeTf(() => tf.conv2d(tx, tw, p.strideH, pads));
  for (const force of [null, 'large'] as const) {
    gemmTuning.force = force;
    line(`${name} forward [${force ?? 'auto'}]`, flops, await timeKdet(() => b.conv2d(X, W, null, p)), tfFwd);
  }
  gemmTuning.force = null;
  line(`${name} input grad`, flops, await timeKdet(() => b.conv2dGradInput(DY, W, p)),
    await timeTf(() => conv2DBackpropInput([p.n, p.h, p.w, p.cIn], tdy, tw, p.strideH, pads)));
  line(`${name} filter grad`, flops, await timeKdet(() => b.conv2dGradFilter(X, DY, p)),
    await timeTf(() => conv2DBackpropFilter(tx, tdy, [p.kh, p.kw, p.cIn, p.cOut], p.strideH, pads)));
  for (const buf of [X, W, DY]) b.free(buf);
  for (const t of [tx, tw, tdy]) t.dispose();
}
b.dispose();
