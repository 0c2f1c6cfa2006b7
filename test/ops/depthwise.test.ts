// Depthwise convolution: conv2d with groups = input channels, which the wasm and WebGPU backends
// run on dedicated kernels (assembly/depthwise*.ts, shaders/depthwise.wgsl) and the reference on
// its generic loop. On every backend under test: PyTorch 1.13's outputs and gradients
// (scripts/fixtures-depthwise.py -> test/fixtures/nn/depthwise.json) and a float64 loop written
// here on shapes the fixtures leave out (several row bands, kernels wider than 5, asymmetric
// stride / padding / dilation, multipliers, padding beyond the kernel), NaN propagating exactly to
// the elements it reaches, no leak, and a clear error for a bad filter. Finite differences on the
// reference backend; wasm at 1 and 2 threads gives the same bits.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWasmBackend, type WasmBackend } from '../../src/backends/wasm/index.js';
import { setSplitThresholds } from '../../src/backends/wasm/split.js';
import type { Backend, Conv2dParams } from '../../src/engine/backend.js';
import { isDepthwise } from '../../src/engine/depthwise.js';
import * as k from '../../src/engine/index.js';
import { assertClose } from '../helpers/assert.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { decode, type FixtureArray } from '../helpers/fixtures.js';
import { evaluate, gradcheck } from '../helpers/gradcheck.js';
import { expectMemoryFlat } from '../helpers/memory.js';
import { randn, Rng } from '../helpers/random.js';

type Pair = [number, number];
interface Options { stride: Pair; padding: Pair; dilation: Pair }

