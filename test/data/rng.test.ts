import { describe, expect, it } from 'vitest';
import { hashSeed, Rng } from '../../src/data/rng.js';

describe('Rng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new Rng(42), b = new Rng(42), c = new Rng(43);
    const xs = Array.from({ length: 5 }, () => a.uint32());
    expect(Array.from({ length: 5 }, () => b.uint32())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.uint32())).not.toEqual(xs);
  });

  it('keeps values in range with about the right mean', () => {
    const r = new Rng(1);
    let sum = 0;
    let bad = 0;
    for (let i = 0; i < 20000; i++) {
      const v = r.next();
      const k = r.int(-2, 3);
      if (!(v >= 0 && v < 1) || !(Number.isInteger(k) && k >= -2 && k <= 3)) bad++;
      sum += v;
    }
    expect(bad).toBe(0);
    expect(sum / 20000).toBeCloseTo(0.5, 1);
  });

  it('draws weighted indices in proportion', () => {
    const r = new Rng(7);
    const counts = [0, 0, 0];
    for (let i = 0; i < 30000; i++) counts[r.weighted([1, 0, 3])]!++;
    expect(counts[1]).toBe(0);
    expect(counts[2]! / counts[0]!).toBeGreaterThan(2.7);
    expect(counts[2]! / counts[0]!).toBeLessThan(3.3);
  });

  it('shuffles into a permutation', () => {
    const a = new Rng(3).shuffle(Array.from({ length: 50 }, (_, i) => i));
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(a).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('hashSeed separates nearby inputs', () => {
    const seen = new Set<number>();
    for (let s = 0; s < 4; s++) for (let i = 0; i < 500; i++) seen.add(hashSeed(s, 1, i));
    expect(seen.size).toBe(2000);
    expect(hashSeed(1, 2)).not.toBe(hashSeed(2, 1));
  });
});
