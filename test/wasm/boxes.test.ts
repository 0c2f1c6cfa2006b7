// box_iou and nms against naive loops with torchvision's float32 arithmetic.
import { describe, expect, it } from 'vitest';
import { Rng } from '../helpers/random.js';
import { float32Below } from '../../src/backends/wasm/detection.js';
import { f32, newBackend, takeF32, upF32 } from './helpers.js';

const b = await newBackend();
const rng = new Rng('wasm-boxes');

function randomBoxes(n: number, size = 100): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x1 = rng.uniform(0, size), y1 = rng.uniform(0, size);
    out.push(x1, y1, x1 + rng.uniform(0, size / 3), y1 + rng.uniform(0, size / 3));
  }
  return out.map(f32);
}

/** IoU in float32 steps, as torchvision's tensor expression and nms kernel compute it. */
function iou(a: number[], i: number, bx: number[], j: number): number {
  const [ax1, ay1, ax2, ay2] = a.slice(4 * i, 4 * i + 4) as [number, number, number, number];
  const [bx1, by1, bx2, by2] = bx.slice(4 * j, 4 * j + 4) as [number, number, number, number];
  const w = Math.max(f32(Math.min(ax2, bx2) - Math.max(ax1, bx1)), 0);
  const h = Math.max(f32(Math.min(ay2, by2) - Math.max(ay1, by1)), 0);
  const inter = f32(w * h);
  const union = f32(f32(f32(f32(ax2 - ax1) * f32(ay2 - ay1)) + f32(f32(bx2 - bx1) * f32(by2 - by1))) - inter);
  return f32(inter / union);
}

describe('wasm boxIou', () => {
  for (const [na, nb] of [[1, 1], [5, 3], [17, 9], [40, 33], [3, 0]] as const) {
    it(`[${na}, 4] × [${nb}, 4]`, () => {
      const a = randomBoxes(na);
      const bb = randomBoxes(nb);
      if (na > 2 && nb > 1) {
        bb.splice(0, 4, ...a.slice(0, 4)); // identical boxes: IoU 1
        bb.splice(4, 4, a[4 + 2]!, a[4 + 1]!, a[4 + 2]! + 5, a[4 + 3]!); // touching: IoU 0
      }
      const [x, y] = [upF32(b, a), upF32(b, bb)];
      const got = takeF32(b, b.boxIou(x, na, y, nb), na * nb);
      const want = Array.from({ length: na * nb }, (_, k) => iou(a, Math.floor(k / nb), bb, k % nb));
      expect(Array.from(got)).toEqual(want);
      b.free(x);
      b.free(y);
    });
  }
});

/** torchvision.ops.nms: stable descending sort (NaN first), suppress IoU > threshold. */
function naiveNms(boxes: number[], scores: number[], threshold: number): number[] {
  const key = (i: number) => (Number.isNaN(scores[i]!) ? Infinity : scores[i]!);
  const order = [...scores.keys()].sort((p, q) => key(q) - key(p) || p - q);
  const suppressed = new Set<number>();
  const keep: number[] = [];
  order.forEach((i, oi) => {
    if (suppressed.has(i)) return;
    keep.push(i);
    for (const j of order.slice(oi + 1)) if (!suppressed.has(j) && iou(boxes, i, boxes, j) > threshold) suppressed.add(j);
  });
  return keep;
}

describe('wasm nms', () => {
  for (const [n, threshold] of [[1, 0.5], [30, 0.5], [200, 0.3], [200, 0.7], [64, 0]] as const) {
    it(`${n} boxes at threshold ${threshold}, with tied scores`, async () => {
      const boxes = randomBoxes(n, 60);
      const scores = Array.from({ length: n }, () => f32(rng.int(0, 10) / 10)); // many ties
      const [x, s] = [upF32(b, boxes), upF32(b, scores)];
      expect(Array.from(await b.nms(x, s, n, threshold))).toEqual(naiveNms(boxes, scores, threshold));
      b.free(x);
      b.free(s);
    });
  }

  it('IoU exactly at the threshold is kept, NaN scores rank first, no boxes is empty', async () => {
    // Boxes 0 and 1 overlap with IoU exactly 0.5 (float32 and float64 alike): both kept.
    const boxes = [0, 0, 2, 1, 0, 0, 1, 1, 10, 10, 11, 11, 10, 10, 11, 11].map(f32);
    const scores = [0.9, 0.8, NaN, 0.3].map(f32);
    const [x, s] = [upF32(b, boxes), upF32(b, scores)];
    expect(Array.from(await b.nms(x, s, 4, 0.5))).toEqual([2, 0, 1]);
    expect(Array.from(await b.nms(x, s, 4, 0.49))).toEqual([2, 0]);
    expect(Array.from(await b.nms(x, s, 0, 0.5))).toEqual([]);
    b.free(x);
    b.free(s);
    expect(b.memory()).toEqual({ bytes: 0, buffers: 0 });
  });
});

describe('float32Below', () => {
  it('is the largest float32 not above a float64 threshold', () => {
    for (const t of [0.7, 0.5, 0.3, 1 / 3, 0, -0.1, 1e-50, -1e-50, 1, Infinity]) {
      const f = float32Below(t);
      expect(f).toBe(Math.fround(f));
      expect(f).toBeLessThanOrEqual(t);
      // The next float32 up is above t.
      const next = new Float32Array([f]);
      const bits = new Int32Array(next.buffer);
      if (Number.isFinite(f)) {
        bits[0] = f >= 0 ? bits[0]! + 1 : bits[0]! - 1; // never −0: below a negative t it is −1e-45
        expect(next[0]!).toBeGreaterThan(t);
      }
    }
    expect(Number.isNaN(float32Below(NaN))).toBe(true);
  });
});
