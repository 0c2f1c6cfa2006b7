import { describe, expect, it } from 'vitest';
import { BatchLoader, ByteLru, DEFAULT_CACHE_BYTES, sampleBytes } from '../../src/data/loader.js';
import { SyntheticShapes } from '../../src/data/shapes.js';
import type { AsyncDataset, DetectionBatch, DetectionSample } from '../../src/data/types.js';

/** A tiny data set whose sample i is an h x w image filled with i/100. */
function tiny(n: number, sizes = (i: number) => [4, 6] as [number, number]) {
  return {
    length: n,
    classNames: ['a'],
    reads: 0,
    async get(i: number): Promise<DetectionSample> {
      this.reads++;
      const [h, w] = sizes(i);
      await new Promise((r) => setTimeout(r, 1));
      return { image: new Float32Array(3 * h * w).fill(i / 100), height: h, width: w, boxes: Float32Array.of(0, 0, 2, 2), labels: Int32Array.of(1), id: i };
    },
  } satisfies AsyncDataset & { reads: number };
}

async function collect(it: AsyncIterable<DetectionBatch>): Promise<DetectionBatch[]> {
  const out: DetectionBatch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

describe('BatchLoader', () => {
  it('visits every sample once per epoch, shuffled by seed and epoch', async () => {
    const loader = new BatchLoader(tiny(10), { batchSize: 4, seed: 3 });
    const e0 = (await collect(loader.epoch(0))).flatMap((b) => b.ids);
    const e1 = (await collect(loader.epoch(1))).flatMap((b) => b.ids);
    expect([...e0].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(e1).not.toEqual(e0);
    expect((await collect(new BatchLoader(tiny(10), { batchSize: 3, seed: 3 }).epoch(0))).flatMap((b) => b.ids)).toEqual(e0);
    expect(loader.batchesPerEpoch).toBe(3);
    const unshuffled = await collect(new BatchLoader(tiny(5), { batchSize: 2, shuffle: false, dropLast: true }));
    expect(unshuffled.map((b) => b.ids)).toEqual([[0, 1], [2, 3]]);
  });

  it('collates NCHW, padding to the largest image (and a size divisor) and normalising', async () => {
    const ds = tiny(3, (i) => [4 + i, 6 - i]);
    const [b] = await collect(new BatchLoader(ds, {
      batchSize: 3, shuffle: false, sizeDivisor: 4, normalise: { mean: [0.01, 0, 0], std: [0.5, 1, 1] },
    }));
    expect(b!.shape).toEqual([3, 3, 8, 8]);
    expect(b!.sizes).toEqual([[4, 6], [5, 5], [6, 4]]);
    // Image 1, channel 0, pixel (0,0): (0.01 - 0.01) / 0.5 = 0; channel 1: 0.01.
    const at = (n: number, c: number, y: number, x: number) => b!.images[((n * 3 + c) * 8 + y) * 8 + x]!;
    expect(at(1, 0, 0, 0)).toBeCloseTo(0, 6);
    expect(at(1, 1, 0, 0)).toBeCloseTo(0.01, 6);
    expect(at(1, 1, 0, 5)).toBe(0); // padding
    expect(at(2, 1, 5, 3)).toBeCloseTo(0.02, 6);
    expect(Array.from(b!.boxes[0]!)).toEqual([0, 0, 2, 2]);
  });

  it('augments deterministically per (seed, epoch, sample), whatever the batch size', async () => {
    const ds = new SyntheticShapes({ length: 6 });
    const opts = { seed: 1, hflip: 0.5, scaleJitter: [0.8, 1] as [number, number], pad: [128, 128] as [number, number] };
    const byId = async (batchSize: number) => {
      const m = new Map<number, Float32Array>();
      for await (const b of new BatchLoader(ds, { ...opts, batchSize }).epoch(2)) b.ids.forEach((id, k) => m.set(id, b.boxes[k]!));
      return m;
    };
    const [a, b] = [await byId(2), await byId(4)];
    for (let i = 0; i < 6; i++) expect(a.get(i)).toEqual(b.get(i));
    // Some sample got flipped or rescaled.
    expect([...a.keys()].some((i) => !a.get(i)!.every((v, k) => v === ds.get(i).boxes[k]))).toBe(true);
  });

  it('streams: reads only the batches it is asked for, plus one prefetched', async () => {
    const ds = tiny(100);
    const it = new BatchLoader(ds, { batchSize: 5, prefetch: 1 }).epoch(0);
    await it.next();
    await new Promise((r) => setTimeout(r, 20));
    expect(ds.reads).toBe(10);
    await it.return(undefined);
  });

  it('caches decoded samples of an async data set across epochs, bounded by bytes (LRU)', async () => {
    const ds = tiny(10);
    const one = sampleBytes(await ds.get(0));
    ds.reads = 0;
    // Room for all 10: the second epoch reads nothing.
    const all = new BatchLoader(ds, { batchSize: 3, seed: 1 });
    expect(all.cache.maxBytes).toBe(DEFAULT_CACHE_BYTES);
    const e0 = await collect(all.epoch(0));
    expect(ds.reads).toBe(10);
    const e1 = await collect(all.epoch(1));
    expect(ds.reads).toBe(10);
    expect(all.cache.hits).toBe(10);
    // Cached samples are not modified by augmentation: same batches as without a cache.
    const fresh = await collect(new BatchLoader(tiny(10), { batchSize: 3, seed: 1, cacheBytes: 0 }).epoch(1));
    expect(e1.map((b) => b.ids)).toEqual(fresh.map((b) => b.ids));
    expect(e1.every((b, k) => b.images.every((v, j) => v === fresh[k]!.images[j]))).toBe(true);
    expect(e0.length).toBe(4);

    // Room for 4: never more than 4 samples' bytes held, whatever the data set's length.
    const small = tiny(10);
    const bounded = new BatchLoader(small, { batchSize: 2, shuffle: false, cacheBytes: 4 * one });
    await collect(bounded.epoch(0));
    expect([bounded.cache.size, bounded.cache.bytes]).toEqual([4, 4 * one]);
    await collect(bounded.epoch(1)); // in order, the LRU holds the last 4: every read misses again
    expect(small.reads).toBe(20);

    const off = tiny(4);
    const none = new BatchLoader(off, { batchSize: 2, cacheBytes: 0 });
    await collect(none.epoch(0));
    await collect(none.epoch(1));
    expect([off.reads, none.cache.size]).toEqual([8, 0]);
  });

  it('does not cache synchronous (generated) data sets', async () => {
    const loader = new BatchLoader(new SyntheticShapes({ length: 4 }), { batchSize: 2 });
    await collect(loader.epoch(0));
    expect(loader.cache.size).toBe(0);
  });

  it('ByteLru evicts least recently used entries first and skips values larger than its budget', () => {
    const lru = new ByteLru<string, number>(10);
    lru.set('a', 1, 4);
    lru.set('b', 2, 4);
    expect(lru.get('a')).toBe(1); // a is now the most recent
    lru.set('c', 3, 4); // evicts b
    expect([lru.get('b'), lru.get('a'), lru.get('c'), lru.bytes]).toEqual([undefined, 1, 3, 8]);
    lru.set('big', 4, 11);
    expect([lru.get('big'), lru.size]).toEqual([undefined, 2]);
    lru.set('a', 5, 2);
    expect([lru.get('a'), lru.bytes]).toEqual([5, 6]);
  });

  it('rejects an image larger than a fixed pad shape', async () => {
    await expect(collect(new BatchLoader(tiny(2), { batchSize: 2, pad: [3, 3] }))).rejects.toThrow(/larger than pad 3x3/);
  });
});
