// Hand-worked COCO AP cases, one rule each. With 101 recall thresholds
// r_i = i/100, a category's AP at one IoU is the mean over i of the envelope
// precision at the first rank whose recall reaches r_i (0 past the last).
import { describe, expect, it } from 'vitest';
import type { CocoAnnotation, CocoDatasetJson } from '../../src/data/coco.js';
import { cocoEvaluate, formatCocoStats } from '../../src/eval/index.js';
import type { CocoResult } from '../../src/eval/index.js';

type Bb = [number, number, number, number];
function dataset(images: number[], anns: [image: number, cat: number, bbox: Bb, extra?: Partial<CocoAnnotation>][], cats = [1]): CocoDatasetJson {
  return {
    images: images.map((id) => ({ id, file_name: `${id}.jpg`, width: 200, height: 200 })),
    categories: cats.map((id) => ({ id, name: `c${id}` })),
    annotations: anns.map(([image_id, category_id, bbox, extra], k) => ({
      id: k + 1, image_id, category_id, bbox, area: bbox[2] * bbox[3], iscrowd: 0, ...extra,
    })),
  };
}
const res = (image_id: number, category_id: number, bbox: Bb, score: number): CocoResult => ({ image_id, category_id, bbox, score });
const A: Bb = [0, 0, 10, 10];
const B: Bb = [50, 50, 20, 20];
const FAR: Bb = [150, 150, 10, 10];
const expectClose = (a: ArrayLike<number>, b: number[]): void => b.forEach((v, i) => expect(a[i]).toBeCloseTo(v, 12));
const [AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl] = Array.from({ length: 12 }, (_, i) => i);

