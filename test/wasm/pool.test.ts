// max_pool2d forward (values and PyTorch's flat argmax) and backward against naive loops.
import { describe, expect, it } from 'vitest';
import type { Pool2dParams } from '../../src/engine/backend.js';
import { Rng } from '../helpers/random.js';
import { newBackend, takeF32, takeI32, upF32 } from './helpers.js';

const b = await newBackend();
const rng = new Rng('wasm-pool');

function params(n: number, c: number, h: number, w: number, k: number, s: number, pad: number): Pool2dParams {
  const outH = Math.floor((h + 2 * pad - k) / s) + 1;
  const outW = Math.floor((w + 2 * pad - k) / s) + 1;
  return { n, c, h, w, kh: k, kw: k, strideH: s, strideW: s, padH: pad, padW: pad, outH, outW };
}

/** PyTorch's CPU loop: −inf start, strict > (first max wins), NaN always taken. */
function naive(xs: number[], p: Pool2dParams): { out: number[]; argmax: number[] } {
  const out: number[] = [];
  const argmax: number[] = [];
  for (let plane = 0; plane < p.n * p.c; plane++) {
    for (let oh = 0; oh < p.outH; oh++) {
      for (let ow = 0; ow < p.outW; ow++) {
        const h0 = oh * p.strideH - p.padH;
        const w0 = ow * p.strideW - p.padW;
        let best = -Infinity;
        let at = Math.max(h0, 0) * p.w + Math.max(w0, 0);
        for (let ih = Math.max(h0, 0); ih < Math.min(h0 + p.kh, p.h); ih++) {
          for (let iw = Math.max(w0, 0); iw < Math.min(w0 + p.kw, p.w); iw++) {
            const v = xs[plane * p.h * p.w + ih * p.w + iw]!;
            if (v > best || Number.isNaN(v)) {
              best = v;
              at = ih * p.w + iw;
            }
          }
        }
        out.push(best);
        argmax.push(at);
      }
    }
  }
  return { out, argmax };
}

describe('wasm maxPool2d', () => {
  const cases: [string, Pool2dParams][] = [
    ['2×2 stride 2', params(2, 3, 8, 8, 2, 2, 0)],
    ['3×3 stride 2 pad 1 (odd input)', params(1, 4, 9, 7, 3, 2, 1)],
    ['3×3 stride 1 pad 1', params(2, 2, 5, 6, 3, 1, 1)],
    ['window larger than stride, ragged edge', params(1, 1, 10, 11, 4, 3, 2)],
    ['stride 3, wide rows (vector path with gathers)', params(1, 2, 7, 40, 3, 3, 1)],
    ['stride 2, odd width (vector path up to the row end)', params(1, 2, 6, 23, 3, 2, 1)],
    ['kernel wider than the input', params(1, 1, 3, 2, 3, 1, 1)],
  ];
  for (const [name, p] of cases) {
    it(`forward and backward, ${name}`, () => {
      // Coarse values: ties everywhere, so the first-max rule matters; one NaN and one −inf.
      const xs = Array.from({ length: p.n * p.c * p.h * p.w }, () => rng.int(-4, 5) * 0.25);
      xs[5] = NaN;
      if (xs.length > 17) xs[17] = -Infinity;
      const x = upF32(b, xs);
      const { out, argmax } = b.maxPool2d(x, p);
      const want = naive(xs, p);
      const size = want.out.length;
      expect(Array.from(b.readSync(out, 'float32', size))).toEqual(want.out);
      expect(Array.from(b.readSync(argmax, 'int32', size))).toEqual(want.argmax);
      const dys = Array.from({ length: size }, () => Math.fround(rng.normal()));
      const dy = upF32(b, dys);
      const dx = new Float64Array(xs.length);
      want.argmax.forEach((a, i) => {
        const plane = Math.floor(i / (p.outH * p.outW));
        dx[plane * p.h * p.w + a] = Math.fround(dx[plane * p.h * p.w + a]! + dys[i]!);
      });
      expect(Array.from(takeF32(b, b.maxPool2dGrad(dy, argmax, p), xs.length))).toEqual(Array.from(dx));
      takeF32(b, out, size);
      takeI32(b, argmax, size);
      b.free(dy);
      b.free(x);
    });
  }

  it('rejects padding beyond half the kernel and leaves nothing allocated', () => {
    const x = upF32(b, Array(16).fill(1));
    expect(() => b.maxPool2d(x, { ...params(1, 1, 4, 4, 2, 2, 0), padH: 2 })).toThrow(/at most half the kernel/);
    b.free(x);
    expect(b.memory()).toEqual({ bytes: 0, buffers: 0 });
  });
});
