import type { Rng } from '../engine/random.js';

export interface SamplerConfig {
  /** Examples per image. */
  batchSizePerImage: number;
  /** Target fraction of positives. */
  positiveFraction: number;
}

/**
 * torchvision's BalancedPositiveNegativeSampler for one image: labels ≥ 1 are positive, 0
 * negative, −1 ignored. Picks min(⌊B·f⌋, #pos) positives and fills up to B with negatives, each
 * uniformly at random from the seeded generator.
 */
export function sampleBalanced(labels: Int32Array, cfg: SamplerConfig, rng: Rng): { positive: number[]; negative: number[] } {
  const pos: number[] = [];
  const neg: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! >= 1) pos.push(i);
    else if (labels[i] === 0) neg.push(i);
  }
  const numPos = Math.min(Math.floor(cfg.batchSizePerImage * cfg.positiveFraction), pos.length);
  const numNeg = Math.min(cfg.batchSizePerImage - numPos, neg.length);
  return {
    positive: pickSorted(pos, numPos, rng),
    negative: pickSorted(neg, numNeg, rng),
  };
}

/** k distinct items chosen uniformly (partial Fisher–Yates), returned in ascending order. */
function pickSorted(items: number[], k: number, rng: Rng): number[] {
  const a = items.slice();
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(a.length - i);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, k).sort((x, y) => x - y);
}
