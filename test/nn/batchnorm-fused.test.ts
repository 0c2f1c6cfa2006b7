// The fused training-mode batch-norm kernels (src/engine/ops/batchnorm.ts; wasm:
// assembly/batchnorm.ts) against the composed op on the float64 reference backend, on fresh random
// inputs: y, the channel mean and variance, and the gradients of x, weight and bias, with and
// without affine parameters, planes whose size is not a multiple of four, and channels with a
// large mean (1000 + N(0, 1), where a float32 variance loses its digits). The PyTorch fixtures
// (batchnorm.test.ts) run through the fused kernel too, wherever BatchNorm2d trains on wasm. Also:
// the same bits at 1 and 2 threads, clear errors for mismatched weights, nothing leaked.
import { afterAll, expect, it } from 'vitest';
import { createReferenceBackend } from '../../src/backends/reference/index.js';
import { createWasmBackend } from '../../src/backends/wasm/index.js';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import { valueAndGrads } from '../../src/engine/tape.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { batchNorm2dTrainComposed } from '../../src/nn/batchnorm.js';
import { assertClose } from '../helpers/assert.js';
import { randn, Rng } from '../helpers/random.js';

const reference = createReferenceBackend();
const wasm1 = await createWasmBackend({ threads: 1 });
const wasm2 = await createWasmBackend({ threads: 2 });
afterAll(() => {
  wasm1.dispose();
  wasm2.dispose();
});

interface Case { shape: [number, number, number, number]; affine: boolean; offset: number; eps: number }
const CASES: Case[] = [
  { shape: [2, 3, 5, 7], affine: true, offset: 0, eps: 1e-5 },
  { shape: [3, 4, 6, 6], affine: false, offset: 0, eps: 1e-3 },
  { shape: [1, 5, 9, 3], affine: true, offset: 1000, eps: 1e-5 },
  { shape: [4, 8, 16, 16], affine: true, offset: 0.5, eps: 1e-5 },
];

function inputs(c: Case, seed: number) {
  const rng = new Rng(seed);
  const size = c.shape.reduce((a, b) => a * b, 1);
  const ch = c.shape[1];
  return {
    x: Float32Array.from(randn(rng, size), (v) => v + c.offset),
    dy: Float32Array.from(randn(rng, size)),
    w: Float32Array.from(randn(rng, ch)),
    b: Float32Array.from(randn(rng, ch)),
  };
}

/** y, mean, variance and the gradients of sum(y·dy), by the fused op (or the composed one). */
function run(backend: Backend, c: Case, data: ReturnType<typeof inputs>, fused: boolean): Float32Array[] | Float64Array[] {
  k.setBackend(backend);
  const x = k.tensor(data.x, c.shape);
  const dy = k.tensor(data.dy, c.shape);
  const w = c.affine ? k.tensor(data.w, [c.shape[1]]) : null;
  const b = c.affine ? k.tensor(data.b, [c.shape[1]]) : null;
  const params = [x, ...(w ? [w, b!] : [])];
  let stats: Tensor[] = [];
  const { value, grads } = valueAndGrads(() => {
    const r = fused ? k.batchNormTrain(x, w, b, c.eps)! : batchNorm2dTrainComposed(x, w, b, c.eps);
    stats = [k.keep(r.y), k.keep(r.mean), k.keep(r.variance)];
    return k.sum(k.mul(r.y, dy));
  }, params);
  const outs = [...stats, ...grads].map((t) => t.dataSync() as Float32Array);
  k.dispose([value, ...grads, ...stats, x, dy, ...params.slice(1)]);
  return outs;
}

for (const c of CASES) {
  it(`[${c.shape}] affine ${c.affine}, mean ${c.offset}: fused wasm = composed float64 reference (y, mean, variance, dx, dweight, dbias)`, () => {
    const data = inputs(c, c.shape.reduce((a, b) => a * 31 + b, 7));
    const want = run(reference, c, data, false);
    const got = run(wasm1, c, data, true);
    const names = ['y', 'mean', 'variance', 'dx', 'dweight', 'dbias'];
    expect(got).toHaveLength(want.length);
    // A large mean makes y and dx differences of nearly equal float32 numbers in any float32
    // kernel (PyTorch's too): 1e-3 there, 1e-5 elsewhere.
    got.forEach((g, i) => assertClose(g, want[i]!, { rtol: c.offset >= 1000 && (i === 0 || i === 3) ? 1e-3 : 1e-5, what: names[i]! }));
  });
}

it('the fused kernel gives the same bits at 1 and 2 threads (channels split, each summed by one thread)', () => {
  const c: Case = { shape: [2, 64, 40, 40], affine: true, offset: 0.3, eps: 1e-5 };
  const data = inputs(c, 99);
  const a = run(wasm1, c, data, true);
  const b = run(wasm2, c, data, true);
  a.forEach((v, i) => expect(Array.from(b[i]!)).toEqual(Array.from(v)));
});

it('clear errors: weight or bias of another length, a non-4-D x, a bad eps; nothing leaked', () => {
  k.setBackend(wasm1);
  const before = k.memoryStats(wasm1);
  const x = k.zeros([2, 3, 4, 4]);
  const w4 = k.ones([4]);
  const w3 = k.ones([3]);
  expect(() => k.batchNormTrain(x, w4, null, 1e-5)).toThrow(/batchNormTrain: weight: expected \[3\] for x \[2, 3, 4, 4\], got \[4\]/);
  expect(() => k.batchNormTrain(x, w3, w4, 1e-5)).toThrow(/bias: expected \[3\]/);
  const flat = k.reshape(x, [2, 3, 16]);
  expect(() => k.batchNormTrain(flat, null, null, 1e-5)).toThrow(/batchNormTrain/);
  expect(() => k.batchNormTrain(x, null, null, Number.NaN)).toThrow(/eps must be a finite number/);
  k.dispose([x, flat, w4, w3]);
  expect(k.memoryStats(wasm1)).toEqual(before);
});

it('the reference backend has no fused kernel: the op says so (null) and BatchNorm2d composes it', () => {
  k.setBackend(reference);
  const x = k.zeros([2, 3, 4, 4]);
  expect(k.batchNormTrain(x, null, null, 1e-5)).toBeNull();
  x.dispose();
});