interface FixtureCase {
  name: string;
  params: { stride: number; padding: number; dilation: number; groups: number };
  x: FixtureArray;
  w: FixtureArray;
  b?: FixtureArray;
  dy: FixtureArray;
  expected: Record<'y' | 'dx' | 'dw', FixtureArray> & { db?: FixtureArray };
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/nn/depthwise.json', import.meta.url), 'utf8')) as { cases: FixtureCase[] };

const pairOf = (v: number): Pair => [v, v];
const optionsOf = (c: FixtureCase): Options => ({ stride: pairOf(c.params.stride), padding: pairOf(c.params.padding), dilation: pairOf(c.params.dilation) });

/** A random depthwise case: x [n, c, h, w], filter [c·mult, 1, kh, kw]. */
interface Shape { n: number; c: number; mult: number; h: number; w: number; kh: number; kw: number; bias: boolean; o: Options }

const RANDOM: [string, Shape][] = [
  ['several row bands: 2×2×61×301, 5×5', { n: 2, c: 2, mult: 1, h: 61, w: 301, kh: 5, kw: 5, bias: true, o: { stride: [1, 1], padding: [2, 2], dilation: [1, 1] } }],
  ['several row bands, stride 2: 1×2×97×260, 3×3', { n: 1, c: 2, mult: 1, h: 97, w: 260, kh: 3, kw: 3, bias: false, o: { stride: [2, 2], padding: [1, 1], dilation: [1, 1] } }],
  ['7×7 (wider than the unrolled taps), stride (2, 1), padding (3, 1), dilation (1, 2)', { n: 2, c: 3, mult: 1, h: 15, w: 17, kh: 7, kw: 7, bias: true, o: { stride: [2, 1], padding: [3, 1], dilation: [1, 2] } }],
  ['2×4 kernel, padding (0, 2), stride (1, 3)', { n: 1, c: 4, mult: 1, h: 6, w: 23, kh: 2, kw: 4, bias: true, o: { stride: [1, 3], padding: [0, 2], dilation: [1, 1] } }],
  ['multiplier 3, stride 1, dilation 2', { n: 2, c: 2, mult: 3, h: 9, w: 12, kh: 3, kw: 3, bias: true, o: { stride: [1, 1], padding: [2, 2], dilation: [2, 2] } }],
  ['padding beyond the kernel: 3×3, padding 3', { n: 1, c: 3, mult: 1, h: 5, w: 6, kh: 3, kw: 3, bias: false, o: { stride: [1, 1], padding: [3, 3], dilation: [1, 1] } }],
  // The stride-2 forward that reads x directly (assembly/depthwise-stride2.ts: k 3 or 5, padding
  // k // 2, width a multiple of 8): one vector a row, a pass of 4 plus 1, odd heights, multipliers.
  ['direct stride 2: 5×5 on 11×8 (one vector a row, first and last)', { n: 2, c: 2, mult: 1, h: 11, w: 8, kh: 5, kw: 5, bias: true, o: { stride: [2, 2], padding: [2, 2], dilation: [1, 1] } }],
  ['direct stride 2: 5×5 on 9×40 (a pass of 4 vectors, then 1)', { n: 1, c: 3, mult: 1, h: 9, w: 40, kh: 5, kw: 5, bias: false, o: { stride: [2, 2], padding: [2, 2], dilation: [1, 1] } }],
  ['direct stride 2: 3×3 on 17×24, multiplier 2', { n: 2, c: 3, mult: 2, h: 17, w: 24, kh: 3, kw: 3, bias: true, o: { stride: [2, 2], padding: [1, 1], dilation: [1, 1] } }],
  ['direct stride 2: 3×3 on 8×56 (passes of 4, then 3)', { n: 1, c: 2, mult: 1, h: 8, w: 56, kh: 3, kw: 3, bias: true, o: { stride: [2, 2], padding: [1, 1], dilation: [1, 1] } }],
  ['1×1 kernel, stride 2, 1×1 input', { n: 2, c: 5, mult: 1, h: 1, w: 1, kh: 1, kw: 1, bias: true, o: { stride: [2, 2], padding: [0, 0], dilation: [1, 1] } }],
];

function outSize(s: Shape): Pair {
  const f = (i: 0 | 1, size: number, kk: number) => Math.floor((size + 2 * s.o.padding[i] - s.o.dilation[i] * (kk - 1) - 1) / s.o.stride[i]) + 1;
  return [f(0, s.h, s.kh), f(1, s.w, s.kw)];
}

/**
 * Depthwise convolution and both gradients as plain float64 loops over every (output, tap) pair
 * that lies inside the input: independent of every backend. NaN propagates as IEEE arithmetic does.
 */
function handDepthwise(s: Shape, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, dy: ArrayLike<number>) {
  const [oh, ow] = outSize(s);
  const co = s.c * s.mult;
  const y = new Float64Array(s.n * co * oh * ow);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  const db = new Float64Array(co);
  for (let n = 0; n < s.n; n++) {
    for (let oc = 0; oc < co; oc++) {
      const c = Math.floor(oc / s.mult);
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          const yi = ((n * co + oc) * oh + oy) * ow + ox;
          let acc = b ? b[oc]! : 0;
          db[oc] += dy[yi]!;
          for (let ky = 0; ky < s.kh; ky++) {
            const iy = oy * s.o.stride[0] - s.o.padding[0] + ky * s.o.dilation[0];
            if (iy < 0 || iy >= s.h) continue;
            for (let kx = 0; kx < s.kw; kx++) {
              const ix = ox * s.o.stride[1] - s.o.padding[1] + kx * s.o.dilation[1];
              if (ix < 0 || ix >= s.w) continue;
              const xi = ((n * s.c + c) * s.h + iy) * s.w + ix;
              const wi = (oc * s.kh + ky) * s.kw + kx;
              acc += x[xi]! * w[wi]!;
              dx[xi] += w[wi]! * dy[yi]!;
              dw[wi] += x[xi]! * dy[yi]!;
            }
          }
          y[yi] = acc;
        }
      }
    }
  }
  return { y, dx, dw, db, shape: [s.n, co, oh, ow] };
}

