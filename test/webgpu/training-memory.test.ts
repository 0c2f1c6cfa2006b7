/**
 * Issue 4's leak target: GPU bytes in use stay flat over 200 training steps of a small conv net.
 * Flat means: after the first steps (which fill the buffer pool and compile pipelines) every step
 * ends with the same live tensors, the same live GPU bytes and buffers, and no newly created
 * GPUBuffer — the pool serves every allocation.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { crossEntropy, memoryStats, setBackend, tensor, valueAndGrads } from '../../src/engine/index.js';
import { Rng } from '../../src/engine/random.js';
import { SGD } from '../../src/nn/index.js';
import { SmallNet } from '../helpers/small-net.js';
import { openBackend, title } from './helpers.js';

const o = await openBackend();

describe.skipIf(!o.backend)(title('webgpu training memory', o), () => {
  const b = o.backend!;
  afterAll(() => b.dispose());

  it('live tensors, GPU bytes and buffers are flat over 200 SGD steps, and no buffer is created after warm-up', async () => {
    setBackend(b);
    const before = memoryStats(b);
    const model = new SmallNet(new Rng(3), 8);
    const opt = new SGD(model.parameters(), 0.05, { momentum: 0.9 });
    const rng = new Rng(4);
    const WARMUP = 5;
    let atWarmup: { tensors: number; bytes: number; buffers: number } | null = null;
    let createdAtWarmup = 0;
    const losses: number[] = [];
    for (let step = 0; step < 200; step++) {
      const x = tensor(Float32Array.from({ length: 4 * 3 * 8 * 8 }, () => rng.uniform()), [4, 3, 8, 8]);
      const y = tensor(Int32Array.from({ length: 4 }, () => rng.int(3)), [4], { dtype: 'int32' });
      const { value, grads } = valueAndGrads(() => crossEntropy(model.forward(x), y), model.parameters().map((p) => p.value));
      opt.apply(grads);
      losses.push(await value.itemAsync());
      [x, y, value, ...grads].forEach((t) => t.dispose());
      if (step === WARMUP) {
        atWarmup = memoryStats(b);
        createdAtWarmup = b.ctx.stats().created;
      } else if (step > WARMUP) {
        expect(memoryStats(b), `step ${step}`).toEqual(atWarmup);
      }
    }
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(b.ctx.stats().created, 'GPUBuffers created after warm-up').toBe(createdAtWarmup);
    opt.dispose();
    model.dispose();
    expect(memoryStats(b)).toEqual(before);
  }, 300_000);
});
