// Hand-worked PASCAL VOC AP cases, one rule each; the expected values are
// derived in the comments from the devkit's definitions.
import { describe, expect, it } from 'vitest';
import { evaluateVoc, vocAp } from '../../src/eval/index.js';
import type { GroundTruth, ImageDetections } from '../../src/eval/index.js';

type Box = [number, number, number, number];
const gt = (id: number, objs: [Box, number, number?][]): GroundTruth => ({
  id, height: 100, width: 100,
  boxes: objs.flatMap((o) => o[0]), labels: objs.map((o) => o[1]), difficult: objs.map((o) => o[2] ?? 0),
});
const det = (id: number, ds: [Box, number, number][]): ImageDetections => ({
  id, boxes: ds.flatMap((d) => d[0]), labels: ds.map((d) => d[1]), scores: ds.map((d) => d[2]),
});
const A: Box = [0, 0, 10, 10];
const B: Box = [50, 50, 70, 70];
const FAR: Box = [80, 0, 90, 10];

describe('vocAp', () => {
  it('all-point: area under the precision envelope', () => {
    // rec .5,.5,1 prec 1,.5,2/3: envelope 1 up to recall .5, then 2/3: .5 + .5 * 2/3.
    expect(vocAp([0.5, 0.5, 1], [1, 0.5, 2 / 3], false)).toBeCloseTo(5 / 6, 12);
  });
  it('11-point: recall >= 0, .1, .., .5 see precision 1, .6 .. 1 see 2/3', () => {
    expect(vocAp([0.5, 0.5, 1], [1, 0.5, 2 / 3], true)).toBeCloseTo((6 + 5 * (2 / 3)) / 11, 12);
  });
  it('no detections: AP 0', () => {
    expect(vocAp([], [], false)).toBe(0);
    expect(vocAp([], [], true)).toBe(0);
  });
});

