/**
 * PASCAL VOC detection AP, as the devkit computes it (VOCevaldet.m and its
 * Python port voc_eval.py), for every class:
 *  - detections of the class over all images, ranked by descending score;
 *  - each takes the ground-truth box of its image with the largest IoU (the
 *    first one on ties); IoU > threshold makes it a true positive if that box
 *    is not yet taken, a false positive (duplicate) if it is; otherwise, or
 *    with no box in the image, it is a false positive. (voc_eval.py compares
 *    with >, VOCevaldet.m with >=: they differ only at an IoU of exactly 0.5;
 *    we follow the Python port, which is what other tools reimplement);
 *  - a detection whose best box is `difficult` counts as neither, difficult
 *    boxes are not counted in the recall denominator, and they are never taken;
 *  - precision = tp / max(tp + fp, eps), recall = tp / npos;
 *  - AP: VOC2007's 11-point mean of max precision at recall >= 0, 0.1, .. 1
 *    (thresholds i * 0.1, as numpy's arange makes them), or VOC2010's area
 *    under the monotone precision envelope at every recall change.
 *
 * Ties in score keep input order (a stable sort), as MATLAB's sort in the
 * devkit does. voc_eval.py uses numpy's default argsort, which is not stable
 * and whose tie order depends on the numpy build and CPU, so only a stable
 * order is reproducible; tied scores are the only place the two can differ.
 *
 * Pixel convention: the devkit adds 1 to widths and heights because its boxes
 * are 1-based inclusive pixel indices. kdet boxes are continuous (a VOC box
 * xmin..xmax is x1 = xmin - 1, x2 = xmax), for which pixelOffset 0 gives the
 * devkit's numbers; pass pixelOffset 1 to evaluate boxes in the devkit's own
 * inclusive coordinates.
 */
import { groupByKey, sortByScore } from './group.js';
import type { GroundTruth, ImageDetections } from './types.js';

export interface VocEvalOptions {
  /** Number of classes C (labels 1..C); default: the largest label seen. */
  numClasses?: number;
  iouThreshold?: number;
  /** true: VOC2007 11-point AP; false (default): VOC2010+ all-point AP. */
  use07Metric?: boolean;
  /** Added to widths and heights: 0 for continuous boxes (default), 1 for devkit pixel indices. */
  pixelOffset?: 0 | 1;
}

export interface VocClassResult {
  /** AP, or NaN when the class has no non-difficult ground truth. */
  ap: number;
  /** Non-difficult ground-truth boxes. */
  npos: number;
  detections: number;
  truePositives: number;
  falsePositives: number;
  /** Cumulative recall and precision down the ranked detections. */
  recall: Float64Array;
  precision: Float64Array;
}

export interface VocEvalResult {
  /** Mean AP over the classes that have ground truth. */
  mAP: number;
  /** AP per class, index label - 1 (NaN where undefined). */
  ap: number[];
  perClass: VocClassResult[];
  options: Required<VocEvalOptions>;
}

const EPS = 2.220446049250313e-16; // np.finfo(np.float64).eps

/** VOC AP from cumulative recall and precision (voc_ap in the devkit's Python port). */
export function vocAp(recall: ArrayLike<number>, precision: ArrayLike<number>, use07Metric: boolean): number {
  const n = recall.length;
  if (use07Metric) {
    let ap = 0;
    for (let i = 0; i <= 10; i++) {
      const t = i * 0.1;
      let p = 0;
      for (let k = 0; k < n; k++) if (recall[k]! >= t && precision[k]! > p) p = precision[k]!;
      ap += p / 11;
    }
    return ap;
  }
  // Sentinels (recall 0 and 1, precision 0), then the envelope from the right.
  const mrec = new Float64Array(n + 2);
  const mpre = new Float64Array(n + 2);
  for (let k = 0; k < n; k++) (mrec[k + 1] = recall[k]!), (mpre[k + 1] = precision[k]!);
  mrec[n + 1] = 1;
  for (let i = n + 1; i > 0; i--) mpre[i - 1] = Math.max(mpre[i - 1]!, mpre[i]!);
  let ap = 0;
  for (let i = 0; i < n + 1; i++) if (mrec[i + 1] !== mrec[i]) ap += (mrec[i + 1]! - mrec[i]!) * mpre[i + 1]!;
  return ap;
}

