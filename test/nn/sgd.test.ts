// SGD's fused update (engine/ops/optim.ts, one kernel per backend) against PyTorch's
// torch.optim.SGD trajectories (scripts/fixtures-optim.py), against the unfused elementwise
// formula bit for bit, its errors, and its memory.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import { add, memoryStats, mul, noGrad, scope, setBackend, sgdUpdate, sub, tensor, type Tensor } from '../../src/engine/index.js';
import { Adam, Parameter, SGD } from '../../src/nn/index.js';
import pipelines from '../../demo/pipelines.json';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { Rng, uniform } from '../helpers/random.js';

interface SgdCase {
  name: string;
  opts: { lr: number; momentum?: number; weight_decay?: number; nesterov?: boolean };
  p0: number[];
  grads: number[][];
  after: number[][];
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/nn/sgd.json', import.meta.url), 'utf8')) as { cases: SgdCase[] };

const rng = new Rng('sgd');
const rand = (n: number, scale = 1): Float32Array => Float32Array.from(uniform(rng, n, -scale, scale));

const read = async (t: Tensor): Promise<Float32Array> => (await t.data()) as Float32Array;

describeEachBackend(await loadBackendsUnderTest(), (backend: Backend, name: string) => {
  // The reference computes in float64, torch in float32: four steps drift by a few ulps.
  const tol = name === 'reference' ? 2e-6 : 1e-6;

  for (const c of fixture.cases) {
    it(`torch.optim.SGD ${c.name} ${JSON.stringify(c.opts)}: 4 steps`, async () => {
      setBackend(backend);
      const before = memoryStats(backend);
      const p = new Parameter(tensor(Float32Array.from(c.p0), [c.p0.length]));
      const opt = new SGD([p], c.opts.lr, { momentum: c.opts.momentum ?? 0, weightDecay: c.opts.weight_decay ?? 0, nesterov: c.opts.nesterov ?? false });
      for (let s = 0; s < c.grads.length; s++) {
        const g = tensor(Float32Array.from(c.grads[s]!), [c.p0.length]);
        opt.apply([g]);
        g.dispose();
        const got = await read(p.value);
        expect(got.some(Number.isNaN)).toBe(false);
        let worst = 0;
        got.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - c.after[s]![i]!) / (1 + Math.abs(c.after[s]![i]!)))));
        expect(worst, `step ${s + 1}`).toBeLessThan(tol);
      }
      opt.dispose();
      p.value.dispose();
      expect(memoryStats(backend)).toEqual(before);
    });
  }

  it('equals the unfused elementwise update (clipping scale, wd, momentum, Nesterov), over the SIMD tail and the thread split', async () => {
    setBackend(backend);
    for (const n of [5, 1003, 200_003]) {
      const [p, g, m] = [tensor(rand(n), [n]), tensor(rand(n, 4), [n]), tensor(rand(n), [n])];
      const coef = tensor([0.37], []);
      for (const o of [
        { lr: 0.1, momentum: 0, weightDecay: 0, nesterov: false },
        { lr: 0.02, momentum: 0.9, weightDecay: 1e-4, nesterov: false },
        { lr: 0.03, momentum: 0.8, weightDecay: 0.01, nesterov: true },
      ]) {
        for (const [buf, scale] of (o.momentum ? [null, m] : [null]).flatMap((b) => [[b, null], [b, coef]] as const)) {
          const fused = noGrad(() => sgdUpdate(p, g, buf, o, scale));
          const want = scope(() => noGrad(() => {
            const gs = scale ? mul(g, scale) : g;
            let d = o.weightDecay ? add(gs, mul(p, o.weightDecay)) : gs;
            let nb: Tensor | null = null;
            if (o.momentum) {
              nb = buf ? add(mul(buf, o.momentum), d) : mul(d, 1);
              d = o.nesterov ? add(d, mul(nb, o.momentum)) : nb;
            }
            return [sub(p, mul(d, o.lr)), nb];
          }));
          const [gotP, wantP] = [await read(fused.param), await read(want[0]!)];
          if (backend.name === 'webgpu') {
            // A GPU compiler may contract a·b + c into one fused multiply-add.
            gotP.forEach((v, i) => expect(Math.abs(v - wantP[i]!)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(wantP[i]!))));
          } else {
            expect(new Uint32Array(gotP.buffer)).toEqual(new Uint32Array(wantP.buffer));
            if (want[1]) expect(new Uint32Array((await read(fused.momentum!)).buffer)).toEqual(new Uint32Array((await read(want[1])).buffer));
          }
          expect(fused.momentum === null).toBe(o.momentum === 0);
          [fused.param, fused.momentum, ...want].forEach((t) => t?.dispose());
        }
      }
      [p, g, m, coef].forEach((t) => t.dispose());
    }
  });

  it('the trainer’s update (momentum, weight decay, clipping scale) builds the pipelines demo/pipelines.json lists', () => {
    if (name !== 'webgpu') return;
    setBackend(backend);
    const p = new Parameter(tensor(rand(40), [40]));
    const opt = new SGD([p], 0.02, { momentum: 0.9, weightDecay: 1e-4 });
    const [g, coef] = [tensor(rand(40), [40]), tensor([0.5], [])];
    opt.apply([g], { gradScale: coef });
    opt.apply([g], { gradScale: coef });
    [g, coef, p.value].forEach((t) => t.dispose());
    opt.dispose();
    const keys = (backend as unknown as { pipelineKeys(): string[] }).pipelineKeys();
    const listed = pipelines.gpu.filter((k) => k.startsWith('optim.'));
    expect(listed.length).toBeGreaterThan(0);
    expect(keys).toEqual(expect.arrayContaining(listed));
  });

  it('Adam applies the clipping scale as a multiplication of the gradient', async () => {
    setBackend(backend);
    const g = tensor(rand(33), [33]);
    const coef = tensor([0.25], []);
    const run = async (scaled: boolean): Promise<Float32Array> => {
      const p = new Parameter(tensor(Float32Array.from({ length: 33 }, (_, i) => Math.sin(i + 1)), [33]));
      const opt = new Adam([p], 0.01, { weightDecay: 0.01 });
      const gs = scaled ? g : mul(g, coef);
      opt.apply([gs], scaled ? { gradScale: coef } : {});
      if (!scaled) gs.dispose();
      const out = await read(p.value);
      opt.dispose();
      p.value.dispose();
      return out;
    };
    expect(Array.from(await run(true))).toEqual(Array.from(await run(false)));
    [g, coef].forEach((t) => t.dispose());
  });

  it('a parameter’s lrScale multiplies the learning rate of SGD and Adam for it alone', async () => {
    setBackend(backend);
    const before = memoryStats(backend);
    const g = tensor(rand(17), [17]);
    const p0 = rand(17);
    const run = async (make: (ps: Parameter[], lr: number) => SGD | Adam, lr: number, scale: number): Promise<Float32Array[]> => {
      const [a, b] = [new Parameter(tensor(p0, [17])), new Parameter(tensor(p0, [17]))];
      a.lrScale = scale;
      const opt = make([a, b], lr);
      for (let s = 0; s < 3; s++) opt.apply([g, g]);
      const out = [await read(a.value), await read(b.value)];
      opt.dispose();
      [a, b].forEach((q) => q.dispose());
      return out;
    };
    for (const make of [
      (ps: Parameter[], lr: number) => new SGD(ps, lr, { momentum: 0.9, weightDecay: 1e-4 }),
      (ps: Parameter[], lr: number) => new Adam(ps, lr, { weightDecay: 1e-4 }),
    ]) {
      const [scaledA, scaledB] = await run(make, 0.1, 0.25);
      const [slowA] = await run(make, 0.025, 1);
      const [, fullB] = await run(make, 0.1, 1);
      expect(scaledA.some(Number.isNaN)).toBe(false);
      // The scaled parameter moves as at lr·0.25; its neighbour keeps the full rate.
      expect(Array.from(scaledA)).toEqual(Array.from(slowA!));
      expect(Array.from(scaledB!)).toEqual(Array.from(fullB!));
      expect(Array.from(scaledA)).not.toEqual(Array.from(scaledB!));
    }
    g.dispose();
    expect(memoryStats(backend)).toEqual(before);
  });

  it('names the op and the argument on bad input', () => {
    setBackend(backend);
    const before = memoryStats(backend);
    const p = tensor(rand(6), [2, 3]);
    const g = tensor(rand(6), [3, 2]);
    const ok = { lr: 0.1, momentum: 0.9, weightDecay: 0, nesterov: false };
    expect(() => sgdUpdate(p, g, null, ok)).toThrow(/kdet\.sgdUpdate: grad has shape \[3, 2\] for param \[2, 3\]/);
    expect(() => sgdUpdate(p, p, g, ok)).toThrow(/kdet\.sgdUpdate: momentumBuf has shape \[3, 2\] for param \[2, 3\]/);
    expect(() => sgdUpdate(p, p, null, { ...ok, lr: -1 })).toThrow(/kdet\.sgdUpdate: lr must be a finite number ≥ 0, got -1/);
    expect(() => sgdUpdate(p, p, null, { ...ok, momentum: Number.NaN })).toThrow(/momentum must be a finite number/);
    expect(() => sgdUpdate(p, p, null, { ...ok, momentum: 0, nesterov: true })).toThrow(/nesterov needs momentum > 0/);
    expect(() => sgdUpdate(p, p, p, { ...ok, momentum: 0 })).toThrow(/a momentum buffer was given with momentum 0/);
    expect(() => sgdUpdate(p, p, null, ok, g)).toThrow(/kdet\.sgdUpdate: gradScale must hold one value, got shape \[3, 2\]/);
    [p, g].forEach((t) => t.dispose());
    expect(memoryStats(backend)).toEqual(before);
  });
});
