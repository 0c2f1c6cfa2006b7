/**
 * Checks every WebGPU kernel against the float64 references of test/webgpu/ref.ts on random
 * data, on whatever navigator.gpu the runtime has (a real GPU, where the vitest suite cannot
 * run: Deno or a browser). Sizes span many workgroups, so races that a software GPU would hide
 * show up. Bundle and run (see scripts/webgpu-deno-smoke.sh for the drivers):
 *
 *   npx esbuild scripts/webgpu-check.ts --bundle --format=esm --platform=neutral --outfile=build/webgpu-check.mjs
 *   deno run --allow-env --allow-read build/webgpu-check.mjs [small]
 *
 * Prints one line per check with the worst error relative to its tolerance; throws at the end
 * if any failed.
 */
import { createWebGPUBackend } from '../src/backends/webgpu/index.js';
import type { Backend, Conv2dParams, RoiParams } from '../src/engine/backend.js';
import {
  boxIouRef, conv2dGradFilterRef, conv2dGradInputRef, conv2dRef, matmulRef, maxPoolGradRef, maxPoolRef,
  nmsRef, roiAlignGradRef, roiAlignRef, roiPoolGradRef, roiPoolRef,
} from '../test/webgpu/ref.js';

const args: string[] = ((globalThis as { Deno?: { args: string[] } }).Deno?.args ?? (typeof process !== 'undefined' ? process.argv.slice(2) : []));
const small = args.includes('small');
const S = (big: number, little: number) => (small ? little : big);

let seed = 12345;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 4294967296;
};
const randf = (n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rnd() || 0.5);

const failures: string[] = [];
function report(name: string, got: ArrayLike<number>, want: ArrayLike<number>, scale?: ArrayLike<number>, rtol = 1e-4, atol = 0): void {
  let worst = 0;
  let bad = got.length !== want.length ? `length ${got.length} vs ${want.length}` : '';
  for (let i = 0; i < want.length && !bad; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Number.isNaN(g) || Number.isNaN(w)) {
      if (Number.isNaN(g) !== Number.isNaN(w)) bad = `[${i}] got ${g}, want ${w}`;
      continue;
    }
    const tol = rtol * (scale ? scale[i]! : Math.abs(w)) + atol;
    const r = Math.abs(g - w) / (tol || 1e-30);
    if (!(r <= 1)) bad = `[${i}] got ${g}, want ${w}`;
    worst = Math.max(worst, r);
  }
  console.log(`${bad ? 'FAIL' : 'pass'}  ${name.padEnd(48)} worst ${(worst * 100).toFixed(1)}% of tolerance ${bad}`);
  if (bad) failures.push(name);
}

const b: Backend = await createWebGPUBackend();
console.log(`kdet webgpu check on ${(b as { description?: string }).description ?? 'an adapter'}${small ? ' (small sizes)' : ''}`);
const up = (a: Float32Array | Int32Array) => b.upload(a);
const rd = async (buf: unknown, n: number) => Array.from(await b.read(buf, 'float32', n));
const rdi = async (buf: unknown, n: number) => Array.from(await b.read(buf, 'int32', n));

// ---- elementwise, reductions, softmax ----
{
  const n = S(1_000_003, 5003);
  const x = randf(n, -5, 5);
  const X = up(x);
  report('unary tanh', await rd(b.unary('tanh', X, n), n), Array.from(x, (v) => Math.fround(Math.tanh(v))), undefined, 1e-5);
  report('unary sigmoid', await rd(b.unary('sigmoid', X, n), n), Array.from(x, (v) => Math.fround(1 / (1 + Math.exp(-v)))), undefined, 1e-5);
  const rows = S(1000, 50);
  const cols = n / rows | 0;
  const bias = randf(cols);
  report('binary add, row broadcast', await rd(b.binary('add', X, [rows, cols], up(bias), [cols], [rows, cols]), rows * cols),
    Array.from({ length: rows * cols }, (_, i) => Math.fround(x[i]! + bias[i % cols]!)), undefined, 1e-6);
  for (const [outer, len, inner] of [[S(1000, 20), cols, 1], [1, rows * cols, 1], [rows, 7, cols / 7 | 0], [S(7, 2), S(1000, 50), S(140, 40)]] as [number, number, number][]) {
    const want: number[] = [];
    const mag: number[] = [];
    for (let o = 0; o < outer; o++) for (let c = 0; c < inner; c++) {
      let s = 0;
      let m = 0;
      for (let k = 0; k < len; k++) {
        const v = x[(o * len + k) * inner + c]!;
        s += v;
        m += Math.abs(v);
      }
      want.push(s);
      mag.push(m);
    }
    report(`sum [${outer}, ${len}, ${inner}]`, await rd(b.reduce('sum', X, outer, len, inner), outer * inner), want, mag, 1e-5);
  }
  const sm: number[] = [];
  for (let r = 0; r < rows; r++) {
    const row = Array.from(x.subarray(r * cols, (r + 1) * cols));
    const m = Math.max(...row);
    const s = row.reduce((a, v) => a + Math.exp(v - m), 0);
    for (const v of row) sm.push(v - m - Math.log(s));
  }
  report('log-softmax rows', await rd(b.softmax(X, rows, cols, true), rows * cols), sm, undefined, 1e-5, 1e-5);
  const am: number[] = [];
  for (let r = 0; r < rows; r++) {
    let bi = 0;
    for (let c = 1; c < cols; c++) if (x[r * cols + c]! > x[r * cols + bi]!) bi = c;
    am.push(bi);
  }
  report('argmax rows', await rdi(b.argReduce('argmax', X, rows, cols, 1), rows), am, undefined, 0);
}

