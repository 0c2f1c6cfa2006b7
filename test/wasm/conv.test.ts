// The wasm convolutions (assembly/conv*.ts): forward, input gradient and filter gradient against
// naive float64 loops (the gradients as the adjoints of the forward sum), on the raw module.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  RawHeap, convParamsArray, convShape, instantiateKdet, type ConvShape, type KdetExports,
} from '../../bench/wasm-raw.js';
import { Rng, hashSeed, randn } from '../helpers/random.js';

let ex: KdetExports;
let heap: RawHeap;

beforeAll(() => {
  ex = instantiateKdet();
  heap = new RawHeap(ex);
});

interface Reference {
  y: Float64Array; yMag: Float64Array;
  dx: Float64Array; dxMag: Float64Array;
  dw: Float64Array; dwMag: Float64Array;
}

/**
 * One pass over every term x·w of the forward sum gives y, and, as its adjoints with upstream
 * gradient dy, dx and dw; the *Mag arrays hold Σ|term| per element, the scale that float32
 * rounding error is relative to.
 */
function reference(s: ConvShape, x: Float64Array, w: Float64Array, bias: Float64Array | null, dy: Float64Array): Reference {
  const cg = s.cIn / s.groups;
  const cog = s.cOut / s.groups;
  const r: Reference = {
    y: new Float64Array(s.n * s.cOut * s.outH * s.outW), yMag: new Float64Array(s.n * s.cOut * s.outH * s.outW),
    dx: new Float64Array(x.length), dxMag: new Float64Array(x.length),
    dw: new Float64Array(w.length), dwMag: new Float64Array(w.length),
  };
  for (let b = 0; b < s.n; b++) {
    for (let o = 0; o < s.cOut; o++) {
      const g = Math.floor(o / cog);
      for (let oy = 0; oy < s.outH; oy++) {
        for (let ox = 0; ox < s.outW; ox++) {
          const yi = ((b * s.cOut + o) * s.outH + oy) * s.outW + ox;
          let acc = bias ? bias[o]! : 0;
          let mag = bias ? Math.abs(bias[o]!) : 0;
          const g0 = dy[yi]!;
          for (let c = 0; c < cg; c++) {
            for (let ky = 0; ky < s.kh; ky++) {
              const iy = oy * s.strideH - s.padH + ky * s.dilationH;
              if (iy < 0 || iy >= s.h) continue;
              for (let kx = 0; kx < s.kw; kx++) {
                const ix = ox * s.strideW - s.padW + kx * s.dilationW;
                if (ix < 0 || ix >= s.w) continue;
                const xi = ((b * s.cIn + g * cg + c) * s.h + iy) * s.w + ix;
                const wi = ((o * cg + c) * s.kh + ky) * s.kw + kx;
                acc += x[xi]! * w[wi]!;
                mag += Math.abs(x[xi]! * w[wi]!);
                r.dx[xi]! += w[wi]! * g0;
                r.dxMag[xi]! += Math.abs(w[wi]! * g0);
                r.dw[wi]! += x[xi]! * g0;
                r.dwMag[wi]! += Math.abs(x[xi]! * g0);
              }
            }
          }
          r.y[yi] = acc;
          r.yMag[yi] = mag;
        }
      }
    }
  }
  return r;
}

/** Asserts |got − want| ≤ 1e-4·Σ|terms| elementwise (NaN fails); elements with no term must be 0. */
function expectClose(what: string, got: Float32Array, want: Float64Array, mag: Float64Array): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= 1e-4 * mag[i]!) && !(mag[i] === 0 && got[i] === 0)) {
      throw new Error(`${what}[${i}] = ${got[i]}, want ${want[i]} (|err| ${err}, scale ${mag[i]})`);
    }
  }
}

const GUARD = 32;

/** Output buffer pre-filled with NaN (must be overwritten) inside sentinel guards. */
function outBuffer(size: number): { ptr: number; read: () => Float32Array; guardsIntact: () => boolean } {
  const base = heap.alloc((size + 2 * GUARD) * 4);
  heap.f32(base, size + 2 * GUARD).fill(-777.25);
  const ptr = base + GUARD * 4;
  heap.f32(ptr, size).fill(NaN);
  return {
    ptr,
    read: () => heap.f32(ptr, size).slice(),
    guardsIntact: () => [...heap.f32(base, GUARD), ...heap.f32(ptr + size * 4, GUARD)].every((v) => v === -777.25),
  };
}

function scratch(kind: number, params: number): number {
  const bytes = ex.conv2dScratchBytes(kind, params);
  const p = heap.alloc(bytes);
  heap.f32(p, Math.floor(bytes / 4)).fill(NaN); // kernels must not rely on scratch content
  return p;
}

