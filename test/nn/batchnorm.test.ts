// BatchNorm2d and FrozenBatchNorm2d (src/nn/batchnorm.ts) against PyTorch 1.13 / torchvision 0.14
// (scripts/fixtures-batchnorm.py -> test/fixtures/nn/batchnorm.json) on every backend under test,
// finite differences of the training-mode gradient on the reference backend, buffers (not trainable,
// saved in checkpoints), memory and NaN propagation.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { BatchNorm2d, batchNorm2dInference, batchNorm2dTrain, FrozenBatchNorm2d, loadCheckpoint, saveCheckpoint, SGD } from '../../src/nn/index.js';
import { assertClose } from '../helpers/assert.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { decode, type FixtureArray } from '../helpers/fixtures.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { randn, Rng } from '../helpers/random.js';

interface BnCase {
  name: string;
  affine: boolean;
  momentum: number | null;
  training: boolean;
  eps: number;
  x: FixtureArray;
  x2?: FixtureArray;
  dy: FixtureArray;
  state: Record<'weight' | 'bias' | 'running_mean' | 'running_var', FixtureArray>;
  expected: Record<string, FixtureArray>;
  num_batches_tracked: number;
}
interface FrozenCase {
  eps: number;
  x: FixtureArray;
  state: Record<'weight' | 'bias' | 'running_mean' | 'running_var', FixtureArray>;
  y: FixtureArray;
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/nn/batchnorm.json', import.meta.url), 'utf8')) as {
  batchnorm: BnCase[];
  frozen: FrozenCase[];
};

const SHAPE = [2, 3, 5, 4];
const C = 3;
const numel = SHAPE.reduce((p, d) => p * d, 1);

const up = (a: FixtureArray, backend: Backend): Tensor => k.tensor(decode(a) as Float32Array, a.shape, { backend });
const values = async (t: Tensor): Promise<Float64Array> => Float64Array.from(await t.data());
const stateOf = (c: { state: BnCase['state'] }, backend: Backend, withAffine: boolean, nbt: number | null): Map<string, Tensor> => {
  const m = new Map<string, Tensor>();
  if (withAffine) {
    m.set('weight', up(c.state.weight, backend));
    m.set('bias', up(c.state.bias, backend));
  }
  m.set('running_mean', up(c.state.running_mean, backend));
  m.set('running_var', up(c.state.running_var, backend));
  if (nbt !== null) m.set('num_batches_tracked', k.tensor([nbt], [], { backend }));
  return m;
};

/** Plain-loop float64 training-mode batch norm: independent of the implementation. */
function handBatchNorm(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, eps: number): { y: Float64Array; mean: number[]; varU: number[] } {
  const [n, c, h, wd] = SHAPE as [number, number, number, number];
  const y = new Float64Array(numel);
  const mean: number[] = [];
  const varU: number[] = [];
  const cnt = n * h * wd;
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < h * wd; j++) s += x[(i * c + ch) * h * wd + j]!;
    const mu = s / cnt;
    let q = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < h * wd; j++) q += (x[(i * c + ch) * h * wd + j]! - mu) ** 2;
    const v = q / cnt;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < h * wd; j++) {
        const at = (i * c + ch) * h * wd + j;
        y[at] = ((x[at]! - mu) / Math.sqrt(v + eps)) * w[ch]! + b[ch]!;
      }
    }
    mean.push(mu);
    varU.push(q / (cnt - 1));
  }
  return { y, mean, varU };
}