function shapeOf(c: FixtureCase): Shape {
  const [n, ch, h, w] = c.x.shape as [number, number, number, number];
  const [co, , kh, kw] = c.w.shape as [number, number, number, number];
  return { n, c: ch, mult: co / ch, h, w, kh, kw, bias: c.b !== undefined, o: optionsOf(c) };
}

const conv = (s: Shape) => (x: k.Tensor, w: k.Tensor, b?: k.Tensor) => k.conv2d(x, w, b ?? null, { ...s.o, groups: s.c });

interface Values { x: Float32Array; w: Float32Array; b: Float32Array | null; dy: Float32Array }

function randomInputs(label: string, s: Shape): Values {
  const rng = new Rng(`depthwise ${label}`);
  const [oh, ow] = outSize(s);
  return {
    x: Float32Array.from(randn(rng, s.n * s.c * s.h * s.w)),
    w: Float32Array.from(randn(rng, s.c * s.mult * s.kh * s.kw, 0.5)),
    b: s.bias ? Float32Array.from(randn(rng, s.c * s.mult)) : null,
    dy: Float32Array.from(randn(rng, s.n * s.c * s.mult * oh * ow)),
  };
}

function inputsOf(s: Shape, v: Values) {
  const list = [{ data: v.x, shape: [s.n, s.c, s.h, s.w] }, { data: v.w, shape: [s.c * s.mult, 1, s.kh, s.kw] }];
  if (v.b) list.push({ data: v.b, shape: [s.c * s.mult] });
  return list;
}

describe('isDepthwise', () => {
  const p = (cIn: number, cOut: number, groups: number) => ({ cIn, cOut, groups }) as Conv2dParams;
  it('is groups = input channels > 1, any multiplier; not ordinary or partly grouped convolutions', () => {
    expect([p(8, 8, 8), p(3, 6, 3), p(16, 48, 16)].map(isDepthwise)).toEqual([true, true, true]);
    expect([p(8, 8, 1), p(8, 8, 4), p(1, 1, 1), p(1, 4, 1)].map(isDepthwise)).toEqual([false, false, false, false]);
  });
});