export function evaluateVoc(
  targets: readonly GroundTruth[],
  detections: readonly ImageDetections[],
  options: VocEvalOptions = {},
): VocEvalResult {
  const imageOf = new Map<number, number>();
  targets.forEach((t, i) => {
    if (imageOf.has(t.id)) throw new Error(`evaluateVoc: two ground-truth images have id ${t.id}`);
    imageOf.set(t.id, i);
  });
  let maxLabel = 0;
  for (const t of targets) for (let k = 0; k < t.labels.length; k++) maxLabel = Math.max(maxLabel, t.labels[k]!);
  for (const d of detections) for (let k = 0; k < d.labels.length; k++) maxLabel = Math.max(maxLabel, d.labels[k]!);
  const o: Required<VocEvalOptions> = {
    numClasses: options.numClasses ?? maxLabel,
    iouThreshold: options.iouThreshold ?? 0.5,
    use07Metric: options.use07Metric ?? false,
    pixelOffset: options.pixelOffset ?? 0,
  };
  const C = o.numClasses, I = targets.length;
  const classKey = (label: number): number => (label >= 1 && label <= C && Number.isInteger(label) ? label - 1 : -1);

  // Ground truth flat, grouped by (class, image) in file order.
  const nGt = targets.reduce((s, t) => s + t.labels.length, 0);
  const gtBox = new Float64Array(4 * nGt);
  const gtDifficult = new Uint8Array(nGt);
  const gtKey = new Int32Array(nGt);
  let j = 0;
  targets.forEach((t, i) => {
    for (let k = 0; k < t.labels.length; k++, j++) {
      for (let c = 0; c < 4; c++) gtBox[4 * j + c] = t.boxes[4 * k + c]!;
      gtDifficult[j] = t.difficult?.[k] ? 1 : 0;
      const ck = classKey(t.labels[k]!);
      gtKey[j] = ck < 0 ? -1 : ck * I + i;
    }
  });
  const gt = groupByKey(gtKey, C * I);

  // Detections flat, grouped by class in input order.
  const nDt = detections.reduce((s, d) => s + d.labels.length, 0);
  const dtBox = new Float64Array(4 * nDt);
  const dtScore = new Float64Array(nDt);
  const dtImage = new Int32Array(nDt);
  const dtKey = new Int32Array(nDt);
  j = 0;
  for (const d of detections) {
    const i = imageOf.get(d.id);
    if (i === undefined) throw new Error(`evaluateVoc: detections for image id ${d.id}, which has no ground truth entry`);
    for (let k = 0; k < d.labels.length; k++, j++) {
      for (let c = 0; c < 4; c++) dtBox[4 * j + c] = d.boxes[4 * k + c]!;
      dtScore[j] = d.scores[k]!;
      if (!Number.isFinite(dtScore[j])) throw new Error(`evaluateVoc: image ${d.id} detection ${k} has score ${d.scores[k]}`);
      dtImage[j] = i;
      dtKey[j] = classKey(d.labels[k]!);
    }
  }
  const dt = groupByKey(dtKey, C);

  const taken = new Uint8Array(nGt);
  const perClass: VocClassResult[] = [];
  for (let c = 0; c < C; c++) {
    sortByScore(dt.members, dt.start[c]!, dt.start[c + 1]!, dtScore);
    const ranked = dt.members.subarray(dt.start[c]!, dt.start[c + 1]!);
    // Keys c*I .. c*I + I - 1 are consecutive: the class's ground truth is one range.
    let npos = 0;
    for (let q = gt.start[c * I]!; q < gt.start[(c + 1) * I]!; q++) if (!gtDifficult[gt.members[q]!]) npos++;
    const { tp, fp } = matchClass(ranked, dtBox, dtImage, gt.start.subarray(c * I, (c + 1) * I + 1), gt.members, gtBox, gtDifficult, taken, o);
    perClass.push(finishClass(tp, fp, npos, o.use07Metric));
  }
  const valid = perClass.filter((r) => r.npos > 0);
  const mAP = valid.length ? valid.reduce((s, r) => s + r.ap, 0) / valid.length : NaN;
  return { mAP, ap: perClass.map((r) => r.ap), perClass, options: o };
}

/** Marks each ranked detection of one class as TP, FP or neither (difficult). */
function matchClass(
  ranked: Int32Array, dtBox: Float64Array, dtImage: Int32Array,
  gtStart: Int32Array, gtMembers: Int32Array, gtBox: Float64Array, gtDifficult: Uint8Array, taken: Uint8Array,
  o: Required<VocEvalOptions>,
): { tp: Uint8Array; fp: Uint8Array } {
  const nd = ranked.length;
  const tp = new Uint8Array(nd);
  const fp = new Uint8Array(nd);
  const off = o.pixelOffset;
  for (let d = 0; d < nd; d++) {
    const k = ranked[d]!;
    const bx1 = dtBox[4 * k]!, by1 = dtBox[4 * k + 1]!, bx2 = dtBox[4 * k + 2]!, by2 = dtBox[4 * k + 3]!;
    let ovmax = -Infinity;
    let jmax = -1;
    for (let q = gtStart[dtImage[k]!]!; q < gtStart[dtImage[k]! + 1]!; q++) {
      const g = 4 * gtMembers[q]!;
      const iw = Math.max(Math.min(gtBox[g + 2]!, bx2) - Math.max(gtBox[g]!, bx1) + off, 0);
      const ih = Math.max(Math.min(gtBox[g + 3]!, by2) - Math.max(gtBox[g + 1]!, by1) + off, 0);
      const inter = iw * ih;
      const uni =
        (bx2 - bx1 + off) * (by2 - by1 + off) + (gtBox[g + 2]! - gtBox[g]! + off) * (gtBox[g + 3]! - gtBox[g + 1]! + off) - inter;
      const ov = inter / uni;
      // numpy's max/argmax propagate NaN (0/0 for empty boxes): it then wins and fails the threshold.
      if (Number.isNaN(ov)) {
        ovmax = NaN;
        break;
      }
      if (ov > ovmax) (ovmax = ov), (jmax = gtMembers[q]!);
    }
    if (ovmax > o.iouThreshold) {
      if (!gtDifficult[jmax]) {
        if (!taken[jmax]) (tp[d] = 1), (taken[jmax] = 1);
        else fp[d] = 1;
      }
    } else {
      fp[d] = 1;
    }
  }
  return { tp, fp };
}

/** Cumulative recall and precision down the ranking, and the AP. */
function finishClass(tp: Uint8Array, fp: Uint8Array, npos: number, use07Metric: boolean): VocClassResult {
  const nd = tp.length;
  const recall = new Float64Array(nd);
  const precision = new Float64Array(nd);
  let ctp = 0, cfp = 0;
  for (let d = 0; d < nd; d++) {
    ctp += tp[d]!;
    cfp += fp[d]!;
    recall[d] = ctp / npos;
    precision[d] = ctp / Math.max(ctp + cfp, EPS);
  }
  return {
    ap: npos > 0 ? vocAp(recall, precision, use07Metric) : NaN,
    npos,
    detections: nd,
    truePositives: ctp,
    falsePositives: cfp,
    recall,
    precision,
  };
}
