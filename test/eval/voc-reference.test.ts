// Compares evaluateVoc with the devkit's algorithm as re-implemented in
// scripts/eval-make-fixtures.py (random data, difficult boxes, tied scores).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { evaluateVoc } from '../../src/eval/index.js';
import type { GroundTruth, ImageDetections } from '../../src/eval/index.js';

interface Fixture {
  images: { id: number; width: number; height: number; objects: { cls: number; bbox: number[]; difficult: number }[] }[];
  detections: { image: number; label: number; score: number; box: number[] }[];
  numClasses: number;
  ap07: (number | null)[];
  apAll: (number | null)[];
  npos: number[];
}

const load = (name: string): Fixture =>
  JSON.parse(readFileSync(new URL(`../fixtures/eval/${name}.json`, import.meta.url), 'utf8'));

/** shift moves x1,y1 (devkit 1-based inclusive -> kdet continuous when -1). */
function inputs(f: Fixture, shift: number): [GroundTruth[], ImageDetections[]] {
  const move = (b: number[]) => [b[0]! + shift, b[1]! + shift, b[2]!, b[3]!];
  const targets = f.images.map((im) => ({
    id: im.id,
    height: im.height,
    width: im.width,
    boxes: im.objects.flatMap((o) => move(o.bbox)),
    labels: Int32Array.from(im.objects, (o) => o.cls),
    difficult: Uint8Array.from(im.objects, (o) => o.difficult),
  }));
  const dets = f.images.map((im) => {
    const mine = f.detections.filter((d) => d.image === im.id);
    return {
      id: im.id,
      boxes: mine.flatMap((d) => move(d.box)),
      scores: mine.map((d) => d.score),
      labels: mine.map((d) => d.label),
    };
  });
  return [targets, dets];
}

describe('VOC AP matches the devkit algorithm', () => {
  for (const name of ['voc-integer', 'voc-float']) {
    for (const use07Metric of [true, false]) {
      it(`${name}, ${use07Metric ? '11-point' : 'all-point'}`, () => {
        const f = load(name);
        const expected = use07Metric ? f.ap07 : f.apAll;
        const [targets, dets] = inputs(f, 0);
        const r = evaluateVoc(targets, dets, { numClasses: f.numClasses, use07Metric, pixelOffset: 1 });
        r.perClass.forEach((c, k) => {
          expect(c.npos).toBe(f.npos[k]);
          if (expected[k] === null) expect(c.ap).toBeNaN();
          else expect(Math.abs(c.ap - expected[k]!)).toBeLessThan(1e-9);
        });
        // The same boxes as continuous coordinates, without the +1, give the same AP.
        const [ct, cd] = inputs(f, -1);
        const rc = evaluateVoc(ct, cd, { numClasses: f.numClasses, use07Metric });
        rc.ap.forEach((ap, k) => expect(Math.abs(ap - r.ap[k]!)).toBeLessThan(1e-9));
      });
    }
  }
});
