import { describe, expect, it } from 'vitest';
import {
  evaluateCoco, evaluateVoc, fromCocoResults, readCocoResults, targetsToCoco, toCocoResults, writeCocoResults,
} from '../../src/eval/index.js';
import type { GroundTruth, ImageDetections } from '../../src/eval/index.js';

const dets: ImageDetections[] = [
  { id: 7, boxes: Float32Array.of(1.5, 2.25, 11.5, 12.25, 0, 0, 4, 4), scores: Float32Array.of(0.9, 0.3), labels: Int32Array.of(1, 2) },
  { id: 9, boxes: [10, 10, 20, 30], scores: [0.5], labels: [2] },
];

describe('COCO results JSON', () => {
  it('writes x,y,w,h with mapped category ids and reads back exactly', () => {
    const results = toCocoResults(dets, [3, 8]);
    expect(results[0]).toEqual({ image_id: 7, category_id: 3, bbox: [1.5, 2.25, 10, 10], score: Math.fround(0.9) });
    expect(results[2]).toEqual({ image_id: 9, category_id: 8, bbox: [10, 10, 10, 20], score: 0.5 });
    const text = writeCocoResults(results);
    expect(readCocoResults(text)).toEqual(results);
    const back = fromCocoResults(readCocoResults(text), [3, 8]);
    expect(back.map((d) => d.id)).toEqual([7, 9]);
    expect(Array.from(back[0]!.boxes)).toEqual([1.5, 2.25, 11.5, 12.25, 0, 0, 4, 4]);
    expect(Array.from(back[0]!.labels)).toEqual([1, 2]);
    expect(writeCocoResults([])).toBe('[]\n');
  });

  it('rejects malformed results naming the entry and field', () => {
    expect(() => readCocoResults('{', 'r.json')).toThrow(/r\.json: invalid JSON/);
    expect(() => readCocoResults('{}', 'r.json')).toThrow(/expected an array/);
    expect(() => readCocoResults('[{"image_id":1,"category_id":1,"bbox":[0,0,1],"score":1}]', 'r.json')).toThrow(/r\.json: \[0\]\.bbox/);
    expect(() => readCocoResults('[{"image_id":1.5,"category_id":1,"bbox":[0,0,1,1],"score":1}]', 'r.json')).toThrow(/\[0\]\.image_id: expected an integer/);
    expect(() => readCocoResults('[{"image_id":1,"category_id":1,"bbox":[0,0,1,1],"score":"x"}]', 'r.json')).toThrow(/\[0\]\.score/);
  });
});

describe('evaluating kdet targets', () => {
  const targets: GroundTruth[] = [
    { id: 7, height: 50, width: 50, boxes: [1.5, 2.25, 11.5, 12.25], labels: [1], iscrowd: [0] },
    { id: 9, height: 50, width: 50, boxes: [10, 10, 20, 30, 0, 0, 4, 4], labels: [2, 2], iscrowd: [0, 1] },
  ];
  it('targetsToCoco keeps crowd flags and numbers annotations from 1', () => {
    const g = targetsToCoco(targets, ['a', 'b']);
    expect(g.annotations.map((a) => a.id)).toEqual([1, 2, 3]);
    expect(g.annotations[2]).toMatchObject({ iscrowd: 1, area: 16, bbox: [0, 0, 4, 4] });
    expect(g.categories).toEqual([{ id: 1, name: 'a' }, { id: 2, name: 'b' }]);
  });
  it('evaluateCoco and evaluateVoc agree on a perfect result', () => {
    const perfect: ImageDetections[] = targets.map((t) => ({ id: t.id, boxes: t.boxes, labels: t.labels, scores: [0.9, 0.8].slice(0, t.labels.length) }));
    expect(evaluateCoco(targets, perfect, ['a', 'b']).stats[1]).toBeCloseTo(1, 12);
    expect(evaluateVoc(targets, perfect).mAP).toBeCloseTo(1, 12);
  });
});