function checkConv(s: ConvShape, withBias: boolean, seed: string): void {
  const rng = new Rng(hashSeed(seed));
  const cg = s.cIn / s.groups;
  const x = randn(rng, s.n * s.cIn * s.h * s.w);
  const w = randn(rng, s.cOut * cg * s.kh * s.kw);
  const bias = withBias ? randn(rng, s.cOut) : null;
  const dy = randn(rng, s.n * s.cOut * s.outH * s.outW);
  const ref = reference(s, x, w, bias, dy);

  // Paths: 0 automatic; input gradient 1 GEMM + col2im, 2 transposed convolution (stride 1 only);
  // filter gradient 1 dW = dY·im2colᵀ, 2 dWᵀ = im2col·dYᵀ.
  for (const path of [0, 1, 2]) {
    heap.reset();
    ex.conv2dSetGradInputPath(path);
    ex.conv2dSetGradFilterPath(path);
    const params = heap.i32s(convParamsArray(s));
    const px = heap.upload(x);
    const pw = heap.upload(w);
    const pb = bias ? heap.upload(bias) : 0;
    const pdy = heap.upload(dy);

    if (path === 0) {
      const y = outBuffer(ref.y.length);
      ex.conv2dForward(px, pw, pb, y.ptr, params, scratch(0, params));
      expectClose('y', y.read(), ref.y, ref.yMag);
      expect(y.guardsIntact(), 'forward wrote outside y').toBe(true);
    }

    const dw = outBuffer(w.length);
    ex.conv2dGradFilter(px, pdy, dw.ptr, params, scratch(2, params));
    expectClose(`dw (path ${path})`, dw.read(), ref.dw, ref.dwMag);
    expect(dw.guardsIntact(), 'grad filter wrote outside dw').toBe(true);

    const dx = outBuffer(x.length);
    ex.conv2dGradInput(pdy, pw, dx.ptr, params, scratch(1, params));
    expectClose(`dx (path ${path})`, dx.read(), ref.dx, ref.dxMag);
    expect(dx.guardsIntact(), 'grad input wrote outside dx').toBe(true);
  }
  ex.conv2dSetGradInputPath(0);
  ex.conv2dSetGradFilterPath(0);
}

