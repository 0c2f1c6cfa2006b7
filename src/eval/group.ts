/** Grouping and ranking helpers shared by the evaluators. */

/** Stable counting sort of items 0..n-1 into groups by key (-1: left out). */
export function groupByKey(keys: Int32Array, groups: number): { start: Int32Array; members: Int32Array } {
  const start = new Int32Array(groups + 1);
  for (const k of keys) if (k >= 0) start[k + 1]!++;
  for (let g = 0; g < groups; g++) start[g + 1]! += start[g]!;
  const fill = start.slice(0, groups);
  const members = new Int32Array(start[groups]!);
  keys.forEach((k, j) => {
    if (k >= 0) members[fill[k]!++] = j;
  });
  return { start, members };
}

/**
 * Sorts members[lo, hi) by descending score[member], ties keeping their
 * current order (a stable sort, like numpy's mergesort or MATLAB's sort).
 */
export function sortByScore(members: Int32Array, lo: number, hi: number, score: Float64Array): void {
  if (hi - lo <= 24) {
    for (let i = lo + 1; i < hi; i++) {
      const m = members[i]!;
      const s = score[m]!;
      let j = i - 1;
      while (j >= lo && score[members[j]!]! < s) (members[j + 1] = members[j]!), j--;
      members[j + 1] = m;
    }
    return;
  }
  // Larger ranges: bucket by distinct score (found in a natively sorted copy),
  // then a stable counting sort; several times faster than a comparator sort.
  const n = hi - lo;
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = 0 - score[members[lo + i]!]!; // 0 - s: -0 becomes +0
  const distinct = keys.slice().sort();
  let u = 0;
  for (let i = 0; i < n; i++) if (u === 0 || distinct[i] !== distinct[u - 1]) distinct[u++] = distinct[i]!;
  const bucket = new Int32Array(n);
  const count = new Int32Array(u + 1);
  for (let i = 0; i < n; i++) {
    let a = 0, b = u - 1;
    while (a < b) {
      const mid = (a + b) >> 1;
      if (distinct[mid]! < keys[i]!) a = mid + 1;
      else b = mid;
    }
    bucket[i] = a;
    count[a + 1]!++;
  }
  for (let b = 0; b < u; b++) count[b + 1]! += count[b]!;
  const src = members.slice(lo, hi);
  for (let i = 0; i < n; i++) members[lo + count[bucket[i]!]!++] = src[i]!;
}
