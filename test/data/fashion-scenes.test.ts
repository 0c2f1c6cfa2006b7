import { beforeAll, describe, expect, it } from 'vitest';
import { loadFashionItems } from '../../src/data/fashion.js';
import type { FashionItems } from '../../src/data/fashion.js';
import { FashionScenes, fashionScenes, geometricWeights } from '../../src/data/fashion-scenes.js';
import { same } from './same.js';

let items: FashionItems;
beforeAll(async () => {
  items = await loadFashionItems('embedded');
});

describe('Fashion-MNIST scenes', () => {
  it('are deterministic, seeded, and recorded', async () => {
    const a = await fashionScenes({ length: 10, seed: 5 });
    const b = new FashionScenes(items, { length: 10, seed: 5 });
    const c = new FashionScenes(items, { length: 10, seed: 6 });
    const [sa, sb] = [a.get(3), b.get(3)];
    expect(same(sb.image, sa.image) && same(sb.boxes, sa.boxes) && same(sb.labels, sa.labels)).toBe(true);
    expect(same(c.get(3).image, sa.image)).toBe(false);
    expect(a.config).toMatchObject({ seed: 5, size: 128, split: 'train', source: 'embedded', minItems: 1, maxItems: 6 });
    expect(JSON.parse(JSON.stringify(a.config))).toEqual(a.config);
  });

  it('hold 1-6 items with boxes inside the image, labels 1..10, values in [0,1]', () => {
    const ds = new FashionScenes(items, { length: 40 });
    for (let i = 0; i < ds.length; i++) {
      const s = ds.get(i);
      expect(s.image.length).toBe(3 * 128 * 128);
      expect(s.labels.length).toBeGreaterThanOrEqual(1);
      expect(s.labels.length).toBeLessThanOrEqual(6);
      expect(s.image.every((v) => v >= 0 && v <= 1)).toBe(true);
      for (let k = 0; k < s.labels.length; k++) {
        const [x1, y1, x2, y2] = s.boxes.subarray(4 * k, 4 * k + 4);
        expect(x1! >= -1e-4 && y1! >= -1e-4 && x2! <= 128 + 1e-4 && y2! <= 128 + 1e-4).toBe(true);
        expect(Math.max(x2! - x1!, y2! - y1!)).toBeGreaterThan(14);
        expect(Math.max(x2! - x1!, y2! - y1!)).toBeLessThan(66);
        expect(s.labels[k]).toBeGreaterThanOrEqual(1);
        expect(s.labels[k]).toBeLessThanOrEqual(10);
      }
    }
  });

  it('draw train scenes from train items and test scenes from t10k items', () => {
    for (const split of ['train', 'test'] as const) {
      const ds = new FashionScenes(items, { split, length: 50 });
      const pool = items[split];
      for (let i = 0; i < ds.length; i++) {
        for (const it of ds.layout(i).items) {
          expect(it.item).toBeLessThan(pool.count);
          expect(pool.classes[it.item]! + 1).toBe(it.label);
        }
      }
    }
    // The same index and seed give different scenes in the two splits.
    const tr = new FashionScenes(items, { split: 'train', length: 1 }).get(0);
    const te = new FashionScenes(items, { split: 'test', length: 1 }).get(0);
    expect(same(te.image, tr.image)).toBe(false);
  });

  it('limit overlap to maxOverlap of the smaller box', () => {
    const ds = new FashionScenes(items, { length: 200, maxOverlap: 0.2 });
    for (let i = 0; i < ds.length; i++) {
      const its = ds.layout(i).items;
      for (let a = 0; a < its.length; a++) {
        for (let b = a + 1; b < its.length; b++) {
          const [p, q] = [its[a]!.box, its[b]!.box];
          const iw = Math.max(0, Math.min(p[2], q[2]) - Math.max(p[0], q[0]));
          const ih = Math.max(0, Math.min(p[3], q[3]) - Math.max(p[1], q[1]));
          const small = Math.min((p[2] - p[0]) * (p[3] - p[1]), (q[2] - q[0]) * (q[3] - q[1]));
          expect((iw * ih) / small).toBeLessThanOrEqual(0.2 + 1e-9);
        }
      }
    }
  });

  it('are imbalanced by default: the rarest class about 5x rarer than the commonest', () => {
    const ds = new FashionScenes(items, { length: 3000 });
    const counts = new Array(10).fill(0);
    for (let i = 0; i < ds.length; i++) for (const it of ds.layout(i).items) counts[it.label - 1]++;
    expect(counts[0] / counts[9]).toBeGreaterThan(4);
    expect(counts[0] / counts[9]).toBeLessThan(6.2);
    expect(geometricWeights(10, 5)[9]).toBeCloseTo(0.2, 12);
    // Balanced on request.
    const flat = new FashionScenes(items, { length: 2000, classWeights: new Array(10).fill(1) });
    const fc = new Array(10).fill(0);
    for (let i = 0; i < flat.length; i++) for (const it of flat.layout(i).items) fc[it.label - 1]++;
    expect(Math.max(...fc) / Math.min(...fc)).toBeLessThan(1.35);
  });

  it("boxes are tight: items change pixels only inside their boxes and reach each edge", () => {
    const ds = new FashionScenes(items, { length: 8, noise: 0 });
    for (let i = 0; i < ds.length; i++) {
      const layout = ds.layout(i);
      const withItems = ds.render(layout, i);
      const bare = ds.render({ ...layout, items: [] }, i);
      const changed = (x: number, y: number) =>
        [0, 1, 2].some((c) => Math.abs(withItems.image[c * 128 * 128 + y * 128 + x]! - bare.image[c * 128 * 128 + y * 128 + x]!) > 1e-6);
      const inside = (x: number, y: number) =>
        layout.items.some((it) => x + 0.5 > it.box[0] - 1 && x + 0.5 < it.box[2] + 1 && y + 0.5 > it.box[1] - 1 && y + 0.5 < it.box[3] + 1);
      for (let y = 0; y < 128; y++) for (let x = 0; x < 128; x++) if (changed(x, y)) expect(inside(x, y)).toBe(true);
      // Each edge of the last-drawn item (nothing covers it) has changed pixels within 1.5 px.
      const b = layout.items[layout.items.length - 1]!.box;
      const near = (xs: number[], ys: number[]) => xs.some((x) => ys.some((y) => x >= 0 && y >= 0 && x < 128 && y < 128 && changed(x, y)));
      const span = (a: number, z: number) => Array.from({ length: Math.ceil(z) - Math.floor(a) }, (_, k) => Math.floor(a) + k);
      const band = (v: number) => [Math.floor(v - 1.5), Math.floor(v - 0.5), Math.floor(v + 0.5)];
      expect(near(band(b[0]), span(b[1], b[3]))).toBe(true);
      expect(near(band(b[2] - 1), span(b[1], b[3]))).toBe(true);
      expect(near(span(b[0], b[2]), band(b[1]))).toBe(true);
      expect(near(span(b[0], b[2]), band(b[3] - 1))).toBe(true);
    }
  });

  it('validates options', () => {
    expect(() => new FashionScenes(items, { classWeights: [1, 2] })).toThrow(/classWeights/);
    expect(() => new FashionScenes(items, { minItems: 3, maxItems: 2 })).toThrow(/minItems/);
    expect(() => new FashionScenes(items, { maxScale: 200 })).toThrow(/maxScale/);
    expect(() => new FashionScenes(items, { length: 3 }).get(3)).toThrow(RangeError);
  });
});