describeEachBackend(await loadBackendsUnderTest(), (backend: Backend, name: string) => {
  const rtol = name === 'reference' ? 1e-5 : 1e-4;

  for (const c of fixture.cases) {
    it(`${c.name}: y, dx, dw${c.b ? ', db' : ''} match F.conv2d and a float64 loop`, async () => {
      const s = shapeOf(c);
      const v: Values = { x: decode(c.x) as Float32Array, w: decode(c.w) as Float32Array, b: c.b ? decode(c.b) as Float32Array : null, dy: decode(c.dy) as Float32Array };
      const r = await evaluate(backend, conv(s), inputsOf(s, v), () => v.dy);
      const e = c.expected;
      assertClose(r.output.data, decode(e.y), { rtol, what: 'y', shape: e.y.shape });
      assertClose(r.grads[0]!, decode(e.dx), { rtol, what: 'dx', shape: e.dx.shape });
      assertClose(r.grads[1]!, decode(e.dw), { rtol, what: 'dw', shape: e.dw.shape });
      if (e.db) assertClose(r.grads[2]!, decode(e.db), { rtol, what: 'db' });
      const hand = handDepthwise(s, v.x, v.w, v.b, v.dy);
      assertClose(r.output.data, hand.y, { rtol, what: 'y vs loop' });
      assertClose(r.grads[0]!, hand.dx, { rtol, what: 'dx vs loop' });
      assertClose(r.grads[1]!, hand.dw, { rtol, what: 'dw vs loop' });
    });
  }

  for (const [label, s] of RANDOM) {
    it(`${label}: y, dx, dw match a float64 loop`, async () => {
      const v = randomInputs(label, s);
      const r = await evaluate(backend, conv(s), inputsOf(s, v), () => v.dy);
      const hand = handDepthwise(s, v.x, v.w, v.b, v.dy);
      expect([...r.output.shape]).toEqual(hand.shape);
      assertClose(r.output.data, hand.y, { rtol, what: 'y', shape: hand.shape });
      assertClose(r.grads[0]!, hand.dx, { rtol, what: 'dx', shape: [s.n, s.c, s.h, s.w] });
      assertClose(r.grads[1]!, hand.dw, { rtol, what: 'dw', shape: [s.c * s.mult, 1, s.kh, s.kw] });
      if (v.b) assertClose(r.grads[2]!, hand.db, { rtol, what: 'db' });
    });
  }

  it('NaN reaches exactly the outputs, input gradients and filter gradients that read it', async () => {
    const cases: Shape[] = [
      { n: 2, c: 3, mult: 1, h: 9, w: 11, kh: 3, kw: 3, bias: true, o: { stride: [2, 2], padding: [1, 1], dilation: [1, 1] } },
      { n: 1, c: 2, mult: 2, h: 10, w: 13, kh: 5, kw: 5, bias: false, o: { stride: [1, 1], padding: [4, 4], dilation: [2, 2] } },
      { n: 1, c: 2, mult: 1, h: 9, w: 16, kh: 5, kw: 5, bias: true, o: { stride: [2, 2], padding: [2, 2], dilation: [1, 1] } },
    ];
    for (const s of cases) {
      const v = randomInputs(`nan ${JSON.stringify(s)}`, s);
      // NaN in x (a corner, an interior pixel, the last column: unread at stride 2 on odd sizes) and in dy.
      for (const i of [0, s.w + 4, 2 * s.h * s.w - 1, s.c * s.h * s.w + s.w * 3 - 1]) v.x[i % v.x.length] = NaN;
      v.dy[5] = NaN;
      const r = await evaluate(backend, conv(s), inputsOf(s, v), () => v.dy);
      const hand = handDepthwise(s, v.x, v.w, v.b, v.dy);
      for (const [what, got, want] of [['y', r.output.data, hand.y], ['dx', r.grads[0]!, hand.dx], ['dw', r.grads[1]!, hand.dw]] as const) {
        const nanGot = Array.from(got, Number.isNaN);
        const nanWant = Array.from(want, Number.isNaN);
        expect(nanWant.some(Boolean), `${what}: the case puts NaN somewhere`).toBe(true);
        expect(nanWant.every(Boolean), `${what}: the case leaves some finite`).toBe(false);
        expect(nanGot, `${what}: where NaN is`).toEqual(nanWant);
        assertClose(got, want, { rtol, what });
      }
    }
  });

  it('no tensor or backend memory outlives a forward and backward', async () => {
    const s = RANDOM[2]![1];
    const v = randomInputs('memory', s);
    k.setBackend(backend);
    const x = k.tensor(v.x, [s.n, s.c, s.h, s.w], { backend });
    const w = k.tensor(v.w, [s.c * s.mult, 1, s.kh, s.kw], { backend });
    const b = k.tensor(v.b!, [s.c * s.mult], { backend });
    await expectMemoryFlat(backend, () => {
      const { value, grads } = k.valueAndGrads(() => k.sum(k.square(conv(s)(x, w, b))), [x, w, b]);
      k.dispose([value, ...grads]);
    });
    k.dispose([x, w, b]);
  });

  it('a filter with the wrong channels is refused naming conv2d, the filter and both shapes', () => {
    k.setBackend(backend);
    const x = k.zeros([1, 6, 5, 5]);
    const w = k.zeros([6, 2, 3, 3]);
    try {
      expect(() => k.conv2d(x, w, null, { groups: 6, padding: 1 })).toThrow(/conv2d.*weight \[6, ?2, ?3, ?3\] expects 12 input channels \(groups 6\) but input \[1, ?6, ?5, ?5\] has 6/);
    } finally {
      k.dispose([x, w]);
    }
  });

  if (name === 'reference') {
    for (const [label, s] of [
      ['3×3 stride 2 padding 1, bias', { n: 2, c: 2, mult: 1, h: 5, w: 6, kh: 3, kw: 3, bias: true, o: { stride: [2, 2], padding: [1, 1], dilation: [1, 1] } }],
      ['3×3 dilation 2 padding 2, multiplier 2', { n: 1, c: 2, mult: 2, h: 6, w: 5, kh: 3, kw: 3, bias: true, o: { stride: [1, 1], padding: [2, 2], dilation: [2, 2] } }],
      ['5×5 stride 1 padding 2', { n: 1, c: 2, mult: 1, h: 5, w: 7, kh: 5, kw: 5, bias: false, o: { stride: [1, 1], padding: [2, 2], dilation: [1, 1] } }],
    ] as [string, Shape][]) {
      it(`finite differences: ${label}`, () => {
        gradcheck(`depthwise ${label}`, conv(s), inputsOf(s, randomInputs(`gradcheck ${label}`, s)));
      });
    }
  }
});

