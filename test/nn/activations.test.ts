// relu6, hardsigmoid, hardswish and their modules (src/nn/activations.ts) against PyTorch 1.13
// (scripts/fixtures-mobilenet-ops.py -> test/fixtures/nn/mobilenet-ops.json) on every backend under
// test, including PyTorch's gradient conventions at the kinks (x = -3, 0, 3, 6), ±Inf and NaN; a
// float64 loop reference; finite differences on the reference backend away from the kinks; no leak.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { Hardsigmoid, hardsigmoid, Hardswish, hardswish, ReLU6, relu6, Sequential } from '../../src/nn/index.js';
import { assertClose } from '../helpers/assert.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { decode, type FixtureArray } from '../helpers/fixtures.js';
import { evaluate, gradcheck } from '../helpers/gradcheck.js';
import { expectMemoryFlat } from '../helpers/memory.js';
import { randn, Rng } from '../helpers/random.js';

interface ActCase {
  name: 'relu6' | 'hardsigmoid' | 'hardswish';
  x: FixtureArray;
  dy: FixtureArray;
  y: FixtureArray;
  dx: FixtureArray;
  kinks: { x: FixtureArray; y: FixtureArray; dx: FixtureArray };
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/nn/mobilenet-ops.json', import.meta.url), 'utf8')) as { activations: ActCase[] };

const FNS = { relu6, hardsigmoid, hardswish } as const;
const MODULES = { relu6: ReLU6, hardsigmoid: Hardsigmoid, hardswish: Hardswish } as const;

/** Plain-loop float64 value and derivative (PyTorch's conventions). */
const HAND: Record<ActCase['name'], (x: number) => [number, number]> = {
  relu6: (x) => [Math.min(Math.max(x, 0), 6), x <= 0 || x >= 6 ? 0 : 1],
  hardsigmoid: (x) => [Math.min(Math.max(x + 3, 0), 6) / 6, x > -3 && x < 3 ? 1 / 6 : 0],
  hardswish: (x) => [(x * Math.min(Math.max(x + 3, 0), 6)) / 6, x < -3 ? 0 : x <= 3 ? x / 3 + 0.5 : 1],
};

const input = (a: FixtureArray) => ({ data: decode(a), shape: a.shape });

describeEachBackend(await loadBackendsUnderTest(), (backend: Backend, name: string) => {
  const rtol = name === 'reference' ? 1e-6 : 1e-5;

  for (const c of fixture.activations) {
    const fn = FNS[c.name];
    it(`${c.name}: y and dx of sum(y · dy) match PyTorch on random x (scale 4: every piece); no leak`, async () => {
      const r = await evaluate(backend, (x) => fn(x!), [input(c.x)], () => decode(c.dy));
      assertClose(r.output.data, decode(c.y), { rtol, what: `${c.name} y`, shape: c.x.shape });
      assertClose(r.grads[0]!, decode(c.dx), { rtol, what: `${c.name} dx`, shape: c.x.shape });
    });

    it(`${c.name}: PyTorch's values and gradients at the kinks (-3, 0, 3, 6), their neighbours, ±Inf and NaN`, async () => {
      const xs = decode(c.kinks.x);
      const r = await evaluate(backend, (x) => fn(x!), [input(c.kinks.x)], (s) => new Float64Array(s.reduce((p, d) => p * d, 1)).fill(1));
      const what = (w: string) => `${c.name} ${w} at [${Array.from(xs).join(', ')}]`;
      assertClose(r.output.data, decode(c.kinks.y), { rtol, atol: 0, what: what('y') });
      assertClose(r.grads[0]!, decode(c.kinks.dx), { rtol, atol: 0, what: what('dx') });
    });

    it(`${c.name}: the module (${MODULES[c.name]().name}) is the function, also inside a Sequential`, async () => {
      k.setBackend(backend);
      const before = k.memoryStats(backend);
      const x = k.tensor(decode(c.x) as Float32Array, c.x.shape, { backend });
      const m = MODULES[c.name]();
      const seq = new Sequential([MODULES[c.name](), MODULES[c.name]()]);
      const [a, b, s] = [m.forward(x), fn(x), seq.forward(x)];
      const twice = fn(b);
      expect(Array.from(await a.data())).toEqual(Array.from(await b.data()));
      expect(Array.from(await s.data())).toEqual(Array.from(await twice.data()));
      expect(m.parameters()).toEqual([]);
      k.dispose([x, a, b, s, twice]);
      await backend.sync();
      expect(k.memoryStats(backend)).toEqual(before);
    });

    it(`${c.name}: matches a plain-loop float64 computation (value and derivative)`, async () => {
      const xs = randn(new Rng(`${c.name} hand`), 60, 4);
      const r = await evaluate(backend, (x) => fn(x!), [{ data: xs, shape: [60] }], (s) => new Float64Array(s[0]!).fill(1));
      const want = Array.from(xs, HAND[c.name]);
      assertClose(r.output.data, want.map((v) => v[0]), { rtol, what: `${c.name} y` });
      assertClose(r.grads[0]!, want.map((v) => v[1]), { rtol, what: `${c.name} dy/dx` });
    });
  }

  it('no leak: tensors and backend bytes flat over repeated forward/backward through all three', async () => {
    k.setBackend(backend);
    const x = k.tensor(Float32Array.from(randn(new Rng('act mem'), 40, 4)), [2, 4, 5], { backend });
    const step = () => {
      const { value, grads } = k.valueAndGrads(() => k.sum(hardswish(hardsigmoid(relu6(x)))), [x]);
      k.dispose([value, ...grads]);
      k.dispose([relu6(x), hardsigmoid(x), hardswish(x)]);
      k.noGrad(() => k.dispose(hardswish(x)));
    };
    await expectMemoryFlat(backend, step);
    x.dispose();
  });

  it('NaN is never hidden: a NaN input gives NaN at its element only; finite input gives finite output', async () => {
    k.setBackend(backend);
    const xs = Float32Array.from(randn(new Rng('act nan'), 24, 5));
    xs[7] = NaN;
    const x = k.tensor(xs, [24], { backend });
    for (const fn of [relu6, hardsigmoid, hardswish]) {
      const y: Tensor = fn(x);
      const v = Array.from(await y.data());
      v.forEach((e, i) => expect(Number.isNaN(e), `${fn.name} element ${i}`).toBe(i === 7));
      y.dispose();
    }
    x.dispose();
  });
});

// Finite differences on the reference backend, in float64, with inputs at least 0.05 from every kink.
const awayFromKinks = (seed: string, n: number): Float64Array =>
  randn(new Rng(seed), n, 4).map((v) => {
    for (const kink of [-3, 0, 3, 6]) if (Math.abs(v - kink) < 0.05) return kink + (v < kink ? -0.05 : 0.05);
    return v;
  });

for (const n of ['relu6', 'hardsigmoid', 'hardswish'] as const) {
  it(`gradcheck: ${n} (reference backend, float64, away from the kinks)`, () => {
    gradcheck(n, (x) => FNS[n](x!), [{ data: awayFromKinks(`gc ${n}`, 48), shape: [3, 16] }], { rtol: 1e-6 });
  });
}
