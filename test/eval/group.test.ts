import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/data/rng.js';
import { groupByKey, sortByScore } from '../../src/eval/group.js';

/** The reference: stable sort by descending score, ties in index order. */
const reference = (score: Float64Array, ids: number[]) => [...ids].sort((a, b) => score[b]! - score[a]! || a - b);

describe('sortByScore', () => {
  for (const n of [5, 24, 25, 300]) {
    it(`is a stable descending sort (${n} items, many ties, -0 and +0 equal)`, () => {
      const rng = new Rng(n);
      const score = Float64Array.from({ length: n }, () => (rng.bool(0.1) ? (rng.bool() ? -0 : 0) : rng.int(-5, 5) / 4));
      const ids = Array.from({ length: n }, (_, i) => i);
      const members = Int32Array.from(ids);
      sortByScore(members, 0, n, score);
      expect(Array.from(members)).toEqual(reference(score, ids));
    });
  }
  it('sorts only the given range', () => {
    const members = Int32Array.of(0, 1, 2, 3);
    sortByScore(members, 1, 3, Float64Array.of(9, 1, 2, 0));
    expect(Array.from(members)).toEqual([0, 2, 1, 3]);
  });
});

describe('groupByKey', () => {
  it('groups stably and leaves out key -1', () => {
    const g = groupByKey(Int32Array.of(2, 0, -1, 2, 0), 3);
    expect(Array.from(g.start)).toEqual([0, 2, 2, 4]);
    expect(Array.from(g.members)).toEqual([1, 4, 0, 3]);
  });
});
