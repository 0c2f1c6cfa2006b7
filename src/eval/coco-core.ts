/**
 * The number-crunching half of the COCO evaluation (see coco.ts for the rules
 * it follows): detections and ground truth in flat typed arrays grouped by
 * (category, image), per-detection outcomes at every area range and IoU
 * threshold, and their accumulation into precision and recall.
 */

import { sortByScore } from './group.js';

const EPS = 2.220446049250313e-16; // np.spacing(1)

/** Outcome codes of a detection at one (area range, IoU threshold). */
export const IGNORED = 0;
export const TRUE_POSITIVE = 1;
export const FALSE_POSITIVE = 2;

/** Boxes ([x, y, w, h]) in flat arrays, grouped by key = category * images + image. */
export interface Grouped {
  /** Members of group g are members[start[g] .. start[g + 1]). */
  start: Int32Array;
  members: Int32Array;
  box: Float64Array;
  area: Float64Array;
}

export interface CategoryOutcomes {
  /** Detections kept (<= maxDet per image), concatenated in image order. */
  n: number;
  score: Float64Array;
  /** Rank of each detection within its image, for smaller maxDets. */
  rank: Int32Array;
  /** [n, A, T] outcome codes. */
  outcome: Uint8Array;
  /** [A] ground truth that is not ignored. */
  npig: Int32Array;
}

export interface MatchParams {
  iouThrs: number[];
  areaRng: [number, number][];
  maxDet: number;
}

/** COCOeval.evaluateImg for every image of one category. */
export function evaluateCategory(
  k: number, images: number, gt: Grouped & { crowd: Uint8Array; id: Float64Array },
  dt: Grouped & { score: Float64Array }, p: MatchParams,
): CategoryOutcomes {
  const T = p.iouThrs.length, A = p.areaRng.length;
  const thr = p.iouThrs.map((t) => Math.min(t, 1 - 1e-10));
  let n = 0;
  for (let i = 0; i < images; i++) {
    const key = k * images + i;
    const lo = dt.start[key]!, hi = dt.start[key + 1]!;
    sortByScore(dt.members, lo, hi, dt.score);
    n += Math.min(hi - lo, p.maxDet);
  }
  const out: CategoryOutcomes = {
    n, score: new Float64Array(n), rank: new Int32Array(n), outcome: new Uint8Array(n * A * T), npig: new Int32Array(A),
  };
  let ious = new Float64Array(64);
  let maxIou = new Float64Array(16);
  let gIg = new Uint8Array(16), order = new Int32Array(16), taken = new Uint8Array(16 * T);
  let base = 0;
  for (let i = 0; i < images; i++) {
    const key = k * images + i;
    const g0 = gt.start[key]!, G = gt.start[key + 1]! - g0;
    const d0 = dt.start[key]!, D = Math.min(dt.start[key + 1]! - d0, p.maxDet);
    if (G > gIg.length) (gIg = new Uint8Array(2 * G)), (order = new Int32Array(2 * G)), (taken = new Uint8Array(2 * G * T));
    if (D * G > ious.length) ious = new Float64Array(2 * D * G);
    if (D > maxIou.length) maxIou = new Float64Array(2 * D);
    for (let di = 0; di < D; di++) {
      const m = dt.members[d0 + di]!;
      out.score[base + di] = dt.score[m]!;
      out.rank[base + di] = di;
      maxIou[di] = -1;
      for (let gj = 0; gj < G; gj++) {
        const v = boxIou(dt.box, m, gt.box, gt.members[g0 + gj]!, gt.crowd[gt.members[g0 + gj]!] === 1);
        ious[di * G + gj] = v;
        if (v > maxIou[di]!) maxIou[di] = v;
      }
    }
    for (let a = 0; a < A; a++) {
      const [lo, hi] = p.areaRng[a]!;
      // Ground truth order: regular boxes first, ignored ones last, each in file order.
      let nReg = 0;
      for (let gj = 0; gj < G; gj++) {
        const g = gt.members[g0 + gj]!;
        gIg[gj] = gt.crowd[g] || gt.area[g]! < lo || gt.area[g]! > hi ? 1 : 0;
        if (!gIg[gj]) nReg++;
      }
      out.npig[a]! += nReg;
      for (let gj = 0, r = 0, x = nReg; gj < G; gj++) order[gIg[gj] ? x++ : r++] = gj;
      // Detections in rank order; `taken` holds one row of flags per threshold.
      taken.fill(0, 0, T * G);
      for (let di = 0; di < D; di++) {
        const m = dt.members[d0 + di]!;
        const unmatched = dt.area[m]! < lo || dt.area[m]! > hi ? IGNORED : FALSE_POSITIVE;
        const at = ((base + di) * A + a) * T;
        let t = 0;
        // Thresholds above the detection's best IoU cannot match: those stay unmatched.
        for (; t < T && maxIou[di]! >= thr[t]!; t++) {
          let best = -1;
          let iou = thr[t]!;
          const row = t * G;
          for (let gi = 0; gi < G; gi++) {
            const gj = order[gi]!;
            if (taken[row + gi] && !gt.crowd[gt.members[g0 + gj]!]) continue;
            if (best > -1 && !gIg[order[best]!] && gIg[gj]) break;
            if (ious[di * G + gj]! < iou) continue;
            iou = ious[di * G + gj]!;
            best = gi;
          }
          let code = unmatched;
          if (best !== -1) {
            taken[row + best] = 1;
            const gj = order[best]!;
            // pycocotools records the match by annotation id, and id 0 reads as "no match".
            if (gt.id[gt.members[g0 + gj]!] !== 0) code = gIg[gj] ? IGNORED : TRUE_POSITIVE;
            else if (gIg[gj]) code = IGNORED;
          }
          out.outcome[at + t] = code;
        }
        for (; t < T; t++) out.outcome[at + t] = unmatched;
      }
    }
    base += D;
  }
  return out;
}

