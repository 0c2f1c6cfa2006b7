import { afterAll, describe, it } from 'vitest';
import type { Pool2dParams } from '../../src/engine/backend.js';
import { downF, downI, expectClose, expectEqual, openBackend, randf, rng, title, up } from './helpers.js';
import { maxPoolGradRef, maxPoolRef } from './ref.js';

const o = await openBackend();
const b = o.backend!;

function params(n: number, c: number, h: number, w: number, k: [number, number], s: [number, number], pad: [number, number]): Pool2dParams {
  const outH = Math.floor((h + 2 * pad[0] - k[0]) / s[0]) + 1;
  const outW = Math.floor((w + 2 * pad[1] - k[1]) / s[1]) + 1;
  return { n, c, h, w, kh: k[0], kw: k[1], strideH: s[0], strideW: s[1], padH: pad[0], padW: pad[1], outH, outW };
}

const CASES: [string, Pool2dParams][] = [
  ['2×2 stride 2', params(2, 3, 8, 10, [2, 2], [2, 2], [0, 0])],
  ['3×3 stride 2 pad 1 (overlapping, ResNet stem)', params(1, 4, 11, 9, [3, 3], [2, 2], [1, 1])],
  ['3×2 stride 1 pad (1, 1)', params(2, 2, 6, 7, [3, 2], [1, 1], [1, 1])],
  ['window larger than stride, odd sizes', params(1, 2, 13, 12, [5, 4], [3, 2], [2, 2])],
];

describe.skipIf(!o.backend)(title('webgpu max_pool2d', o), () => {
  afterAll(() => b.dispose());
  const r = rng(6);

  for (const [name, p] of CASES) {
    it(`${name}: forward with argmax, backward`, async () => {
      for (const coarse of [false, true]) {
        // Coarse values create ties: the first maximum wins.
        const x = randf(r, p.n * p.c * p.h * p.w, -2, 2).map((v) => (coarse ? Math.round(v * 2) / 2 : v));
        const want = maxPoolRef(x, p);
        const res = b.maxPool2d(up(b, x), p);
        const size = want.out.length;
        expectEqual(await downF(b, res.out, size), want.out, 'out');
        const argmax = await downI(b, res.argmax, size);
        expectEqual(argmax, want.argmax, 'argmax');
        const dy = randf(r, size);
        const dx = maxPoolGradRef(dy, want.argmax, p);
        const mag = maxPoolGradRef(dy.map(Math.abs), want.argmax, p);
        expectClose(await downF(b, b.maxPool2dGrad(up(b, dy), up(b, argmax), p), dx.length), dx, { scale: mag, rtol: 1e-6 }, 'dx');
      }
    });
  }

  it('−∞ and NaN inputs follow PyTorch (the last NaN wins; an all −∞ window keeps its first index)', async () => {
    const p = params(1, 1, 2, 4, [2, 2], [2, 2], [0, 0]);
    const x = new Float32Array([-Infinity, -Infinity, 1, NaN, -Infinity, -Infinity, NaN, 2]);
    const want = maxPoolRef(x, p);
    const res = b.maxPool2d(up(b, x), p);
    expectEqual(await downF(b, res.out, 2), want.out, 'out');
    expectEqual(await downI(b, res.argmax, 2), want.argmax, 'argmax');
  });
});