describe('cocoEvaluate rules', () => {
  it('a perfect small detection: 1 where ground truth exists, -1 elsewhere', () => {
    const r = cocoEvaluate(dataset([1], [[1, 1, A]]), [res(1, 1, A, 0.9)]);
    // Precision is tp / (tp + fp + eps), so "1" is 1 / (1 + 2^-52) in pycocotools too.
    expectClose(r.stats, [1, 1, 1, 1, -1, -1, 1, 1, 1, 1, -1, -1]);
    expect(formatCocoStats(r).split('\n')[0]).toBe(' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000');
  });

  it('a duplicate before the last true positive costs precision', () => {
    // A .9 TP, A .8 FP, B .7 TP: recall .5,.5,1, precision 1,.5,2/3, envelope 1,2/3,2/3.
    // r_0..r_50 (<= .5) -> 1; r_51..r_100 -> 2/3. Every IoU threshold alike.
    const r = cocoEvaluate(dataset([1], [[1, 1, A], [1, 1, B]]), [res(1, 1, A, 0.9), res(1, 1, A, 0.8), res(1, 1, B, 0.7)]);
    expect(r.stats[AP]).toBeCloseTo((51 + 50 * (2 / 3)) / 101, 12);
    expect(r.stats[AR100]).toBe(1);
  });

  it('a later duplicate after full recall costs nothing', () => {
    const r = cocoEvaluate(dataset([1], [[1, 1, A]]), [res(1, 1, A, 0.9), res(1, 1, A, 0.8)]);
    expect(r.stats[AP]).toBeCloseTo(1, 12);
  });

  it('crowd regions: matched detections are ignored, IoU is over the detection area', () => {
    // Crowd C covers 0..100; two small detections inside it have IoU 1 with it (intersection
    // over detection), so they are ignored instead of being false positives before A's TP.
    const C: Bb = [0, 0, 100, 100];
    const g = dataset([1], [[1, 1, A], [1, 1, C, { iscrowd: 1 }]]);
    const dets = [res(1, 1, [20, 20, 10, 10], 0.95), res(1, 1, [40, 40, 10, 10], 0.9), res(1, 1, A, 0.8)];
    // tp 0,0,1 fp 0,0,0: precision 0,0,1 -> envelope 1 -> AP 1.
    expect(cocoEvaluate(g, dets).stats[AP]).toBeCloseTo(1, 12);
    // As a normal box, C (area 10000) matches nothing at IoU .01: two FPs first, AP 1/3.
    const plain = dataset([1], [[1, 1, A], [1, 1, C]]);
    // ...and C is a missed object: recall stops at 1/2: r_0..r_50 -> 1/3, the rest 0.
    expect(cocoEvaluate(plain, dets).stats[AP]).toBeCloseTo((51 * (1 / 3)) / 101, 12);
  });

  it('a category with only crowd ground truth is -1', () => {
    const r = cocoEvaluate(dataset([1], [[1, 1, A, { iscrowd: 1 }]]), [res(1, 1, A, 0.9)]);
    expect(r.stats[AP]).toBe(-1);
  });

  it('area ranges use the annotation area field, detections their box area', () => {
    // Box 40x40 (1600, medium) with area field 900 (small): counts as small only.
    const big: Bb = [0, 0, 40, 40];
    const r = cocoEvaluate(dataset([1], [[1, 1, big, { area: 900 }]]), [res(1, 1, big, 0.9)]);
    expect(r.stats[APs]).toBeCloseTo(1, 12);
    expect(r.stats[APm]).toBe(-1);
  });

  it('unmatched detections outside the area range are ignored', () => {
    // A small GT found at .5; a medium FP (40x40) at .9.
    const g = dataset([1], [[1, 1, A]]);
    const r = cocoEvaluate(g, [res(1, 1, [100, 100, 40, 40], 0.9), res(1, 1, A, 0.5)]);
    // all: FP then TP -> precision 0,.5, envelope .5 everywhere -> .5.
    expect(r.stats[AP]).toBeCloseTo(0.5, 12);
    // small: the FP is ignored -> precision 0 (ignored),1 -> envelope 1 -> 1.
    expect(r.stats[APs]).toBeCloseTo(1, 12);
  });

  it('maxDets limits detections per image', () => {
    const r = cocoEvaluate(dataset([1], [[1, 1, A], [1, 1, B]]), [res(1, 1, A, 0.9), res(1, 1, B, 0.8)]);
    expect(r.stats[AR1]).toBe(0.5);
    expect(r.stats[AR10]).toBe(1);
  });

  it('more than 100 detections in an image: the lowest-scoring are dropped', () => {
    const fps = Array.from({ length: 100 }, (_, k) => res(1, 1, [100 + (k % 10), 100 + Math.floor(k / 10), 5, 5], 0.5 + k / 1000));
    const r = cocoEvaluate(dataset([1], [[1, 1, A]]), [...fps, res(1, 1, A, 0.1)]);
    expect(r.stats[AP]).toBe(0); // the TP ranks 101st
    expect(r.stats[AR100]).toBe(0);
  });

  it('ties across images keep image-id order, then rank (stable mergesort)', () => {
    // One GT per image; a TP and an FP, both scoring .5.
    const g = dataset([1, 2], [[1, 1, A], [2, 1, A]]);
    // FP on image 1 ranks first: precision 0,.5 recall 0,.5 -> r_0..r_50 -> .5.
    expect(cocoEvaluate(g, [res(2, 1, A, 0.5), res(1, 1, FAR, 0.5)]).stats[AP]).toBeCloseTo((51 * 0.5) / 101, 12);
    // TP on image 1 ranks first: precision 1,.5 recall .5,.5 -> r_0..r_50 -> 1.
    expect(cocoEvaluate(g, [res(2, 1, FAR, 0.5), res(1, 1, A, 0.5)]).stats[AP]).toBeCloseTo(51 / 101, 12);
  });

  it('equal IoU with two boxes: the later box is taken', () => {
    // G1 0..10, G2 2..12; d1 1..11 has IoU 90/110 with both and takes G2; d2 = G1 then
    // matches G1. IoU thresholds .5...8 (7): both TP -> 1. At .85, .9, .95 d1 misses and
    // only d2 hits: precision 0,.5 recall 0,.5 -> 51*.5/101.
    const g = dataset([1], [[1, 1, [0, 0, 10, 10]], [1, 1, [2, 0, 10, 10]]]);
    const r = cocoEvaluate(g, [res(1, 1, [1, 0, 10, 10], 0.9), res(1, 1, [0, 0, 10, 10], 0.8)]);
    expect(r.stats[AP]).toBeCloseTo((7 + 3 * ((51 * 0.5) / 101)) / 10, 12);
  });

  it('empty categories: no ground truth is -1 and left out of the mean; no detections is 0', () => {
    // Category 1 perfect, 2 has ground truth but no detections, 3 detections only, 4 nothing.
    const g = dataset([1], [[1, 1, A], [1, 2, B]], [1, 2, 3, 4]);
    const r = cocoEvaluate(g, [res(1, 1, A, 0.9), res(1, 3, FAR, 0.9)]);
    expectClose(r.categoryAP, [1, 0, -1, -1]);
    expect(r.stats[AP]).toBeCloseTo(0.5, 12);
  });

  it('pycocotools quirk: a match to annotation id 0 counts as no match', () => {
    const g = dataset([1], [[1, 1, A, { id: 0 }]]);
    expect(cocoEvaluate(g, [res(1, 1, A, 0.9)]).stats[AP]).toBe(0);
  });

  it('detections on categories outside the ground truth are ignored; unknown images throw', () => {
    const g = dataset([1], [[1, 1, A]]);
    expect(cocoEvaluate(g, [res(1, 1, A, 0.9), res(1, 99, FAR, 0.99)]).stats[AP]).toBeCloseTo(1, 12);
    expect(() => cocoEvaluate(g, [res(5, 1, A, 0.9)])).toThrow(/image_id 5/);
  });
});
