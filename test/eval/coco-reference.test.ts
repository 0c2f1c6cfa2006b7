// Compares cocoEvaluate with pycocotools' COCOeval on the fixtures that
// scripts/eval-make-fixtures.py recorded (random data: crowd, area ranges,
// sparse ids, ties, >100 detections per image, an annotation with id 0,
// areas on the range limits, IoU exactly 0.5 and 1).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCocoJson } from '../../src/data/coco.js';
import { cocoEvaluate, defaultCocoParams, readCocoResults } from '../../src/eval/index.js';

const dir = new URL('../fixtures/eval/', import.meta.url);
const load = (name: string) => JSON.parse(readFileSync(new URL(`${name}.json`, dir), 'utf8'));

function expectClose(actual: ArrayLike<number>, expected: number[], what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (Math.abs(actual[i]! - expected[i]!) > 1e-6) {
      throw new Error(`${what}[${i}]: got ${actual[i]}, pycocotools ${expected[i]}`);
    }
  }
}

describe('COCO AP matches pycocotools', () => {
  it('builds the same IoU and recall thresholds as numpy.linspace', () => {
    const f = load('coco-mixed');
    const p = defaultCocoParams();
    expect(p.iouThrs).toEqual(f.iouThrs);
    expect(p.recThrs).toEqual(f.recThrs);
  });

  for (const name of ['coco-mixed', 'coco-ties-maxdets', 'coco-empty-classes', 'coco-boundaries']) {
    it(name, () => {
      const f = load(name);
      const gt = parseCocoJson(f.gt, `${name}.gt`);
      const results = readCocoResults(JSON.stringify(f.results), `${name}.results`);
      const r = cocoEvaluate(gt, results);
      expectClose(r.stats, f.stats, 'stats');
      expectClose(r.recall, f.recall, 'recall');
      const [T, R, K, A, M] = [10, 101, r.params.catIds.length, 4, 3];
      const means: number[] = [];
      for (let t = 0; t < T; t++) for (let k = 0; k < K; k++) for (let a = 0; a < A; a++) for (let m = 0; m < M; m++) {
        let s = 0, n = 0;
        for (let q = 0; q < R; q++) {
          const v = r.precision[(((t * R + q) * K + k) * A + a) * M + m]!;
          if (v > -1) (s += v), n++;
        }
        means.push(n ? s / n : -1);
      }
      expectClose(means, f.precisionMeanOverRecall, 'precision mean over recall');
      const slice: number[] = [];
      for (let q = 0; q < R; q++) for (let k = 0; k < K; k++) slice.push(r.precision[(((0 * R + q) * K + k) * A + 0) * M + 2]!);
      expectClose(slice, f.precisionSlice, 'precision at IoU .5');
    });
  }
});
