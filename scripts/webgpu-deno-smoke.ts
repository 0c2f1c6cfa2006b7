/**
 * Runs a few WebGPU kernels on the runtime's own navigator.gpu (written for Deno) and checks
 * them against plain JS. Deno cannot run the TypeScript sources directly (they import '.js'
 * paths), so bundle first; scripts/webgpu-deno-smoke.sh does both:
 *
 *   npx esbuild scripts/webgpu-deno-smoke.ts --bundle --format=esm --platform=neutral \
 *     --outfile=build/webgpu-deno-smoke.mjs
 *   VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json \
 *     npx deno run --allow-env --allow-read build/webgpu-deno-smoke.mjs
 *
 * Exits non-zero (an uncaught error) when a kernel disagrees or no adapter is found.
 */
import { createWebGPUBackend } from '../src/backends/webgpu/index.js';
import type { Backend } from '../src/engine/backend.js';

function check(name: string, got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-5): void {
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (!(Math.abs(g - w) <= tol * (1 + Math.abs(w)))) throw new Error(`${name}[${i}]: got ${g}, want ${w}`);
  }
  if (got.length !== want.length) throw new Error(`${name}: ${got.length} values, want ${want.length}`);
  console.log(`ok  ${name}`);
}

const b: Backend = await createWebGPUBackend();
console.log(`kdet webgpu smoke on ${(b as { description?: string }).description ?? 'an adapter'}`);

const x = new Float32Array([0.5, -1, 2, 3, -0.25, 4]);
check('unary exp', await b.read(b.unary('exp', b.upload(x), 6), 'float32', 6), Array.from(x, Math.exp));
check('binary add (broadcast [2,3] + [3])',
  await b.read(b.binary('add', b.upload(x), [2, 3], b.upload(new Float32Array([10, 20, 30])), [3], [2, 3]), 'float32', 6),
  Array.from(x, (v, i) => v + [10, 20, 30][i % 3]!));
check('reduce sum over rows', await b.read(b.reduce('sum', b.upload(x), 2, 3, 1), 'float32', 2), [1.5, 6.75]);
check('softmax', await b.read(b.softmax(b.upload(x), 2, 3, false), 'float32', 6), (() => {
  const out: number[] = [];
  for (let r = 0; r < 2; r++) {
    const row = Array.from(x.subarray(r * 3, r * 3 + 3));
    const m = Math.max(...row);
    const s = row.reduce((a, v) => a + Math.exp(v - m), 0);
    out.push(...row.map((v) => Math.exp(v - m) / s));
  }
  return out;
})());

const m = 33, k = 20, n = 17;
const A = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i));
const B = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i));
const C = await b.read(b.matmul(b.upload(A), b.upload(B), { batchA: 1, batchB: 1, m, k, n, transA: false, transB: false }), 'float32', m * n);
check('matmul 33×20×17', C, Array.from({ length: m * n }, (_, t) => {
  let s = 0;
  for (let q = 0; q < k; q++) s += A[Math.floor(t / n) * k + q]! * B[q * n + (t % n)]!;
  return s;
}), 1e-4);

const img = Float32Array.from({ length: 2 * 5 * 5 }, (_, i) => (i % 7) - 3);
const w = Float32Array.from({ length: 3 * 2 * 3 * 3 }, (_, i) => ((i % 5) - 2) / 4);
const p = { n: 1, cIn: 2, h: 5, w: 5, cOut: 3, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, groups: 1, outH: 5, outW: 5 };
const y = await b.read(b.conv2d(b.upload(img), b.upload(w), null, p), 'float32', 75);
check('conv2d 3×3 pad 1', y, Array.from({ length: 75 }, (_, o) => {
  const [co, oy, ox] = [Math.floor(o / 25), Math.floor(o / 5) % 5, o % 5];
  let s = 0;
  for (let ci = 0; ci < 2; ci++) for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
    const iy = oy - 1 + ky;
    const ix = ox - 1 + kx;
    if (iy >= 0 && iy < 5 && ix >= 0 && ix < 5) s += img[ci * 25 + iy * 5 + ix]! * w[((co * 2 + ci) * 3 + ky) * 3 + kx]!;
  }
  return s;
}), 1e-4);

const boxes = new Float32Array([0, 0, 10, 10, 1, 1, 11, 11, 20, 20, 30, 30, 0, 0, 10, 9]);
const keep = await b.nms(b.upload(boxes), b.upload(new Float32Array([0.9, 0.8, 0.7, 0.95])), 4, 0.5);
check('nms', keep, [3, 2]);

const rois = new Float32Array([0, 0, 0, 4, 4]);
const ra = await b.read(b.roiAlign(b.upload(Float32Array.from({ length: 25 }, (_, i) => i)), b.upload(rois),
  { n: 1, c: 1, h: 5, w: 5, k: 1, pooledH: 1, pooledW: 1, spatialScale: 1, samplingRatio: 2, aligned: false }), 'float32', 1);
check('roi_align (mean of a linear ramp)', ra, [12]);

