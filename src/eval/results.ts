/**
 * Conversions between kdet's typed-array detections and the COCO formats:
 * ground truth as instances JSON, detections as the results JSON (an array of
 * { image_id, category_id, bbox: [x, y, w, h], score }) that pycocotools'
 * loadRes and the COCO evaluation server read.
 */
import type { CocoDatasetJson } from '../data/coco.js';
import type { CocoResult } from './coco.js';
import { cocoEvaluate } from './coco.js';
import type { CocoEvalParams, CocoEvalResult } from './coco.js';
import type { GroundTruth, ImageDetections } from './types.js';

/**
 * Ground truth as COCO JSON: category id = label, annotation ids from 1 (0
 * would trip a pycocotools quirk), area = box width * height, crowd flags
 * kept. VOC `difficult` has no COCO counterpart: such boxes count as normal.
 */
export function targetsToCoco(targets: readonly GroundTruth[], classNames: readonly string[]): CocoDatasetJson {
  let annId = 1;
  return {
    images: targets.map((t) => ({ id: t.id, file_name: `${t.id}`, width: t.width, height: t.height })),
    categories: classNames.map((name, k) => ({ id: k + 1, name })),
    annotations: targets.flatMap((t) =>
      Array.from(t.labels, (label, k) => {
        const [x1, y1, x2, y2] = [t.boxes[4 * k]!, t.boxes[4 * k + 1]!, t.boxes[4 * k + 2]!, t.boxes[4 * k + 3]!];
        return {
          id: annId++,
          image_id: t.id,
          category_id: label,
          bbox: [x1, y1, x2 - x1, y2 - y1] as [number, number, number, number],
          area: (x2 - x1) * (y2 - y1),
          iscrowd: (t.iscrowd?.[k] ? 1 : 0) as 0 | 1,
        };
      }),
    ),
  };
}

/** Detections to COCO results; `categoryIds[label - 1]` maps labels (default: id = label). */
export function toCocoResults(detections: readonly ImageDetections[], categoryIds?: readonly number[]): CocoResult[] {
  const out: CocoResult[] = [];
  for (const d of detections) {
    for (let k = 0; k < d.labels.length; k++) {
      const [x1, y1, x2, y2] = [d.boxes[4 * k]!, d.boxes[4 * k + 1]!, d.boxes[4 * k + 2]!, d.boxes[4 * k + 3]!];
      const label = d.labels[k]!;
      const category = categoryIds ? categoryIds[label - 1] : label;
      if (category === undefined) throw new Error(`toCocoResults: label ${label} has no category id`);
      out.push({ image_id: d.id, category_id: category, bbox: [x1, y1, x2 - x1, y2 - y1], score: d.scores[k]! });
    }
  }
  return out;
}

/** COCO results back to per-image detections, images in order of first appearance. */
export function fromCocoResults(results: readonly CocoResult[], categoryIds?: readonly number[]): ImageDetections[] {
  const labelOf = new Map(categoryIds?.map((id, k) => [id, k + 1]));
  const byImage = new Map<number, CocoResult[]>();
  for (const r of results) {
    const l = byImage.get(r.image_id);
    if (l) l.push(r);
    else byImage.set(r.image_id, [r]);
  }
  return [...byImage].map(([id, rs]) => ({
    id,
    boxes: Float64Array.from(rs.flatMap((r) => [r.bbox[0], r.bbox[1], r.bbox[0] + r.bbox[2], r.bbox[1] + r.bbox[3]])),
    scores: Float64Array.from(rs, (r) => r.score),
    labels: Int32Array.from(rs, (r) => {
      const label = categoryIds ? labelOf.get(r.category_id) : r.category_id;
      if (label === undefined) throw new Error(`fromCocoResults: category ${r.category_id} is not in categoryIds`);
      return label;
    }),
  }));
}

/** Results JSON text, one detection per line. Numbers are written exactly (round-trip safe). */
export function writeCocoResults(results: readonly CocoResult[]): string {
  return results.length === 0 ? '[]\n' : `[\n${results.map((r) => JSON.stringify(r)).join(',\n')}\n]\n`;
}

/** Parses results JSON strictly; errors name the file, the entry and the field. */
export function readCocoResults(text: string, file = 'results JSON'): CocoResult[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: invalid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(json)) throw new Error(`${file}: expected an array of detections`);
  return json.map((v: unknown, i): CocoResult => {
    const at = `${file}: [${i}]`;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${at}: expected an object`);
    const o = v as Record<string, unknown>;
    const num = (x: unknown, field: string, integer = false): number => {
      if (typeof x !== 'number' || !Number.isFinite(x) || (integer && !Number.isInteger(x))) {
        throw new Error(`${at}.${field}: expected ${integer ? 'an integer' : 'a number'}, got ${JSON.stringify(x)}`);
      }
      return x;
    };
    if (!Array.isArray(o.bbox) || o.bbox.length !== 4) throw new Error(`${at}.bbox: expected [x, y, width, height]`);
    return {
      image_id: num(o.image_id, 'image_id', true),
      category_id: num(o.category_id, 'category_id', true),
      bbox: o.bbox.map((x, k) => num(x, `bbox[${k}]`)) as CocoResult['bbox'],
      score: num(o.score, 'score'),
    };
  });
}

/** COCO evaluation of kdet targets and detections (labels as category ids). */
export function evaluateCoco(
  targets: readonly GroundTruth[],
  detections: readonly ImageDetections[],
  classNames: readonly string[],
  params?: Partial<CocoEvalParams>,
): CocoEvalResult {
  return cocoEvaluate(targetsToCoco(targets, classNames), toCocoResults(detections), params);
}
