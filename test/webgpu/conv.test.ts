import { afterAll, describe, it } from 'vitest';
import { gemmTuning } from '../../src/backends/webgpu/kernels/gemm.js';
import type { Conv2dParams } from '../../src/engine/backend.js';
import { downF, expectClose, openBackend, randf, rng, title, up } from './helpers.js';
import { conv2dGradFilterRef, conv2dGradInputRef, conv2dRef } from './ref.js';

const o = await openBackend();
const b = o.backend!;

interface Spec {
  n: number; cIn: number; h: number; w: number; cOut: number; kh: number; kw: number;
  stride?: [number, number]; pad?: [number, number]; dil?: [number, number]; groups?: number;
}

function params(s: Spec): Conv2dParams {
  const [strideH, strideW] = s.stride ?? [1, 1];
  const [padH, padW] = s.pad ?? [0, 0];
  const [dilationH, dilationW] = s.dil ?? [1, 1];
  const outH = Math.floor((s.h + 2 * padH - dilationH * (s.kh - 1) - 1) / strideH) + 1;
  const outW = Math.floor((s.w + 2 * padW - dilationW * (s.kw - 1) - 1) / strideW) + 1;
  return { n: s.n, cIn: s.cIn, h: s.h, w: s.w, cOut: s.cOut, kh: s.kh, kw: s.kw, strideH, strideW, padH, padW, dilationH, dilationW, groups: s.groups ?? 1, outH, outW };
}

const SPECS: [string, Spec][] = [
  ['3×3 pad 1', { n: 2, cIn: 3, h: 9, w: 8, cOut: 5, kh: 3, kw: 3, pad: [1, 1] }],
  ['stride 2, rectangular kernel and padding', { n: 1, cIn: 4, h: 11, w: 10, cOut: 6, kh: 3, kw: 2, stride: [2, 3], pad: [1, 0] }],
  ['dilation 2', { n: 2, cIn: 2, h: 10, w: 12, cOut: 3, kh: 3, kw: 3, dil: [2, 2], pad: [2, 1] }],
  ['groups 2', { n: 2, cIn: 4, h: 7, w: 7, cOut: 6, kh: 3, kw: 3, pad: [1, 1], groups: 2 }],
  ['depthwise, stride 2', { n: 1, cIn: 5, h: 8, w: 9, cOut: 5, kh: 3, kw: 3, stride: [2, 2], pad: [1, 1], groups: 5 }],
  ['1×1, 70 output channels', { n: 2, cIn: 20, h: 5, w: 6, cOut: 70, kh: 1, kw: 1 }],
  ['kernel larger than stride, no padding', { n: 1, cIn: 3, h: 13, w: 13, cOut: 4, kh: 5, kw: 5, stride: [4, 4] }],
  ['long reduction for the filter gradient (split-K)', { n: 3, cIn: 2, h: 20, w: 20, cOut: 4, kh: 3, kw: 3, pad: [1, 1] }],
];

describe.skipIf(!o.backend)(title('webgpu conv2d (implicit GEMM)', o), () => {
  afterAll(() => b.dispose());
  const r = rng(5);

  // The default GEMM is the tiled kernel on GPUs and gemm_direct on CPU-emulated devices
  // (SwiftShader); 'other' forces the one the device would not pick, so either CI run checks both.
  const other = b?.ctx.cpuEmulated ? 'base' : 'direct';
  const cases: [string, Spec, 'large' | 'base' | 'direct' | null][] = [
    ...SPECS.map(([n, s]) => [n, s, null] as [string, Spec, null]),
    ['3×3 stride 2, 128×128 tiles', SPECS[1]![1], 'large'],
    [`3×3 stride 2, ${other} kernel`, SPECS[1]![1], other],
    [`groups 2, ${other} kernel`, SPECS[3]![1], other],
    [`split-K filter gradient, ${other} kernel`, SPECS[SPECS.length - 1]![1], other],
  ];
  for (const [name, spec, force] of cases) {
    it(`${name}: forward, input gradient, filter gradient`, async () => {
      gemmTuning.force = force;
      const p = params(spec);
      const x = randf(r, p.n * p.cIn * p.h * p.w);
      const w = randf(r, p.cOut * (p.cIn / p.groups) * p.kh * p.kw);
      const bias = randf(r, p.cOut);
      const dy = randf(r, p.n * p.cOut * p.outH * p.outW);
      for (const withBias of [true, false]) {
        const want = conv2dRef(x, w, withBias ? bias : null, p);
        const got = await downF(b, b.conv2d(up(b, x), up(b, w), withBias ? up(b, bias) : null, p), want.out.length);
        expectClose(got, want.out, { scale: want.mag, rtol: 1e-5 }, `forward${withBias ? ' + bias' : ''}`);
      }
      const dx = conv2dGradInputRef(dy, w, p);
      expectClose(await downF(b, b.conv2dGradInput(up(b, dy), up(b, w), p), dx.out.length), dx.out, { scale: dx.mag, rtol: 1e-5 }, 'dx');
      const dw = conv2dGradFilterRef(x, dy, p);
      expectClose(await downF(b, b.conv2dGradFilter(up(b, x), up(b, dy), p), dw.out.length), dw.out, { scale: dw.mag, rtol: 1e-5 }, 'dw');
      gemmTuning.force = null;
    });
  }
});