// ---- layout ----
{
  const [d0, d1, d2] = [S(16, 5), S(300, 37), S(200, 29)];
  const x = randf(d0 * d1 * d2);
  const X = up(x);
  const want = Array.from({ length: x.length }, (_, i) => {
    const a = Math.floor(i / (d2 * d1));
    const c = Math.floor(i / d1) % d2;
    const r = i % d1;
    return x[(a * d1 + r) * d2 + c]!;
  });
  report('transpose [0, 2, 1] (tiled)', await rd(b.transpose(X, [d0, d1, d2], [0, 2, 1], 'float32'), x.length), want, undefined, 0);
  const idx = Int32Array.from({ length: S(2000, 300) }, () => Math.floor(rnd() * d1));
  const src = randf(d0 * idx.length * d2);
  const sum = new Float64Array(d0 * d1 * d2);
  const mag = new Float64Array(sum.length);
  for (let a = 0; a < d0; a++) for (let j = 0; j < idx.length; j++) for (let c = 0; c < d2; c++) {
    const v = src[(a * idx.length + j) * d2 + c]!;
    sum[(a * d1 + idx[j]!) * d2 + c]! += v;
    mag[(a * d1 + idx[j]!) * d2 + c]! += Math.abs(v);
  }
  report('scatterAdd (CSR gather)', await rd(b.scatterAdd(up(src), [d0, idx.length, d2], up(idx), 1, d1), sum.length), sum, mag, 1e-5);
}

// ---- matmul ----
for (const [m, k, n, ta, tb, batch] of [[S(1000, 70), S(700, 50), S(900, 60), false, false, 1], [S(256, 33), S(4096, 600), S(128, 20), true, false, 1], [S(130, 20), S(64, 10), S(250, 30), false, true, S(6, 2)]] as [number, number, number, boolean, boolean, number][]) {
  const a = randf(batch * m * k);
  const bb = randf(k * n);
  const want = matmulRef(a, bb, batch, 1, m, k, n, ta, tb);
  const got = await rd(b.matmul(up(a), up(bb), { batchA: batch, batchB: 1, m, k, n, transA: ta, transB: tb }), want.out.length);
  report(`matmul ${batch}×${m}×${k}×${n}${ta ? ' Aᵀ' : ''}${tb ? ' Bᵀ' : ''}`, got, want.out, want.mag, 1e-5);
}

// ---- conv2d ----
const convs: [string, Conv2dParams][] = [
  ['conv 3×3 pad 1', { n: 2, cIn: S(32, 4), h: S(28, 9), w: S(28, 9), cOut: S(48, 6), kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, groups: 1, outH: S(28, 9), outW: S(28, 9) }],
  ['conv 3×3 stride 2, groups 4', { n: 2, cIn: 16, h: S(30, 10), w: S(30, 10), cOut: 32, kh: 3, kw: 3, strideH: 2, strideW: 2, padH: 1, padW: 1, dilationH: 1, dilationW: 1, groups: 4, outH: S(15, 5), outW: S(15, 5) }],
  // Depthwise (shaders/depthwise.wgsl): the filter gradient's workgroup reduction at 256 and 64 lanes.
  ['depthwise 3×3 pad 1', { n: 2, cIn: S(72, 6), h: S(40, 9), w: S(40, 11), cOut: S(72, 6), kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, groups: S(72, 6), outH: S(40, 9), outW: S(40, 11) }],
  ['depthwise 5×5 stride 2, multiplier 2', { n: 2, cIn: S(24, 3), h: S(20, 9), w: S(20, 9), cOut: S(48, 6), kh: 5, kw: 5, strideH: 2, strideW: 2, padH: 2, padW: 2, dilationH: 1, dilationW: 1, groups: S(24, 3), outH: S(10, 5), outW: S(10, 5) }],
];
for (const [name, p] of convs) {
  const x = randf(p.n * p.cIn * p.h * p.w);
  const w = randf(p.cOut * (p.cIn / p.groups) * p.kh * p.kw);
  const bias = randf(p.cOut);
  const dy = randf(p.n * p.cOut * p.outH * p.outW);
  const [X, W, DY] = [up(x), up(w), up(dy)];
  const f = conv2dRef(x, w, bias, p);
  report(`${name} forward`, await rd(b.conv2d(X, W, up(bias), p), f.out.length), f.out, f.mag, 1e-5);
  const dx = conv2dGradInputRef(dy, w, p);
  report(`${name} input grad`, await rd(b.conv2dGradInput(DY, W, p), dx.out.length), dx.out, dx.mag, 1e-5);
  const dw = conv2dGradFilterRef(x, dy, p);
  report(`${name} filter grad`, await rd(b.conv2dGradFilter(X, DY, p), dw.out.length), dw.out, dw.mag, 1e-5);
}

