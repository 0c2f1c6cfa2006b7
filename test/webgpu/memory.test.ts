import { afterAll, describe, expect, it } from 'vitest';
import * as kd from '../../src/engine/index.js';
import { createBestBackend, createWebGPUBackend } from '../../src/backends/webgpu/index.js';
import type { Backend } from '../../src/engine/backend.js';
import { downF, expectClose, expectEqual, openBackend, randf, rng, title, up } from './helpers.js';

const o = await openBackend({ flushEvery: 8 });
const b = o.backend!;

/** A forward / backward-like sequence of kernels that frees its intermediates. */
async function step(x: ReturnType<typeof b.upload>, w: ReturnType<typeof b.upload>): Promise<void> {
  const p = { n: 1, cIn: 2, h: 6, w: 6, cOut: 3, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, groups: 1, outH: 6, outW: 6 };
  const y = b.conv2d(x, w, null, p);
  const a = b.unary('relu', y, 108);
  const s = b.reduce('sum', a, 1, 108, 1);
  const g = b.conv2dGradFilter(x, a, p);
  const t = b.transpose(g, [3, 18], [1, 0], 'float32');
  const m = b.matmul(t, g, { batchA: 1, batchB: 1, m: 18, k: 3, n: 18, transA: false, transB: false });
  for (const buf of [y, a, g, t, m]) b.free(buf);
  await b.read(s, 'float32', 1);
  b.free(s);
}

describe.skipIf(!o.backend)(title('webgpu memory, batching and errors', o), () => {
  afterAll(() => b.dispose());
  const r = rng(8);

  it('bytes stay flat over many alloc / upload / free cycles, and the pool is reused', async () => {
    const before = b.memory();
    const cycle = async () => {
      for (let i = 0; i < 150; i++) {
        const size = 1 + ((i * 37) % 2000);
        const u = b.upload(randf(r, size));
        const a = b.alloc('float32', size);
        const f = b.fill('int32', size, i);
        b.free(a);
        b.free(u);
        b.free(f);
        if (i % 50 === 49) await b.sync();
      }
    };
    await cycle();
    const created = b.ctx.stats().created;
    await cycle();
    await cycle();
    expect(b.memory()).toEqual(before);
    expect(b.ctx.stats().created).toBe(created);
  });

  it('repeated kernel sequences leave no live buffers and create none after warm-up', async () => {
    const x = up(b, randf(r, 72));
    const w = up(b, randf(r, 54));
    const base = b.memory();
    await step(x, w);
    await step(x, w);
    const created = b.ctx.stats().created;
    for (let i = 0; i < 20; i++) await step(x, w);
    expect(b.memory()).toEqual(base);
    expect(b.ctx.stats().created).toBe(created);
    b.free(x);
    b.free(w);
  });

  it('scatterAdd and nms free their scratch buffers', async () => {
    const base = b.memory();
    const src = up(b, randf(r, 40));
    const idx = up(b, new Int32Array(40).map((_, i) => i % 7));
    for (let i = 0; i < 3; i++) b.free(b.scatterAdd(src, [40], idx, 0, 7));
    const boxes = up(b, Float32Array.from({ length: 40 }, (_, i) => (i % 4 < 2 ? i : i + 10)));
    await b.nms(boxes, src, 10, 0.5);
    for (const buf of [src, idx, boxes]) b.free(buf);
    expect(b.memory()).toEqual(base);
  });

  it('memory() counts live tensor bytes, not the pool', async () => {
    const base = b.memory();
    const x = b.alloc('float32', 1000);
    expect(b.memory()).toEqual({ bytes: base.bytes + 4000, buffers: base.buffers + 1 });
    b.free(x);
    expect(b.memory()).toEqual(base);
  });

  it('chains longer than a batch give the same result (batched submits)', async () => {
    let x = up(b, new Float32Array([1, 2, 3, 4]));
    for (let i = 0; i < 50; i++) {
      const y = b.binary('add', x, [4], x, [4], [4]);
      const z = b.binary('mul', y, [4], y, [4], [4]); // (2x)² then scaled back
      const s = b.unary('sqrt', z, 4);
      const h = b.binary('mul', s, [4], up(b, new Float32Array([0.5])), [], [4]);
      for (const t of [x, y, z, s]) b.free(t);
      x = h;
    }
    expectClose(await downF(b, x, 4), [1, 2, 3, 4], { rtol: 1e-6 });
  });

  it('empty tensors', async () => {
    const e = b.alloc('float32', 0);
    expect((await b.read(e, 'float32', 0)).length).toBe(0);
    const s = b.binary('add', e, [0, 3], up(b, new Float32Array(3)), [3], [0, 3]);
    expect((await b.read(s, 'float32', 0)).length).toBe(0);
    b.free(e);
    b.free(s);
  });

  it('readSync, double free, bad reads and oversized tensors fail clearly', async () => {
    const x = b.alloc('float32', 4);
    expect(() => b.readSync(x, 'float32', 4)).toThrow(/await tensor\.data\(\)/);
    await expect(b.read(x, 'float32', 5)).rejects.toThrow(/read of 5 elements/);
    b.free(x);
    expect(() => b.free(x)).toThrow(/freed twice/);
    await expect(b.read(x, 'float32', 4)).rejects.toThrow(/freed buffer/);
    expect(() => b.unary('exp', x, 4)).toThrow(/freed buffer/);
    const limit = b.ctx.device.limits.maxStorageBufferBindingSize;
    expect(() => b.alloc('float32', limit / 4 + 1)).toThrow(/exceeds this device's largest storage buffer/);
  });

  it('too many dims after merging is a clear error', () => {
    const sa = [2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1];
    const sb = sa.map((d) => 3 - d);
    const out = sa.map(() => 2);
    const x = up(b, new Float32Array(2 ** 7));
    expect(() => b.binary('add', x, sa, x, sb, out)).toThrow(/at most 12 are supported/);
    b.free(x);
  });

  it('works behind the engine: ops, gradients, async reads; dataSync points to data()', async () => {
    kd.setBackend(b);
    const before = kd.memoryStats(b);
    const xs = randf(r, 12);
    await kd.scope(async () => {
      const x = kd.tensor(xs, [3, 4]);
      const w = kd.tensor(randf(r, 8), [4, 2]);
      const { value, grads } = kd.valueAndGrads(() => kd.sum(kd.square(kd.matmul(x, w))), [x]);
      const y = await value.data();
      const wv = await w.data();
      let want = 0;
      for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) {
        let s = 0;
        for (let k = 0; k < 4; k++) s += xs[i * 4 + k]! * wv[k * 2 + j]!;
        want += s * s;
      }
      expectClose(y, [want], { rtol: 1e-5 });
      expect((await grads[0]!.data()).every(Number.isFinite)).toBe(true);
      expect(() => value.dataSync()).toThrow(/await tensor\.data\(\)/);
      const kept = await kd.nms(kd.tensor([[0, 0, 1, 1], [0, 0, 1, 1.1], [5, 5, 6, 6]]), kd.tensor([0.9, 0.8, 0.7]), 0.5);
      expectEqual(await kept.data(), [0, 2]);
    });
    expect(kd.memoryStats(b)).toEqual(before);
  });
});

