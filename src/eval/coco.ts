/**
 * COCO box AP with pycocotools' COCOeval rules (iouType 'bbox', useCats 1),
 * restructured for speed but giving the same numbers for the same inputs
 * (test/eval/coco-reference.test.ts checks them against pycocotools itself):
 *  - IoU on [x, y, w, h] boxes with no +1; against a crowd region the union is
 *    the detection's own area (intersection over detection);
 *  - per image and category: detections sorted by descending score with a
 *    stable sort (numpy mergesort) and cut to the largest maxDets; ground
 *    truth that is crowd or whose `area` field lies outside the area range is
 *    ignored and moved last (stable);
 *  - greedy matching per IoU threshold t (>= min(t, 1 - 1e-10)): each
 *    detection takes the best-IoU unmatched box, ties going to the later box,
 *    stopping at ignored boxes once it holds a regular one; crowd boxes can be
 *    matched many times; a detection matched to an ignored box is ignored, and
 *    so is an unmatched one whose own area (w*h) is outside the range;
 *  - per category, area range and maxDets: detections of all images (each cut
 *    to maxDets) merged by descending score (stable: image order, then rank),
 *    precision made monotone, sampled at 101 recall thresholds with
 *    searchsorted(side='left'), zero past the highest recall reached;
 *  - a category/area with no non-ignored ground truth is -1 and left out of
 *    the means.
 * Quirk kept on purpose: pycocotools records a match by the ground truth's
 * annotation id, so a match to an annotation whose id is 0 counts as no match.
 */
import type { CocoDatasetJson } from '../data/coco.js';
import { accumulateCategory, evaluateCategory } from './coco-core.js';
import { groupByKey } from './group.js';

/** One detection in the COCO results format. */
export interface CocoResult {
  image_id: number;
  category_id: number;
  /** x, y, width, height. */
  bbox: [number, number, number, number];
  score: number;
}

export interface CocoEvalParams {
  iouThrs: number[];
  recThrs: number[];
  maxDets: number[];
  areaRng: [number, number][];
  areaRngLbl: string[];
  /** Default: every image / category of the ground truth. */
  imgIds?: number[];
  catIds?: number[];
}

/** numpy.linspace(start, stop, num): i * step + start, the last set to stop. */
function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  return Array.from({ length: num }, (_, i) => (i === num - 1 ? stop : i * step + start));
}

export function defaultCocoParams(): CocoEvalParams {
  return {
    iouThrs: linspace(0.5, 0.95, 10),
    recThrs: linspace(0, 1, 101),
    maxDets: [1, 10, 100],
    areaRng: [[0, 1e10], [0, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e10]],
    areaRngLbl: ['all', 'small', 'medium', 'large'],
  };
}

export interface CocoEvalResult {
  params: Required<CocoEvalParams>;
  /** [T,R,K,A,M] row-major, -1 where there is no ground truth. */
  precision: Float64Array;
  /** [T,K,A,M] row-major. */
  recall: Float64Array;
  /** The 12 numbers COCOeval.summarize() prints, in its order (see COCO_STAT_NAMES). */
  stats: number[];
  /** AP@[.5:.95] per category (area all, largest maxDets), -1 without ground truth. */
  categoryAP: number[];
}

export const COCO_STAT_NAMES = [
  'AP', 'AP50', 'AP75', 'APsmall', 'APmedium', 'APlarge',
  'AR1', 'AR10', 'AR100', 'ARsmall', 'ARmedium', 'ARlarge',
] as const;

/** Evaluates COCO-format results against COCO-format ground truth. */
export function cocoEvaluate(gt: CocoDatasetJson, results: readonly CocoResult[], params: Partial<CocoEvalParams> = {}): CocoEvalResult {
  const base = defaultCocoParams();
  const sortedUnique = (a: number[]): number[] => [...new Set(a)].sort((x, y) => x - y);
  const p: Required<CocoEvalParams> = {
    ...base,
    ...params,
    imgIds: sortedUnique(params.imgIds ?? gt.images.map((i) => i.id)),
    catIds: sortedUnique(params.catIds ?? gt.categories.map((c) => c.id)),
    maxDets: [...(params.maxDets ?? base.maxDets)].sort((a, b) => a - b),
  };
  const T = p.iouThrs.length, R = p.recThrs.length, K = p.catIds.length, A = p.areaRng.length, M = p.maxDets.length;
  const I = p.imgIds.length;
  const imgIndex = new Map(p.imgIds.map((id, i) => [id, i]));
  const catIndex = new Map(p.catIds.map((id, k) => [id, k]));
  const knownImages = new Set(gt.images.map((i) => i.id));
  const keyOf = (image: number, category: number): number => {
    const i = imgIndex.get(image), k = catIndex.get(category);
    return i === undefined || k === undefined ? -1 : k * I + i;
  };

  // Flat arrays grouped by (category, image), file order kept within a group.
  const anns = gt.annotations;
  const gtBox = new Float64Array(4 * anns.length);
  anns.forEach((a, j) => gtBox.set(a.bbox, 4 * j));
  const gtGroups = {
    ...groupByKey(Int32Array.from(anns, (a) => keyOf(a.image_id, a.category_id)), K * I),
    box: gtBox,
    area: Float64Array.from(anns, (a) => a.area),
    crowd: Uint8Array.from(anns, (a) => (a.iscrowd ? 1 : 0)),
    id: Float64Array.from(anns, (a) => a.id),
  };
  const dtBox = new Float64Array(4 * results.length);
  const dtArea = new Float64Array(results.length);
  const dtScore = new Float64Array(results.length);
  const dtKey = new Int32Array(results.length);
  results.forEach((r, n) => {
    if (!knownImages.has(r.image_id)) throw new Error(`cocoEvaluate: results[${n}].image_id ${r.image_id} is not in the ground truth`);
    if (!Number.isFinite(r.score) || r.bbox.length !== 4 || !r.bbox.every(Number.isFinite)) {
      throw new Error(`cocoEvaluate: results[${n}] needs a finite score and bbox [x, y, w, h]`);
    }
    dtBox.set(r.bbox, 4 * n);
    dtArea[n] = r.bbox[2] * r.bbox[3];
    dtScore[n] = r.score;
    dtKey[n] = keyOf(r.image_id, r.category_id);
  });
  const dtGroups = { ...groupByKey(dtKey, K * I), box: dtBox, area: dtArea, score: dtScore };

  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  const match = { iouThrs: p.iouThrs, areaRng: p.areaRng, maxDet: p.maxDets[M - 1]! };
  for (let k = 0; k < K; k++) {
    accumulateCategory(evaluateCategory(k, I, gtGroups, dtGroups, match), k, K, p, precision, recall);
  }
  const stats = summarize(p, precision, recall);
  const categoryAP = Array.from({ length: K }, (_, k) => {
    const vals: number[] = [];
    for (let t = 0; t < T; t++) for (let r = 0; r < R; r++) vals.push(precision[(((t * R + r) * K + k) * A + 0) * M + M - 1]!);
    return meanOfValid(vals);
  });
  return { params: p, precision, recall, stats, categoryAP };
}

