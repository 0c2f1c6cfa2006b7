import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/data/rng.js';
import { applyResize, hflip, IMAGENET_NORMALISATION, normalise, resizedShape, scaleJitter } from '../../src/data/transforms.js';
import type { DetectionSample } from '../../src/data/types.js';
import { same } from './same.js';

const sample = (): DetectionSample => ({
  image: Float32Array.from({ length: 3 * 4 * 6 }, (_, i) => i / 72),
  height: 4,
  width: 6,
  boxes: Float32Array.of(1, 0, 3, 2, 0, 1, 6, 4),
  labels: Int32Array.of(1, 2),
  id: 9,
});

describe('transforms', () => {
  it('hflip mirrors pixels and boxes, and twice is the identity', () => {
    const s = sample();
    const f = hflip(s);
    expect(Array.from(f.boxes)).toEqual([3, 0, 5, 2, 0, 1, 6, 4]);
    expect(f.image[0]).toBe(s.image[5]);
    expect(f.image[24 + 6]).toBe(s.image[24 + 11]);
    expect(same(hflip(f).image, s.image) && same(hflip(f).boxes, s.boxes)).toBe(true);
    expect(s.boxes[0]).toBe(1); // input untouched
  });

  it('resizes boxes with the image by per-axis ratios', () => {
    expect(resizedShape(4, 6, { shortSide: 8 })).toEqual([8, 12]);
    expect(resizedShape(4, 6, { shortSide: 8, maxSide: 9 })).toEqual([6, 9]);
    expect(resizedShape(4, 6, { height: 3, width: 3 })).toEqual([3, 3]);
    const r = applyResize(sample(), { height: 8, width: 3 });
    expect([r.height, r.width, r.image.length]).toEqual([8, 3, 72]);
    expect(Array.from(r.boxes)).toEqual([0.5, 0, 1.5, 4, 0, 2, 3, 8]);
  });

  it('scale jitter is seeded and keeps boxes proportional', () => {
    const a = scaleJitter(sample(), new Rng(1), 1.5, 2);
    const b = scaleJitter(sample(), new Rng(1), 1.5, 2);
    expect(same(a.image, b.image) && same(a.boxes, b.boxes)).toBe(true);
    expect(a.height).toBeGreaterThanOrEqual(6);
    expect(a.boxes[6]).toBeCloseTo(a.width, 5);
  });

  it('normalises per channel', () => {
    const img = new Float32Array(6).fill(0.5);
    const out = normalise(img, 2, IMAGENET_NORMALISATION);
    expect(out[0]).toBeCloseTo((0.5 - 0.485) / 0.229, 6);
    expect(out[5]).toBeCloseTo((0.5 - 0.406) / 0.225, 6);
  });
});
