// FeaturePyramidNetwork and LastLevelMaxPool (src/detection/fpn.ts) against torchvision 0.14's
// ops.FeaturePyramidNetwork (scripts/fixtures-torchvision-backbones.py ->
// test/fixtures/detection/fpn.json), on every backend under test (WebGPU included: the case is
// small): three levels of odd sizes (13×11, 7×6, 4×3, so the top-down nearest upsampling has
// non-integer ratios), with and without the 'pool' level; names equal to torchvision's
// state_dict (`inner_blocks.0.0.weight`), outputs, input gradients and every parameter gradient.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import { Rng } from '../../src/engine/random.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { FeaturePyramidNetwork, LastLevelMaxPool } from '../../src/detection/fpn.js';
import { assertClose } from '../helpers/assert.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { decode, type FixtureArray } from '../helpers/fixtures.js';
import { expectMemoryFlat } from '../helpers/memory.js';

interface FpnCase {
  extra_blocks: 'maxpool' | null;
  in_channels: number[];
  out_channels: number;
  names: [string, number[]][];
  weights: Record<string, FixtureArray>;
  inputs: Record<string, FixtureArray>;
  outputs: Record<string, FixtureArray>;
  dy: Record<string, FixtureArray>;
  dx: Record<string, FixtureArray>;
  dw: Record<string, FixtureArray>;
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/detection/fpn.json', import.meta.url), 'utf8')) as { cases: FpnCase[] };

const up = (a: FixtureArray, backend: Backend): Tensor => k.tensor(decode(a) as Float32Array, a.shape, { backend });
const upAll = (r: Record<string, FixtureArray>, backend: Backend) => new Map(Object.entries(r).map(([n, a]) => [n, up(a, backend)]));

function buildFpn(c: FpnCase, backend: Backend): FeaturePyramidNetwork {
  const fpn = new FeaturePyramidNetwork(c.in_channels, c.out_channels, new Rng(3), {
    extraBlocks: c.extra_blocks === 'maxpool' ? new LastLevelMaxPool() : null,
    backend,
  });
  fpn.loadStateDict(upAll(c.weights, backend));
  return fpn;
}

describeEachBackend(await loadBackendsUnderTest(), (backend, name) => {
  // Fixtures are float64 answers; float32 backends round each conv's sums.
  const rtol = name === 'reference' ? 1e-6 : 1e-5;

  for (const c of fixture.cases) {
    const what = `FPN [${c.in_channels}] → ${c.out_channels}, extra ${c.extra_blocks}`;

    it(`${what}: names and shapes are torchvision's; outputs, input and parameter gradients match`, async () => {
      k.setBackend(backend);
      const before = k.memoryStats(backend);
      const fpn = buildFpn(c, backend);
      expect(fpn.namedParameters().map(([n, p]) => [n, [...p.shape]])).toEqual(c.names);
      const xs = upAll(c.inputs, backend);
      const dys = upAll(c.dy, backend);
      const params = fpn.namedParameters();
      let out: Map<string, Tensor> | null = null;
      const { value, grads } = k.valueAndGrads(() => {
        const o = fpn.forward(xs);
        for (const t of o.values()) k.keep(t);
        out = o;
        return k.scope(() => [...out!.entries()].map(([n, t]) => k.sum(k.mul(t, dys.get(n)!))).reduce((a, b) => k.add(a, b)));
      }, [...xs.values(), ...params.map(([, p]) => p.value)]);
      expect([...out!.keys()]).toEqual(Object.keys(c.outputs));
      for (const [n, t] of out!) assertClose(Array.from(await t.data()), decode(c.outputs[n]!), { rtol, what: `${what} level ${n}`, shape: t.shape });
      const nx = xs.size;
      let i = 0;
      for (const n of xs.keys()) assertClose(Array.from(await grads[i++]!.data()), decode(c.dx[n]!), { rtol, what: `${what} d/d${n}` });
      for (let j = 0; j < params.length; j++) {
        const [pn] = params[j]!;
        assertClose(Array.from(await grads[nx + j]!.data()), decode(c.dw[pn]!), { rtol, what: `${what} d/d${pn}` });
      }
      k.dispose([value, ...grads, [...out!.values()], [...xs.values()], [...dys.values()]]);
      fpn.dispose();
      await backend.sync();
      expect(k.memoryStats(backend)).toEqual(before);
    });
  }

  it('LastLevelMaxPool: every other pixel of the last level, named pool', async () => {
    k.setBackend(backend);
    const x = k.tensor(Float32Array.from({ length: 2 * 3 * 5 * 4 }, (_, i) => i), [2, 3, 5, 4], { backend });
    const { results, names } = new LastLevelMaxPool().apply([x], [x], ['0']);
    expect(names).toEqual(['0', 'pool']);
    expect(results[1]!.shape).toEqual([2, 3, 3, 2]);
    const y = Array.from(await results[1]!.data());
    expect(y.slice(0, 6)).toEqual([0, 2, 8, 10, 16, 18]);
    k.dispose([x, results[1]!]);
  });

  it('rejects a feature map of the wrong width or count', () => {
    k.setBackend(backend);
    const fpn = new FeaturePyramidNetwork([4, 8], 6, new Rng(0), { backend });
    const a = k.zeros([1, 4, 6, 6], { backend });
    const b = k.zeros([1, 7, 3, 3], { backend });
    expect(() => fpn.forward(new Map([['0', a], ['1', b]]))).toThrow(/'1' should be \[N, 8, H, W\]/);
    expect(() => fpn.forward(new Map([['0', a]]))).toThrow(/expected 2 feature maps/);
    k.dispose([a, b]);
    fpn.dispose();
  });

  it('no leak over repeated forward/backward', async () => {
    k.setBackend(backend);
    const c = fixture.cases[0]!;
    const fpn = buildFpn(c, backend);
    const xs = upAll(c.inputs, backend);
    await expectMemoryFlat(backend, () => {
      const { value, grads } = k.valueAndGrads(() => {
        const out = fpn.forward(xs);
        return k.scope(() => [...out.values()].map((t) => k.sum(k.square(t))).reduce((a, b) => k.add(a, b)));
      }, fpn.parameters().map((p) => p.value));
      k.dispose([value, ...grads]);
      k.dispose(k.noGrad(() => fpn.forward(xs)));
    }, 3);
    k.dispose([...xs.values()]);
    fpn.dispose();
  });
});