describe.skipIf(!o.backend)(title('webgpu device failures', o), () => {
  it('a lost device makes every later call fail with the reason', async () => {
    const own = (await createWebGPUBackend()) as typeof b;
    const x = own.upload(new Float32Array([1, 2]));
    own.ctx.device.destroy();
    await new Promise((res) => setTimeout(res, 50));
    expect(() => own.unary('exp', x, 2)).toThrow(/device was lost/);
    await expect(own.read(x, 'float32', 2)).rejects.toThrow(/device was lost/);
    own.free(x);
    own.dispose();
    expect(() => own.alloc('float32', 1)).toThrow(/disposed/);
  });

  it('no adapter: a clear error, and createBestBackend falls back with the reason', async () => {
    const g = globalThis as { navigator?: unknown };
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: { requestAdapter: async () => null } }, configurable: true });
    try {
      await expect(createWebGPUBackend()).rejects.toThrow(/no WebGPU adapter is available from navigator\.gpu.*VK_ICD_FILENAMES/);
      const logs: string[] = [];
      const fake = { name: 'fake' } as Backend;
      const got = await createBestBackend({ fallback: () => fake, log: (m) => logs.push(m) });
      expect(got).toBe(fake);
      expect(logs[0]).toMatch(/WebGPU unavailable, using the 'fake' backend instead: .*no WebGPU adapter/);
    } finally {
      if (saved) Object.defineProperty(globalThis, 'navigator', saved);
      else delete g.navigator;
    }
  });
});