describe('evaluateVoc rules', () => {
  it('a perfect detection has AP 1', () => {
    const r = evaluateVoc([gt(1, [[A, 1]])], [det(1, [[A, 1, 0.9]])]);
    expect(r.ap).toEqual([1]);
    expect(r.mAP).toBe(1);
  });

  it('duplicates are false positives', () => {
    // A .9 TP, A .8 duplicate FP, B .7 TP; npos 2 -> rec .5,.5,1 prec 1,.5,2/3.
    const r = evaluateVoc([gt(1, [[A, 1], [B, 1]])], [det(1, [[A, 1, 0.9], [A, 1, 0.8], [B, 1, 0.7]])]);
    expect(r.perClass[0]!.truePositives).toBe(2);
    expect(r.perClass[0]!.falsePositives).toBe(1);
    expect(r.ap[0]).toBeCloseTo(5 / 6, 12);
    const r07 = evaluateVoc([gt(1, [[A, 1], [B, 1]])], [det(1, [[A, 1, 0.9], [A, 1, 0.8], [B, 1, 0.7]])], { use07Metric: true });
    expect(r07.ap[0]).toBeCloseTo(28 / 33, 12);
  });

  it('a detection takes its best-overlap box only, even when that box is taken', () => {
    // Second detection equals A (IoU 1) though B2 (IoU 90/110) is free: a duplicate, FP.
    const B2: Box = [1, 0, 11, 10];
    const r = evaluateVoc([gt(1, [[A, 1], [B2, 1]])], [det(1, [[A, 1, 0.9], [A, 1, 0.8]])]);
    // rec .5,.5 prec 1,.5: envelope 1 to recall .5, nothing beyond -> AP .5.
    expect(r.ap[0]).toBeCloseTo(0.5, 12);
  });

  it('unmatched detections: wrong place, wrong image, IoU exactly 0.5 (strict >)', () => {
    const half: Box = [0, 0, 10, 20]; // IoU with A = 100/200 = 0.5
    const r = evaluateVoc([gt(1, [[A, 1]]), gt(2, [])], [det(1, [[FAR, 1, 0.9], [half, 1, 0.8]]), det(2, [[A, 1, 0.7]])]);
    expect(r.perClass[0]!.falsePositives).toBe(3);
    expect(r.ap[0]).toBe(0);
  });

  it('difficult boxes: not counted in npos, detections on them neither TP nor FP', () => {
    // B difficult: detections .9 and .85 on B ignored (even the second), A .8 TP.
    // rec 0,0,1 prec 0,0,1 -> AP 1. Without the flag: rec .5,.5,1 prec 1,.5,2/3 -> 5/6.
    const dets = [det(1, [[B, 1, 0.9], [B, 1, 0.85], [A, 1, 0.8]])];
    const r = evaluateVoc([gt(1, [[A, 1], [B, 1, 1]])], dets);
    expect(r.perClass[0]!.npos).toBe(1);
    expect(r.perClass[0]!.falsePositives).toBe(0);
    expect(r.ap[0]).toBeCloseTo(1, 12);
    expect(evaluateVoc([gt(1, [[A, 1], [B, 1, 0]])], dets).ap[0]).toBeCloseTo(5 / 6, 12);
  });

  it('ties in score keep input order (stable, as the MATLAB devkit)', () => {
    // FP then TP at equal score: rec 0,1 prec 0,.5 -> AP .5; TP first: prec 1,.5 -> AP 1.
    const g = [gt(1, [[A, 1]])];
    expect(evaluateVoc(g, [det(1, [[FAR, 1, 0.5], [A, 1, 0.5]])]).ap[0]).toBeCloseTo(0.5, 12);
    expect(evaluateVoc(g, [det(1, [[A, 1, 0.5], [FAR, 1, 0.5]])]).ap[0]).toBeCloseTo(1, 12);
  });

  it('ranks detections across images by score', () => {
    // img2 FP .9, img1 TP .8, img2 TP .7: rec 0,.5,1 prec 0,.5,2/3 -> (.5)(2/3) + (.5)(2/3).
    const r = evaluateVoc(
      [gt(1, [[A, 1]]), gt(2, [[B, 1]])],
      [det(1, [[A, 1, 0.8]]), det(2, [[FAR, 1, 0.9], [B, 1, 0.7]])],
    );
    expect(r.ap[0]).toBeCloseTo(2 / 3, 12);
  });

  it('empty classes: no ground truth gives NaN, left out of mAP; no detections gives 0', () => {
    // class 1 perfect, class 2 ground truth but no detections, class 3 detections only.
    const r = evaluateVoc([gt(1, [[A, 1], [B, 2]])], [det(1, [[A, 1, 0.9], [FAR, 3, 0.8]])], { numClasses: 4 });
    expect(r.ap[0]).toBe(1);
    expect(r.ap[1]).toBe(0);
    expect(r.ap[2]).toBeNaN();
    expect(r.ap[3]).toBeNaN();
    expect(r.mAP).toBeCloseTo(0.5, 12);
  });

  it('pixelOffset 1 adds a pixel to widths and heights, as the devkit does', () => {
    // GT 1..4 inclusive (4x4). Detection 2..4 x 1..3: +1 -> 3*3/(16+9-9) = .5625 TP;
    // continuous -> 2*2/(9+4-4) = .444 FP.
    const g = [gt(1, [[[1, 1, 4, 4], 1]])];
    const d = [det(1, [[[2, 1, 4, 3], 1, 0.9]])];
    expect(evaluateVoc(g, d, { pixelOffset: 1 }).ap[0]).toBe(1);
    expect(evaluateVoc(g, d, { pixelOffset: 0 }).ap[0]).toBe(0);
  });

  it('rejects detections for unknown images and duplicate image ids', () => {
    expect(() => evaluateVoc([gt(1, [])], [det(7, [])])).toThrow(/image id 7/);
    expect(() => evaluateVoc([gt(1, []), gt(1, [])], [])).toThrow(/id 1/);
  });
});
