import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import { memoryStats, setBackend } from '../../src/engine/index.js';
import { Rng } from '../../src/engine/random.js';
import { hashWords, imageKey, MemoryFeatureStore, weightsKey } from '../../src/distillation/teacher-cache.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { distil } from '../helpers/distil-fixture.js';

const loaded = await loadBackendsUnderTest();

describeEachBackend(loaded, (backend: Backend) => {
  describe('the teacher feature cache', () => {
    it('gives bit-identical losses and gradients with or without a store, and serves the repeated images from it', async () => {
      setBackend(backend);
      const before = memoryStats(backend);
      const plain = await distil(null);
      const store = new MemoryFeatureStore();
      const cached = await distil(store);
      expect(plain.steps).toHaveLength(6);
      for (const s of plain.steps) for (const v of Object.values(s)) expect(Number.isFinite(v)).toBe(true);
      expect(cached.steps).toEqual(plain.steps);
      expect(plain.stats).toEqual({ hits: 0, misses: 0 });
      expect(cached.stats.hits + cached.stats.misses).toBe(12);
      expect(cached.stats.hits).toBeGreaterThan(0);
      expect(store.size).toBe(cached.stats.misses);
      // A second run over the same data computes nothing, and still gives the same numbers.
      const again = await distil(store);
      expect(again.stats).toEqual({ hits: 12, misses: 0 });
      expect(again.steps).toEqual(plain.steps);
      expect(memoryStats(backend)).toEqual(before);
    });

    it('runs no teacher at all when every term is off, and its heads only for output terms', async () => {
      setBackend(backend);
      const store = new MemoryFeatureStore();
      const none = await distil(store, { soft: false, regression: 'none', hint: false });
      expect(none.stats).toEqual({ hits: 0, misses: 0 });
      const hintOnly = await distil(store, { soft: false, regression: 'none' });
      expect(hintOnly.stats.hits + hintOnly.stats.misses).toBe(12);
      expect(Object.keys(hintOnly.steps[0]!)).toContain('hint');
    });
  });
});

it('keys an image by its content and shape, and a teacher by its weights', () => {
  const rng = new Rng(9);
  const img = Float32Array.from({ length: 3 * 8 * 8 }, () => rng.uniform());
  const copy = img.slice();
  expect(imageKey(copy, [3, 8, 8])).toBe(imageKey(img, [3, 8, 8]));
  expect(imageKey(img, [3, 4, 16])).not.toBe(imageKey(img, [3, 8, 8]));
  // One ulp in one pixel, and a horizontal flip, are other images.
  const ulp = img.slice();
  new Uint32Array(ulp.buffer)[17]! += 1;
  expect(imageKey(ulp, [3, 8, 8])).not.toBe(imageKey(img, [3, 8, 8]));
  const flipped = img.map((_, i) => img[Math.floor(i / 8) * 8 + (7 - (i % 8))]!);
  expect(imageKey(flipped, [3, 8, 8])).not.toBe(imageKey(img, [3, 8, 8]));
  expect(imageKey(img, [3, 8, 8])).toMatch(/^3x8x8-[0-9a-f]{16}$/);
  // Subarrays hash their own words only.
  const two = new Float32Array(2 * img.length);
  two.set(img, img.length);
  expect(imageKey(two.subarray(img.length), [3, 8, 8])).toBe(imageKey(img, [3, 8, 8]));

  const w = [img, Float32Array.from([1, 2, 3])];
  expect(weightsKey(w)).toBe(weightsKey(w.map((x) => x.slice())));
  expect(weightsKey([img, ulp.subarray(0, 3)])).not.toBe(weightsKey(w));
  expect(weightsKey([w[1]!, w[0]!])).not.toBe(weightsKey(w));
  // 10⁴ distinct inputs, 10⁴ distinct hashes.
  const seen = new Set<string>();
  for (let i = 0; i < 10000; i++) seen.add(hashWords(Uint32Array.of(i, 7)));
  expect(seen.size).toBe(10000);
});

it('a memory store never serves data of the wrong length, copies what it keeps and respects its budget', async () => {
  const s = new MemoryFeatureStore(40);
  const a = Float32Array.of(1, 2, 3, 4);
  await s.put('k', a);
  a[0] = 99;
  expect(Array.from((await s.get('k', 4))!)).toEqual([1, 2, 3, 4]);
  expect(await s.get('k', 5)).toBeNull();
  expect(await s.get('other', 4)).toBeNull();
  await s.put('big', new Float32Array(8)); // 16 + 32 bytes > 40: not kept
  expect(await s.get('big', 8)).toBeNull();
  expect(s.size).toBe(1);
});
