/**
 * "Did you mean ...?" for mistyped commands, flags and choices: the candidates closest to a word
 * by edit distance (insertions, deletions, substitutions and swaps of neighbours each cost 1),
 * offered only when close enough that the suggestion is likely what was meant.
 */

/** Optimal-string-alignment distance (Levenshtein plus adjacent transpositions), case-insensitive. */
export function editDistance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  const n = a.length;
  const m = b.length;
  // d[i][j]: distance between a[0, i) and b[0, j); three rows suffice for the transposition case.
  let prev2: number[] = [];
  let prev = Array.from({ length: m + 1 }, (_, j) => j);
  for (let i = 1; i <= n; i++) {
    const cur = [i];
    for (let j = 1; j <= m; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, prev2[j - 2]! + 1);
      cur.push(v);
    }
    prev2 = prev;
    prev = cur;
  }
  return prev[m]!;
}

/**
 * The candidates a mistyped `word` most likely meant (at most two, best first), or none when
 * nothing is close: within 1 edit for words up to 4 letters, 2 up to 8, 3 beyond; or the one
 * candidate that starts with a word of 3 letters or more (`--train` → `--train-size`).
 */
export function closest(word: string, candidates: readonly string[]): string[] {
  const limit = word.length <= 4 ? 1 : word.length <= 8 ? 2 : 3;
  const scored = candidates.map((c) => ({ c, d: editDistance(word, c) })).filter((x) => x.c !== word && x.d <= limit);
  if (scored.length) {
    const best = Math.min(...scored.map((x) => x.d));
    return scored.filter((x) => x.d === best).slice(0, 2).map((x) => x.c);
  }
  if (word.length >= 3) {
    const prefixed = candidates.filter((c) => c.toLowerCase().startsWith(word.toLowerCase()));
    if (prefixed.length === 1) return prefixed;
  }
  return [];
}

/** " — did you mean X?" (or "X or Y?"), with each candidate formatted by `show`; '' if none is close. */
export function didYouMean(word: string, candidates: readonly string[], show: (c: string) => string = (c) => c): string {
  const near = closest(word, candidates);
  return near.length ? ` — did you mean ${near.map(show).join(' or ')}?` : '';
}
