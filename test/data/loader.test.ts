import { describe, expect, it } from 'vitest';
import { BatchLoader } from '../../src/data/loader.js';
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

  it('rejects an image larger than a fixed pad shape', async () => {
    await expect(collect(new BatchLoader(tiny(2), { batchSize: 2, pad: [3, 3] }))).rejects.toThrow(/larger than pad 3x3/);
  });
});