describe('wasm conv2d', () => {
  const cases: [string, ConvShape][] = [
    ['3×3 pad 1, N=2, 7×9', convShape(2, 3, 7, 9, 5, 3, 3, { pad: [1, 1] })],
    ['3×3 pad 0', convShape(1, 4, 7, 9, 6, 3, 3)],
    ['3×3 pad 2 (wider than the kernel reach)', convShape(1, 3, 6, 5, 4, 3, 3, { pad: [2, 2] })],
    ['3×3 stride 2 pad 1', convShape(2, 3, 9, 11, 5, 3, 3, { stride: [2, 2], pad: [1, 1] })],
    ['3×3 stride 2 pad 0', convShape(1, 5, 8, 7, 3, 3, 3, { stride: [2, 2] })],
    ['3×3 stride 2 pad 2', convShape(1, 2, 7, 9, 4, 3, 3, { stride: [2, 2], pad: [2, 2] })],
    ['3×3 dilation 2 pad 2', convShape(2, 3, 9, 10, 4, 3, 3, { pad: [2, 2], dilation: [2, 2] })],
    ['3×3 dilation 2 stride 2', convShape(1, 3, 11, 9, 4, 3, 3, { stride: [2, 2], pad: [1, 1], dilation: [2, 2] })],
    ['groups 2', convShape(2, 4, 7, 9, 6, 3, 3, { pad: [1, 1], groups: 2 })],
    ['depthwise', convShape(2, 6, 7, 9, 6, 3, 3, { pad: [1, 1], groups: 6 })],
    ['depthwise × 2 stride 2', convShape(1, 4, 9, 8, 8, 3, 3, { stride: [2, 2], pad: [1, 1], groups: 4 })],
    ['1×1', convShape(2, 7, 7, 9, 5, 1, 1)],
    ['1×1 pad 1 (transposed padding −1: a crop)', convShape(1, 3, 5, 6, 4, 1, 1, { pad: [1, 1] })],
    ['1×1 stride 2', convShape(2, 5, 7, 9, 3, 1, 1, { stride: [2, 2] })],
    ['3×3 pad 3 (transposed padding −1)', convShape(1, 2, 6, 7, 3, 3, 3, { pad: [3, 3] })],
    ['5×3 kernel, asymmetric stride/pad/dilation', convShape(2, 3, 13, 11, 4, 5, 3, { stride: [2, 1], pad: [2, 1], dilation: [1, 2] })],
    ['7×7 stride 2 pad 3 (stem)', convShape(1, 3, 19, 17, 8, 7, 7, { stride: [2, 2], pad: [3, 3] })],
    ['output 1×1', convShape(2, 3, 3, 3, 5, 3, 3)],
    ['wide rows (outW > 16, panels inside a row)', convShape(1, 3, 5, 37, 4, 3, 3, { pad: [1, 1] })],
    ['K > 256 (several K blocks)', convShape(1, 40, 6, 7, 9, 3, 3, { pad: [1, 1] })],
    ['P > 2048 (several N blocks of 512), N=2', convShape(2, 2, 47, 45, 3, 3, 3, { pad: [1, 1] })],
    ['cOut > 128 (several M blocks)', convShape(1, 3, 5, 6, 131, 3, 3, { pad: [1, 1] })],
    ['cIn > 128 (transposed M blocks)', convShape(1, 133, 4, 5, 3, 3, 3, { pad: [1, 1] })],
    ['N=3 groups 3 stride 2 non-square', convShape(3, 6, 10, 7, 9, 3, 2, { stride: [2, 3], pad: [1, 0], groups: 3 })],
  ];
  for (const [name, s] of cases) {
    for (const withBias of [false, true]) {
      it(`${name}${withBias ? ' + bias' : ''}`, () => checkConv(s, withBias, `${name} ${withBias}`));
    }
  }

  it('filter gradient: the orientation whose rows split in two is taken, and both orientations give the same bits', () => {
    // A first layer, 3 → 32 (k = 27 rows transposed, 32 rows plain): only the plain product has
    // rows for two 16-row parts. 64 → 16: only the transposed one (k = 576). The pool may then run
    // either on several threads; both sum each element over the pixels in the same order.
    const orientation = (s: ConvShape): number => {
      heap.reset();
      return ex.conv2dGradFilterIsTransposed(heap.i32s(convParamsArray(s)));
    };
    expect(orientation(convShape(1, 3, 16, 16, 32, 3, 3, { pad: [1, 1] }))).toBe(0);
    expect(orientation(convShape(1, 64, 8, 8, 16, 3, 3, { pad: [1, 1] }))).toBe(1);
    const s = convShape(2, 3, 19, 23, 32, 3, 3, { pad: [1, 1] });
    const rng = new Rng(hashSeed('grad filter orientations'));
    const x = randn(rng, s.n * s.cIn * s.h * s.w);
    const dy = randn(rng, s.n * s.cOut * s.outH * s.outW);
    const bits: Buffer[] = [];
    for (const path of [1, 2]) {
      heap.reset();
      ex.conv2dSetGradFilterPath(path);
      const params = heap.i32s(convParamsArray(s));
      const dw = heap.alloc(s.cOut * 27 * 4);
      ex.conv2dGradFilter(heap.upload(x), heap.upload(dy), dw, params, heap.alloc(ex.conv2dScratchBytes(2, params)));
      const v = heap.f32(dw, s.cOut * 27).slice();
      expect(v.every(Number.isFinite)).toBe(true);
      bits.push(Buffer.from(v.buffer));
    }
    ex.conv2dSetGradFilterPath(0);
    expect(bits[0]!.equals(bits[1]!)).toBe(true);
  });

  it('is deterministic and range splits match the whole', () => {
    const s = convShape(3, 4, 9, 11, 6, 3, 3, { pad: [1, 1], groups: 2 });
    const rng = new Rng(hashSeed('conv split'));
    const x = randn(rng, s.n * s.cIn * s.h * s.w);
    const w = randn(rng, s.cOut * (s.cIn / s.groups) * 9);
    const dy = randn(rng, s.n * s.cOut * s.outH * s.outW);
    heap.reset();
    const params = heap.i32s(convParamsArray(s));
    const [px, pw, pdy] = [heap.upload(x), heap.upload(w), heap.upload(dy)];
    const big = heap.alloc(Math.max(...[0, 1, 2].map((k) => ex.conv2dScratchBytes(k, params))));
    const pairs = s.n * s.groups;
    const ySize = s.n * s.cOut * s.outH * s.outW;
    const outs = [heap.alloc(ySize * 4), heap.alloc(ySize * 4), heap.alloc(ySize * 4)];
    ex.conv2dForward(px, pw, 0, outs[0]!, params, big);
    ex.conv2dForward(px, pw, 0, outs[1]!, params, big);
    ex.conv2dForwardRange(px, pw, 0, outs[2]!, params, big, 0, 2);
    ex.conv2dForwardRange(px, pw, 0, outs[2]!, params, big, 2, pairs);
    const bytes = outs.map((p) => Buffer.from(heap.f32(p, ySize).slice().buffer));
    expect(bytes[1]!.equals(bytes[0]!) && bytes[2]!.equals(bytes[0]!)).toBe(true);

    const dxs = [heap.alloc(x.length * 4), heap.alloc(x.length * 4)];
    ex.conv2dGradInput(pdy, pw, dxs[0]!, params, big);
    ex.conv2dGradInputRange(pdy, pw, dxs[1]!, params, big, 0, 3);
    ex.conv2dGradInputRange(pdy, pw, dxs[1]!, params, big, 3, pairs);
    expect(Buffer.from(heap.f32(dxs[1]!, x.length).slice().buffer).equals(Buffer.from(heap.f32(dxs[0]!, x.length).slice().buffer))).toBe(true);

    const dws = [heap.alloc(w.length * 4), heap.alloc(w.length * 4)];
    ex.conv2dGradFilter(px, pdy, dws[0]!, params, big);
    ex.conv2dGradFilterRange(px, pdy, dws[1]!, params, big, 0, 1);
    ex.conv2dGradFilterRange(px, pdy, dws[1]!, params, big, 1, 2);
    expect(Buffer.from(heap.f32(dws[1]!, w.length).slice().buffer).equals(Buffer.from(heap.f32(dws[0]!, w.length).slice().buffer))).toBe(true);
  });
});