describe('wasm depthwise at 1 and 2 threads: the same bits', () => {
  const backends: WasmBackend[] = [];
  beforeAll(async () => {
    for (const threads of [1, 2]) backends.push((await createWasmBackend({ threads })) as WasmBackend);
  });
  afterAll(() => {
    for (const b of backends) b.dispose();
    setSplitThresholds();
  });

  const shapes: [string, Shape][] = [
    ...fixture.cases.map((c): [string, Shape] => [c.name, shapeOf(c)]),
    ...RANDOM,
    ['MobileNetV3 72→72 5×5 stride 2 on 40²', { n: 1, c: 72, mult: 1, h: 40, w: 40, kh: 5, kw: 5, bias: true, o: { stride: [2, 2], padding: [2, 2], dilation: [1, 1] } }],
  ];
  for (const [label, thresholds] of [['every call split (tiny thresholds)', [1, 1, 1, 1]], ['default thresholds', []]] as const) {
    it(`${label}: forward, input and filter gradients`, () => {
      setSplitThresholds(...thresholds);
      expect(backends.map((b) => b.threads)).toEqual([1, 2]);
      for (const [name, s] of shapes) {
        const v = randomInputs(`threads ${name}`, s);
        const [oh, ow] = outSize(s);
        const p: Conv2dParams = { n: s.n, cIn: s.c, h: s.h, w: s.w, cOut: s.c * s.mult, kh: s.kh, kw: s.kw, strideH: s.o.stride[0], strideW: s.o.stride[1],
          padH: s.o.padding[0], padW: s.o.padding[1], dilationH: s.o.dilation[0], dilationW: s.o.dilation[1], groups: s.c, outH: oh, outW: ow };
        const bits = backends.map((b) => {
          const [x, w, dy] = [v.x, v.w, v.dy].map((a) => b.upload(a));
          const bias = v.b ? b.upload(v.b) : null;
          const outs = [[b.conv2d(x, w, bias, p), v.dy.length], [b.conv2dGradInput(dy, w, p), v.x.length], [b.conv2dGradFilter(x, dy, p), v.w.length]] as const;
          const read = outs.map(([o, n]) => new Uint32Array((b.readSync(o, 'float32', n) as Float32Array).buffer.slice(0)));
          for (const t of [x, w, dy, ...(bias ? [bias] : []), ...outs.map(([o]) => o)]) b.free(t);
          return read;
        });
        for (let i = 0; i < 3; i++) {
          const f = new Float32Array(bits[0]![i]!.buffer);
          expect(f.some(Number.isNaN), `${name}: NaN in output ${i}`).toBe(false);
          expect(bits[1]![i], `${name}: output ${i} differs between 1 and 2 threads`).toEqual(bits[0]![i]);
        }
      }
    });
  }
});
