import { describe, expect, it } from 'vitest';
import { SHAPE_CLASSES, SyntheticShapes } from '../../src/data/shapes.js';
import { same } from './same.js';

describe('SyntheticShapes', () => {
  it('is deterministic and differs by seed and split', () => {
    const a = new SyntheticShapes({ length: 5 });
    const s = a.get(2);
    const again = new SyntheticShapes({ length: 5 }).get(2);
    expect(same(again.image, s.image) && same(again.boxes, s.boxes)).toBe(true);
    expect(same(new SyntheticShapes({ length: 5, seed: 1 }).get(2).image, s.image)).toBe(false);
    expect(same(new SyntheticShapes({ length: 5, split: 'test' }).get(2).image, s.image)).toBe(false);
  });

  it('gives boxes inside the image, labels 1..6, and shape colour inside each box', () => {
    const ds = new SyntheticShapes({ length: 30, height: 96, width: 112, noise: 0 });
    expect(ds.classNames).toEqual(SHAPE_CLASSES);
    const seen = new Set<number>();
    for (let i = 0; i < ds.length; i++) {
      const s = ds.get(i);
      const { shapes } = ds.layout(i);
      expect(s.height).toBe(96);
      expect(s.width).toBe(112);
      for (let k = 0; k < s.labels.length; k++) {
        seen.add(s.labels[k]!);
        const [x1, y1, x2, y2] = s.boxes.subarray(4 * k, 4 * k + 4);
        expect(x1! >= -1e-3 && y1! >= -1e-3 && x2! <= 112 + 1e-3 && y2! <= 96 + 1e-3).toBe(true);
        // The topmost shape's centre pixel has its colour (no noise, nothing on top).
        if (k === s.labels.length - 1 && s.labels[k] !== 6 && s.labels[k] !== 4) {
          const cx = Math.floor((x1! + x2!) / 2), cy = Math.floor((y1! + y2!) / 2);
          for (let c = 0; c < 3; c++) expect(s.image[c * 96 * 112 + cy * 112 + cx]).toBeCloseTo(shapes[k]!.colour[c]!, 1);
        }
      }
    }
    expect(seen.size).toBe(6);
  });
});