function meanOfValid(vals: ArrayLike<number>): number {
  let s = 0, n = 0;
  for (let i = 0; i < vals.length; i++) if (vals[i]! > -1) (s += vals[i]!), n++;
  return n ? s / n : -1;
}

/** COCOeval.summarize(): means over entries > -1; an absent setting gives -1. */
function summarize(p: Required<CocoEvalParams>, precision: Float64Array, recall: Float64Array): number[] {
  const T = p.iouThrs.length, R = p.recThrs.length, K = p.catIds.length, A = p.areaRng.length, M = p.maxDets.length;
  const one = (ap: boolean, iouThr: number | undefined, area: string, maxDets: number): number => {
    const ts = p.iouThrs.map((v, t) => t).filter((t) => iouThr === undefined || p.iouThrs[t] === iouThr);
    const as = p.areaRngLbl.map((l, a) => (l === area ? a : -1)).filter((a) => a >= 0);
    const ms = p.maxDets.map((d, m) => (d === maxDets ? m : -1)).filter((m) => m >= 0);
    const vals: number[] = [];
    for (const t of ts) for (const a of as) for (const m of ms) for (let k = 0; k < K; k++) {
      if (ap) for (let r = 0; r < R; r++) vals.push(precision[(((t * R + r) * K + k) * A + a) * M + m]!);
      else vals.push(recall[((t * K + k) * A + a) * M + m]!);
    }
    return meanOfValid(vals);
  };
  const md = p.maxDets;
  return [
    one(true, undefined, 'all', md[2] ?? 100),
    one(true, 0.5, 'all', md[2] ?? 100),
    one(true, 0.75, 'all', md[2] ?? 100),
    one(true, undefined, 'small', md[2] ?? 100),
    one(true, undefined, 'medium', md[2] ?? 100),
    one(true, undefined, 'large', md[2] ?? 100),
    one(false, undefined, 'all', md[0] ?? 1),
    one(false, undefined, 'all', md[1] ?? 10),
    one(false, undefined, 'all', md[2] ?? 100),
    one(false, undefined, 'small', md[2] ?? 100),
    one(false, undefined, 'medium', md[2] ?? 100),
    one(false, undefined, 'large', md[2] ?? 100),
  ];
}

/** The twelve lines COCOeval.summarize() prints, formatted the same way. */
export function formatCocoStats(r: CocoEvalResult): string {
  const p = r.params;
  const lines: [boolean, number | undefined, string, number][] = [
    [true, undefined, 'all', 2], [true, 0.5, 'all', 2], [true, 0.75, 'all', 2],
    [true, undefined, 'small', 2], [true, undefined, 'medium', 2], [true, undefined, 'large', 2],
    [false, undefined, 'all', 0], [false, undefined, 'all', 1], [false, undefined, 'all', 2],
    [false, undefined, 'small', 2], [false, undefined, 'medium', 2], [false, undefined, 'large', 2],
  ];
  return lines
    .map(([ap, thr, area, m], i) => {
      const title = ap ? 'Average Precision' : 'Average Recall';
      const iou = thr === undefined ? `${p.iouThrs[0]!.toFixed(2)}:${p.iouThrs[p.iouThrs.length - 1]!.toFixed(2)}` : thr.toFixed(2);
      const v = r.stats[i]!;
      return ` ${title.padEnd(18)} ${ap ? '(AP)' : '(AR)'} @[ IoU=${iou.padEnd(9)} | area=${area.padStart(6)} | maxDets=${String(p.maxDets[m] ?? '').padStart(3)} ] = ${v.toFixed(3)}`;
    })
    .join('\n');
}
