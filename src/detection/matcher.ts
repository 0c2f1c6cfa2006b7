/** Matcher results: a ground-truth index per prediction, or one of these. */
export const BELOW_LOW_THRESHOLD = -1;
export const BETWEEN_THRESHOLDS = -2;

export interface MatcherConfig {
  highThreshold: number;
  lowThreshold: number;
  /** Give each ground truth its best predictions even when below the high threshold. */
  allowLowQualityMatches: boolean;
}

/**
 * torchvision's Matcher over an IoU matrix [numGt, numPred] (row-major): each prediction takes
 * its best ground truth; IoU < low → BELOW_LOW_THRESHOLD, low ≤ IoU < high → BETWEEN_THRESHOLDS.
 * With low-quality matches, every prediction that ties for a ground truth's best IoU keeps its
 * own best match (as torchvision does), so no ground truth is left without a prediction.
 */
export function match(iou: Float32Array, numGt: number, numPred: number, cfg: MatcherConfig): Int32Array {
  const matches = new Int32Array(numPred).fill(BELOW_LOW_THRESHOLD);
  if (numGt === 0) return matches;
  // IoUs are float32; compare against float32 thresholds as PyTorch does (0.7 stored as float32
  // is below the double 0.7, which would turn exact matches into "between").
  const high = Math.fround(cfg.highThreshold);
  const low = Math.fround(cfg.lowThreshold);
  const best = new Int32Array(numPred);
  for (let p = 0; p < numPred; p++) {
    let bv = -Infinity;
    let bi = 0;
    for (let g = 0; g < numGt; g++) {
      const v = iou[g * numPred + p]!;
      if (v > bv) {
        bv = v;
        bi = g;
      }
    }
    best[p] = bi;
    matches[p] = bv < low ? BELOW_LOW_THRESHOLD : bv < high ? BETWEEN_THRESHOLDS : bi;
  }
  if (cfg.allowLowQualityMatches) {
    for (let g = 0; g < numGt; g++) {
      let gmax = -Infinity;
      for (let p = 0; p < numPred; p++) gmax = Math.max(gmax, iou[g * numPred + p]!);
      for (let p = 0; p < numPred; p++) if (iou[g * numPred + p] === gmax) matches[p] = best[p]!;
    }
  }
  return matches;
}

/**
 * Sampler labels from matches: the matched ground truth's class (`classOf`), 0 for background
 * (below the low threshold), −1 for "ignore" (between the thresholds).
 */
export function labelsFromMatches(matches: Int32Array, classOf: (gt: number) => number): Int32Array {
  const labels = new Int32Array(matches.length);
  for (let i = 0; i < matches.length; i++) {
    const v = matches[i]!;
    labels[i] = v >= 0 ? classOf(v) : v === BETWEEN_THRESHOLDS ? -1 : 0;
  }
  return labels;
}