describeEachBackend(await loadBackendsUnderTest(), (backend: Backend, name: string) => {
  // The reference computes in float64 and the fixtures are float64 answers rounded to float32;
  // float32 backends accumulate the per-channel sums (40 values) in float32.
  const rtol = name === 'reference' ? 1e-6 : 1e-5;
  const stats = () => k.memoryStats(backend);

  for (const c of fixture.batchnorm) {
    it(`torch.nn.BatchNorm2d ${c.name} (affine ${c.affine}, momentum ${c.momentum}, ${c.training ? 'train' : 'eval'}): y, gradients, running stats`, async () => {
      k.setBackend(backend);
      const before = stats();
      const bn = new BatchNorm2d(C, { eps: c.eps, momentum: c.momentum, affine: c.affine, backend });
      bn.loadStateDict(stateOf(c, backend, c.affine, 0));
      bn.train(c.training);
      const x = up(c.x, backend);
      const dy = up(c.dy, backend);
      const wrt = [x, ...bn.trainableParameters().map((p) => p.value)];
      let y: Tensor | null = null;
      const { value, grads } = k.valueAndGrads(() => {
        y = k.keep(bn.forward(x));
        return k.sum(k.mul(y, dy));
      }, wrt);
      const e = c.expected;
      const check = async (t: Tensor, key: string) => assertClose(await values(t), decode(e[key]!), { rtol, what: `${c.name} ${key}` });
      await check(y!, 'y');
      await check(grads[0]!, 'dx');
      if (c.affine) {
        await check(grads[1]!, 'dweight');
        await check(grads[2]!, 'dbias');
      }
      await check(bn.runningMean!.value, 'running_mean');
      await check(bn.runningVar!.value, 'running_var');
      expect(Array.from(await bn.numBatchesTracked!.value.data())).toEqual([c.num_batches_tracked]);
      k.dispose([y!, value, ...grads, x, dy]);
      if (c.x2) {
        // A second step (no gradient): the running-stat recursion from the updated state.
        const x2 = up(c.x2, backend);
        const y2 = k.noGrad(() => bn.forward(x2));
        await check(y2, 'y2');
        await check(bn.runningMean!.value, 'running_mean2');
        await check(bn.runningVar!.value, 'running_var2');
        expect(Array.from(await bn.numBatchesTracked!.value.data())).toEqual([2]);
        k.dispose([x2, y2]);
      }
      bn.dispose();
      await backend.sync();
      expect(stats()).toEqual(before);
    });
  }

  for (const c of fixture.frozen) {
    it(`torchvision FrozenBatchNorm2d eps ${c.eps}: forward, same in train and eval mode`, async () => {
      k.setBackend(backend);
      const before = stats();
      const fbn = new FrozenBatchNorm2d(C, c.eps, { backend });
      fbn.loadStateDict(stateOf(c, backend, true, null));
      expect(fbn.namedParameters().map(([n]) => n)).toEqual(['weight', 'bias', 'running_mean', 'running_var']);
      expect(fbn.trainableParameters()).toEqual([]);
      const x = up(c.x, backend);
      for (const mode of [true, false]) {
        fbn.train(mode);
        const y = fbn.forward(x);
        assertClose(await values(y), decode(c.y), { rtol, what: `frozen eps ${c.eps}` });
        y.dispose();
      }
      x.dispose();
      fbn.dispose();
      expect(stats()).toEqual(before);
    });
  }

  it('matches a plain-loop float64 computation (train-mode output and running stats, default options)', async () => {
    k.setBackend(backend);
    const rng = new Rng('bn hand');
    const xs = Float32Array.from(randn(rng, numel, 1.7)).map((v) => v + 0.4);
    const bn = new BatchNorm2d(C, { backend });
    const x = k.tensor(xs, SHAPE, { backend });
    const y = bn.forward(x);
    const want = handBatchNorm(xs, [1, 1, 1], [0, 0, 0], 1e-5);
    assertClose(await values(y), want.y, { rtol });
    assertClose(await values(bn.runningMean!.value), want.mean.map((m) => 0.1 * m), { rtol });
    assertClose(await values(bn.runningVar!.value), want.varU.map((v) => 0.9 + 0.1 * v), { rtol });
    k.dispose([x, y]);
    bn.dispose();
  });

  it('running stats are buffers: not trainable (even after setTrainable(true)), not given to the optimiser, saved and loaded by checkpoints', async () => {
    k.setBackend(backend);
    const bn = new BatchNorm2d(C, { backend });
    expect(bn.namedParameters().map(([n]) => n)).toEqual(['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);
    expect(bn.trainableParameters()).toEqual([bn.weight, bn.bias]);
    bn.setTrainable(false);
    expect(bn.trainableParameters()).toEqual([]);
    bn.setTrainable(true);
    expect(bn.trainableParameters()).toEqual([bn.weight, bn.bias]);

    // One training step with SGD: the optimiser moves weight/bias, the forward moves the stats.
    const xs = Float32Array.from(randn(new Rng('bn ckpt'), numel, 2));
    const x = k.tensor(xs, SHAPE, { backend });
    const opt = new SGD(bn.trainableParameters(), 0.1);
    const dy = k.tensor(Float32Array.from(randn(new Rng('bn ckpt dy'), numel)), SHAPE, { backend });
    const { value, grads } = k.valueAndGrads(() => k.sum(k.mul(bn.forward(x), dy)), opt.params.map((p) => p.value));
    opt.apply(grads);
    k.dispose([value, ...grads]);
    const saved = await saveCheckpoint(bn, { step: 1 });
    const stored = new Map<string, Float64Array>();
    for (const [n, p] of bn.namedParameters()) stored.set(n, await values(p.value));
    expect(stored.get('num_batches_tracked')).toEqual(Float64Array.from([1]));
    expect(Array.from(stored.get('running_mean')!).some((v) => v !== 0)).toBe(true);

    const fresh = new BatchNorm2d(C, { backend });
    loadCheckpoint(saved, fresh);
    for (const [n, p] of fresh.namedParameters()) expect(await values(p.value), n).toEqual(stored.get(n));
    // Eval mode after loading uses the loaded running stats: the original's output (to float32
    // rounding: the reference backend holds float64 values, checkpoints store float32).
    bn.eval();
    fresh.eval();
    const [a, b] = [bn.forward(x), fresh.forward(x)];
    assertClose(await values(b), await values(a), { rtol: 1e-6, what: 'eval output after loadCheckpoint' });
    k.dispose([a, b, x, dy]);
    opt.dispose();
    bn.dispose();
    fresh.dispose();
  });

  it('no leak: tensors and backend bytes flat over repeated train-mode forward/backward and eval forwards', async () => {
    k.setBackend(backend);
    const bn = new BatchNorm2d(C, { backend });
    const fbn = new FrozenBatchNorm2d(C, 1e-5, { backend });
    const x = k.tensor(Float32Array.from(randn(new Rng('bn mem'), numel)), SHAPE, { backend });
    const step = () => {
      bn.train();
      const { value, grads } = k.valueAndGrads(() => k.sum(k.square(bn.forward(fbn.forward(x)))), [x, ...bn.trainableParameters().map((p) => p.value)]);
      k.dispose([value, ...grads]);
      bn.eval();
      k.dispose(bn.forward(x));
      // A forward outside any tape and outside any scope.
      bn.train();
      k.dispose(bn.forward(x));
    };
    step();
    await backend.sync();
    const before = stats();
    for (let i = 0; i < 5; i++) step();
    await backend.sync();
    expect(stats()).toEqual(before);
    x.dispose();
    bn.dispose();
    fbn.dispose();
  });

  it('NaN is never hidden: a NaN input spreads over its channel in train mode (and into the running stats), stays at its element in eval mode; finite input gives finite output', async () => {
    k.setBackend(backend);
    const xs = Float32Array.from(randn(new Rng('bn nan'), numel, 3));
    const xFinite = k.tensor(xs, SHAPE, { backend });
    const bn = new BatchNorm2d(C, { backend });
    const fbn = new FrozenBatchNorm2d(C, 1e-5, { backend });
    for (const y of [bn.forward(xFinite), fbn.forward(xFinite), (bn.eval(), bn.forward(xFinite))]) {
      expect(Array.from(await y.data()).every(Number.isFinite)).toBe(true);
      y.dispose();
    }
    bn.train();
    const bad = xs.slice();
    bad[1 * 20 + 7] = NaN; // image 0, channel 1
    const x = k.tensor(bad, SHAPE, { backend });
    const yt = bn.forward(x);
    const yv = await values(yt);
    for (let i = 0; i < numel; i++) {
      const ch = Math.floor(i / 20) % C;
      expect(Number.isNaN(yv[i]!), `element ${i}`).toBe(ch === 1);
    }
    const rm = await values(bn.runningMean!.value);
    expect([0, 1, 2].map((ch) => Number.isNaN(rm[ch]!))).toEqual([false, true, false]);
    bn.eval();
    const fresh = new BatchNorm2d(C, { backend });
    fresh.eval();
    for (const m of [fresh, fbn]) {
      const yt2 = m.forward(x);
      const ye = await values(yt2);
      yt2.dispose();
      for (let i = 0; i < numel; i++) expect(Number.isNaN(ye[i]!), `element ${i}`).toBe(i === 27);
    }
    k.dispose([xFinite, x, yt]);
    bn.dispose();
    fbn.dispose();
    fresh.dispose();
  });
});

// Finite differences on the reference backend, in float64: the training-mode gradient (the batch
// statistics' part) with respect to input, weight and bias, and the eval-mode one.
const rng = new Rng('bn gradcheck');
const gx = { data: randn(rng, numel, 1.5).map((v) => v + 0.3), shape: SHAPE };
const gw = { data: Float64Array.from([0.7, 1.3, -0.9]), shape: [C] };
const gb = { data: Float64Array.from([0.2, -0.5, 0.1]), shape: [C] };
const gm = { data: Float64Array.from([0.1, -0.3, 0.4]), shape: [C], grad: false };
const gv = { data: Float64Array.from([0.8, 1.6, 0.5]), shape: [C], grad: false };

it('gradcheck: training-mode batch norm, d/dx, d/dweight, d/dbias (reference backend, float64)', () => {
  gradcheck('batchNorm2dTrain', (x, w, b) => batchNorm2dTrain(x!, w!, b!, 1e-5).y, [gx, gw, gb], { rtol: 1e-6 });
});

it('gradcheck: training-mode batch norm without affine, d/dx', () => {
  gradcheck('batchNorm2dTrain no affine', (x) => batchNorm2dTrain(x!, null, null, 1e-3).y, [gx], { rtol: 1e-6 });
});

it('gradcheck: the BatchNorm2d module in training mode (gradient through the module, running-stat update off the tape)', () => {
  gradcheck(
    'BatchNorm2d.forward',
    (x) => {
      const bn = new BatchNorm2d(C, { backend: x!.backend });
      try {
        return bn.forward(x!);
      } finally {
        bn.dispose();
      }
    },
    [gx],
    { rtol: 1e-6 },
  );
});

it('gradcheck: eval-mode / frozen batch norm, d/dx, d/dweight, d/dbias', () => {
  gradcheck('batchNorm2dInference', (x, m, v, w, b) => batchNorm2dInference(x!, m!, v!, w!, b!, 1e-5), [gx, gm, gv, gw, gb], { rtol: 1e-6 });
});