// Every other kernel, checked through identities (round trips and adjoints) so that this
// script needs no reference implementation: <Ax, y> = <x, Aᵀy> for the linear ones.
const read = async (buf: unknown, n: number, dtype: 'float32' | 'int32' = 'float32') => Array.from(await b.read(buf, dtype, n));
const dot = (u: number[], v: number[]) => u.reduce((a, x, i) => a + x * v[i]!, 0);
const rand = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * 0.9);

const t = b.upload(rand(24, 1));
check('transpose twice', await read(b.transpose(b.transpose(t, [2, 3, 4], [2, 0, 1], 'float32'), [4, 2, 3], [1, 2, 0], 'float32'), 24), await read(t, 24));
check('slice of pad', await read(b.slice(b.pad(t, [2, 3, 4], [4, 5, 6], [1, 2, 1], 'float32'), [4, 5, 6], [1, 2, 1], [2, 3, 4], 'float32'), 24), await read(t, 24));
const cat = b.concat([t, t], [[2, 12], [2, 12]], 1, 'float32');
check('concat', await read(b.slice(cat, [2, 24], [0, 12], [2, 12], 'float32'), 24), await read(t, 24));
const ident = b.upload(Int32Array.from([0, 1, 2, 3]));
check('gather', await read(b.gather(t, [6, 4], ident, 4, 1, 'float32'), 24), await read(t, 24));
check('scatterAdd', await read(b.scatterAdd(t, [6, 4], ident, 1, 4), 24), await read(t, 24));
const labels = b.upload(Int32Array.from([2, 0, 1]));
check('oneHot then argmax', await read(b.argReduce('argmax', b.oneHot(labels, 3, 4), 3, 4, 1), 3, 'int32'), [2, 0, 1]);
check('clamp', await read(b.clamp(t, 24, -0.5, 0.5), 24), (await read(t, 24)).map((v) => Math.min(Math.max(v, -0.5), 0.5)));
check('where', await read(b.where(b.fill('float32', 1, 1), [], t, [24], b.fill('float32', 24, 0), [24], [24]), 24), await read(t, 24));
check('cast round trip', await read(b.cast(b.cast(b.upload(Float32Array.from([3, -7, 12])), 3, 'float32', 'int32'), 3, 'int32', 'float32'), 3), [3, -7, 12]);

const cp = { n: 2, cIn: 4, h: 7, w: 6, cOut: 6, kh: 3, kw: 2, strideH: 2, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 2, groups: 2, outH: 4, outW: 5 };
const cx = rand(2 * 4 * 7 * 6, 2);
const cw = rand(6 * 2 * 3 * 2, 3);
const cdy = rand(2 * 6 * 4 * 5, 4);
const [X, W, DY] = [b.upload(cx), b.upload(cw), b.upload(cdy)];
const yv = await read(b.conv2d(X, W, null, cp), cdy.length);
check('conv2d input gradient is the adjoint', [dot(Array.from(cx), await read(b.conv2dGradInput(DY, W, cp), cx.length))], [dot(yv, Array.from(cdy))], 1e-4);
check('conv2d filter gradient is the adjoint', [dot(Array.from(cw), await read(b.conv2dGradFilter(X, DY, cp), cw.length))], [dot(yv, Array.from(cdy))], 1e-4);

const pp = { n: 1, c: 2, h: 6, w: 5, kh: 3, kw: 3, strideH: 2, strideW: 2, padH: 1, padW: 1, outH: 3, outW: 3 };
const pool = b.maxPool2d(b.upload(rand(60, 5)), pp);
const pdy = rand(18, 6);
check('max_pool2d gradient keeps the total', [(await read(b.maxPool2dGrad(b.upload(pdy), pool.argmax, pp), 60)).reduce((a, v) => a + v, 0)], [pdy.reduce((a, v) => a + v, 0)], 1e-5);

const rp = { n: 1, c: 2, h: 6, w: 7, k: 3, pooledH: 2, pooledW: 3, spatialScale: 0.5, samplingRatio: -1, aligned: true };
const R = b.upload(Float32Array.from([0, 1, 2, 9, 11, 0, -3, 0, 6, 4, 0, 4, 4, 14, 12]));
const rx = rand(84, 7);
const rdy = rand(36, 8);
const ry = await read(b.roiAlign(b.upload(rx), R, rp), 36);
check('roi_align gradient is the adjoint', [dot(Array.from(rx), await read(b.roiAlignGrad(b.upload(rdy), R, rp), 84))], [dot(ry, Array.from(rdy))], 1e-4);
const rpool = b.roiPool(b.upload(rx), R, rp);
const am = await read(rpool.argmax, 36, 'int32');
check('roi_pool gradient keeps the total', [(await read(b.roiPoolGrad(b.upload(rdy), rpool.argmax, R, rp), 84)).reduce((a, v) => a + v, 0)],
  [Array.from(rdy).reduce((a, v, i) => a + (am[i]! >= 0 ? v : 0), 0)], 1e-5);
const bx = b.upload(boxes);
check('box_iou diagonal', (await read(b.boxIou(bx, 4, bx, 4), 16)).filter((_, i) => i % 5 === 0), [1, 1, 1, 1]);

await b.sync();
b.dispose();
console.log('all ok');