/** pycocotools' bbIou for one pair; against a crowd box the union is the detection's area. */
function boxIou(d: Float64Array, i: number, g: Float64Array, j: number, crowd: boolean): number {
  const dx = d[4 * i]!, dy = d[4 * i + 1]!, dw = d[4 * i + 2]!, dh = d[4 * i + 3]!;
  const gx = g[4 * j]!, gy = g[4 * j + 1]!, gw = g[4 * j + 2]!, gh = g[4 * j + 3]!;
  const w = Math.min(dw + dx, gw + gx) - Math.max(dx, gx);
  if (w <= 0) return 0;
  const h = Math.min(dh + dy, gh + gy) - Math.max(dy, gy);
  if (h <= 0) return 0;
  const da = dw * dh;
  const inter = w * h;
  return inter / (crowd ? da : da + gw * gh - inter);
}

/** COCOeval.accumulate for one category k, writing precision [T,R,K,A,M] and recall [T,K,A,M]. */
export function accumulateCategory(
  e: CategoryOutcomes, k: number, K: number,
  p: { iouThrs: number[]; recThrs: number[]; maxDets: number[]; areaRng: unknown[] },
  precision: Float64Array, recall: Float64Array,
): void {
  const T = p.iouThrs.length, R = p.recThrs.length, A = p.areaRng.length, M = p.maxDets.length;
  const n = e.n;
  // One stable ranking serves every maxDets: a cut keeps each image's prefix,
  // and a stable sort of a subsequence is the subsequence of the stable sort.
  const order = new Int32Array(n);
  for (let j = 0; j < n; j++) order[j] = j;
  sortByScore(order, 0, n, e.score);
  // Ranked positions that each maxDets keeps.
  const kept = p.maxDets.map((md) => {
    const list = new Int32Array(n);
    let c = 0;
    for (let s = 0; s < n; s++) if (e.rank[order[s]!]! < md) list[c++] = s;
    return list.subarray(0, c);
  });
  // Outcomes in ranked order, one row per (area, threshold), for sequential reads.
  const AT = A * T;
  const codes = new Uint8Array(AT * n);
  for (let s = 0; s < n; s++) {
    const src = order[s]! * AT;
    for (let at = 0; at < AT; at++) codes[at * n + s] = e.outcome[src + at]!;
  }
  for (let a = 0; a < A; a++) {
    const npig = e.npig[a]!;
    if (npig === 0) continue;
    const evRc = new Float64Array(npig);
    const evPr = new Float64Array(npig);
    for (let t = 0; t < T; t++) {
      const row = (a * T + t) * n;
      for (let m = 0; m < M; m++) {
        const list = kept[m]!;
        let tp = 0, fp = 0;
        for (let q = 0; q < list.length; q++) {
          const o = codes[row + list[q]!]!;
          if (o === TRUE_POSITIVE) {
            tp++;
            evRc[tp - 1] = tp / npig;
            evPr[tp - 1] = tp / (fp + tp + EPS);
          } else if (o === FALSE_POSITIVE) fp++;
        }
        recall[((t * K + k) * A + a) * M + m] = list.length ? tp / npig : 0;
        sampleAtRecalls(evRc, evPr, tp, p.recThrs, precision, ((t * R * K + k) * A + a) * M + m, K * A * M);
      }
    }
  }
}

/**
 * pycocotools makes precision monotone (max to the right) and takes, for each
 * recall threshold, the precision at the first detection whose recall reaches
 * it (0 if none does). Between true positives precision only falls and recall
 * stays put, so the true positives alone give the same values: the first
 * detection reaching a recall > 0 is a true positive, and the maximum to its
 * right is attained at a true positive (at recall 0: the overall maximum, or 0).
 */
function sampleAtRecalls(rc: Float64Array, pr: Float64Array, n: number, recThrs: number[], out: Float64Array, at: number, stride: number): void {
  for (let i = n - 2; i >= 0; i--) if (pr[i + 1]! > pr[i]!) pr[i] = pr[i + 1]!;
  let pi = 0;
  for (let r = 0; r < recThrs.length; r++) {
    while (pi < n && rc[pi]! < recThrs[r]!) pi++;
    out[at + r * stride] = pi < n ? pr[pi]! : 0;
  }
}
