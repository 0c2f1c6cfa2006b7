import { expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import { crossEntropy, memoryStats, setBackend, tensor, valueAndGrads } from '../../src/engine/index.js';
import { Rng } from '../../src/engine/random.js';
import { SGD } from '../../src/nn/index.js';
import { SmallNet } from '../helpers/small-net.js';
import { loadBackendsUnderTest } from '../helpers/backends.js';

const loaded = (await loadBackendsUnderTest()).filter((b) => b.backend);

/** A learnable toy task: the class is which colour channel is brightest. */
function batch(rng: Rng, n: number): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(n * 3 * 16 * 16);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = rng.int(3);
    for (let c = 0; c < 3; c++) for (let p = 0; p < 256; p++) x[(i * 3 + c) * 256 + p] = rng.uniform() * 0.5 + (c === y[i] ? 0.4 : 0);
  }
  return { x, y };
}

async function trainOn(backend: Backend): Promise<number[]> {
  setBackend(backend);
  const before = memoryStats(backend);
  const model = new SmallNet(new Rng(1));
  const opt = new SGD(model.parameters(), 0.05, { momentum: 0.9 });
  const rng = new Rng(2);
  const losses: number[] = [];
  for (let step = 0; step < 30; step++) {
    const b = batch(rng, 8);
    const x = tensor(b.x, [8, 3, 16, 16]);
    const y = tensor(b.y, [8], { dtype: 'int32' });
    const { value, grads } = valueAndGrads(() => crossEntropy(model.forward(x), y), model.parameters().map((p) => p.value));
    opt.apply(grads);
    losses.push(await value.itemAsync());
    [x, y, value, ...grads].forEach((t) => t.dispose());
  }
  opt.dispose();
  model.dispose();
  expect(memoryStats(backend)).toEqual(before);
  return losses;
}

it('a small conv net trains on every backend, and all backends follow the same trajectory', async () => {
  const runs = new Map<string, number[]>();
  for (const b of loaded) runs.set(b.name, await trainOn(b.backend!));
  for (const [name, losses] of runs) {
    expect(losses.every(Number.isFinite), name).toBe(true);
    const first = (losses[0]! + losses[1]! + losses[2]!) / 3;
    const last = (losses[27]! + losses[28]! + losses[29]!) / 3;
    expect(last, `${name}: loss should fall`).toBeLessThan(first * 0.5);
  }
  // Same seed, same data: float32 backends agree with each other (and with the float64
  // reference) to 1e-3 after 30 steps of SGD with momentum.
  const base = runs.get('wasm') ?? runs.get('reference')!;
  for (const [name, losses] of runs) {
    losses.forEach((l, i) => expect(Math.abs(l - base[i]!), `${name} step ${i}: ${l} vs ${base[i]}`).toBeLessThanOrEqual(1e-3 * Math.max(1, Math.abs(base[i]!))));
  }
});