// ---- pooling and detection ----
{
  const p = { n: 2, c: S(16, 3), h: S(56, 11), w: S(56, 11), kh: 3, kw: 3, strideH: 2, strideW: 2, padH: 1, padW: 1, outH: S(28, 6), outW: S(28, 6) };
  const x = randf(p.n * p.c * p.h * p.w);
  const ref = maxPoolRef(x, p);
  const r = b.maxPool2d(up(x), p);
  report('max_pool2d', await rd(r.out, ref.out.length), ref.out, undefined, 0);
  report('max_pool2d argmax', await rdi(r.argmax, ref.out.length), ref.argmax, undefined, 0);
  const dy = randf(ref.out.length);
  report('max_pool2d grad', await rd(b.maxPool2dGrad(up(dy), r.argmax, p), x.length), maxPoolGradRef(dy, ref.argmax, p), maxPoolGradRef(dy.map(Math.abs), ref.argmax, p), 1e-6);

  const rp: RoiParams = { n: 2, c: S(32, 3), h: S(38, 12), w: S(50, 14), k: S(128, 9), pooledH: 7, pooledW: 7, spatialScale: 1 / 16, samplingRatio: 0, aligned: true };
  const fm = randf(rp.n * rp.c * rp.h * rp.w);
  const rois = new Float32Array(rp.k * 5);
  for (let i = 0; i < rp.k; i++) {
    const x1 = (rnd() * 1.2 - 0.1) * rp.w * 16;
    const y1 = (rnd() * 1.2 - 0.1) * rp.h * 16;
    rois.set([i % 2, x1, y1, x1 + rnd() * rp.w * 8, y1 + rnd() * rp.h * 8], i * 5);
  }
  const [FM, R] = [up(fm), up(rois)];
  const ra = roiAlignRef(fm, rois, rp);
  // Sample positions are float32 (as torchvision's): against float64 that is ~1e-5 relative.
  report('roi_align', await rd(b.roiAlign(FM, R, rp), ra.out.length), ra.out, ra.mag, 1e-4, 1e-7);
  const rdy = randf(ra.out.length);
  const rg = roiAlignGradRef(rdy, rois, rp);
  report('roi_align grad (gather)', await rd(b.roiAlignGrad(up(rdy), R, rp), rg.out.length), rg.out, rg.mag, 1e-4, 1e-7);
  const pr = roiPoolRef(fm, rois, rp);
  const rpool = b.roiPool(FM, R, rp);
  report('roi_pool', await rd(rpool.out, pr.out.length), pr.out, undefined, 0);
  report('roi_pool argmax', await rdi(rpool.argmax, pr.out.length), pr.argmax, undefined, 0);
  report('roi_pool grad (gather)', await rd(b.roiPoolGrad(up(rdy), rpool.argmax, R, rp), fm.length),
    roiPoolGradRef(rdy, pr.argmax, rois, rp), roiPoolGradRef(rdy.map(Math.abs), pr.argmax, rois, rp), 1e-6);

  const nb = S(4000, 300);
  const boxes = new Float32Array(nb * 4);
  for (let i = 0; i < nb; i++) {
    const x1 = rnd() * 600;
    const y1 = rnd() * 400;
    boxes.set([x1, y1, x1 + 10 + rnd() * 100, y1 + 10 + rnd() * 100], i * 4);
  }
  const scores = Float32Array.from({ length: nb }, () => Math.floor(rnd() * nb / 2) / nb);
  report('box_iou', await rd(b.boxIou(up(boxes.subarray(0, 400)), 100, up(boxes), nb), 100 * nb), boxIouRef(boxes.subarray(0, 400), boxes), undefined, 1e-5, 1e-7);
  for (const thr of [0.3, 0.7]) report(`nms ${nb} boxes @ ${thr}`, Array.from(await b.nms(up(boxes), up(scores), nb, thr)), nmsRef(boxes, scores, thr), undefined, 0);
}

await b.sync();
b.dispose();
if (failures.length) throw new Error(`webgpu check: ${failures.length} failed: ${failures.join(', ')}`);
console.log('webgpu check: all passed');
