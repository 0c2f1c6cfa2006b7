/**
 * Synthetic shapes: a built-in data set that needs no files at all, for tests
 * and browsers. Filled polygons (a circle is a 48-gon) with random colours,
 * sizes and rotations over a gradient with noise; later shapes occlude earlier
 * ones, but never more than `maxOverlap` of the smaller box. Boxes are the
 * exact extents of the rotated polygons. Scene i is a pure function of (options, i).
 */
import { addNoise, clamp01, fillGradient, hsv, overlapOfSmaller } from './raster.js';
import type { RGB } from './raster.js';
import { hashSeed, Rng } from './rng.js';
import type { Dataset, DetectionSample } from './types.js';

export const SHAPE_CLASSES = ['circle', 'square', 'triangle', 'star', 'hexagon', 'cross'] as const;

export interface ShapesOptions {
  length?: number;
  seed?: number;
  /** Image height and width. */
  height?: number;
  width?: number;
  minShapes?: number;
  maxShapes?: number;
  /** Longer side of a shape's box, in pixels. */
  minSize?: number;
  maxSize?: number;
  maxOverlap?: number;
  /** Relative class frequencies (6 values, default uniform). */
  classWeights?: number[];
  noise?: number;
  /** Distinguishes the train and test streams of the same options. */
  split?: 'train' | 'test';
}

/** Unit outline of each class, centred on 0 with radius about 1. */
function outline(cls: number): [number, number][] {
  const ring = (n: number, r: (k: number) => number, phase = -Math.PI / 2): [number, number][] =>
    Array.from({ length: n }, (_, k) => {
      const t = phase + (2 * Math.PI * k) / n;
      return [r(k) * Math.cos(t), r(k) * Math.sin(t)];
    });
  switch (SHAPE_CLASSES[cls]) {
    case 'circle': return ring(48, () => 1);
    case 'square': return ring(4, () => 1, Math.PI / 4);
    case 'triangle': return ring(3, () => 1);
    case 'star': return ring(10, (k) => (k % 2 ? 0.45 : 1));
    case 'hexagon': return ring(6, () => 1);
    default: {
      const a = 0.33;
      return [[-a, -1], [a, -1], [a, -a], [1, -a], [1, a], [a, a], [a, 1], [-a, 1], [-a, a], [-1, a], [-1, -a], [-a, -a]];
    }
  }
}

const OUTLINES = SHAPE_CLASSES.map((_, k) => outline(k));

export interface PlacedShape {
  label: number;
  polygon: [number, number][];
  box: [number, number, number, number];
  colour: RGB;
}

export class SyntheticShapes implements Dataset {
  readonly classNames: readonly string[] = SHAPE_CLASSES;
  readonly length: number;
  readonly config: Required<ShapesOptions>;

  constructor(options: ShapesOptions = {}) {
    this.config = {
      length: 1000,
      seed: 0,
      height: 128,
      width: 128,
      minShapes: 1,
      maxShapes: 5,
      minSize: 14,
      maxSize: 56,
      maxOverlap: 0.35,
      classWeights: SHAPE_CLASSES.map(() => 1),
      noise: 0.08,
      split: 'train',
      ...options,
    };
    const c = this.config;
    if (c.classWeights.length !== SHAPE_CLASSES.length) throw new Error('SyntheticShapes: need 6 class weights');
    if (c.maxSize > Math.min(c.height, c.width)) throw new Error('SyntheticShapes: maxSize exceeds the image');
    this.length = c.length;
  }

  /** Plans scene i: shapes with their polygons, boxes and colours. */
  layout(i: number): { shapes: PlacedShape[]; rng: Rng } {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new RangeError(`scene ${i} out of [0, ${this.length})`);
    const c = this.config;
    const rng = new Rng(hashSeed(c.seed, c.split === 'train' ? 11 : 12, i));
    const shapes: PlacedShape[] = [];
    const want = rng.int(c.minShapes, c.maxShapes);
    for (let k = 0; k < want; k++) {
      const cls = rng.weighted(c.classWeights);
      const size = rng.uniform(c.minSize, c.maxSize);
      const angle = rng.uniform(0, 2 * Math.PI);
      const stretch = cls === 0 ? rng.uniform(0.7, 1) : 1; // circles may be ellipses
      const colour = hsv(rng.next(), rng.uniform(0.5, 1), rng.uniform(0.55, 1));
      const cos = Math.cos(angle), sin = Math.sin(angle);
      const unit = OUTLINES[cls]!.map(([x, y]): [number, number] => [x * cos - y * stretch * sin, x * sin + y * stretch * cos]);
      const xs = unit.map((p) => p[0]), ys = unit.map((p) => p[1]);
      const scale = size / Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
      for (let attempt = 0; attempt < 20; attempt++) {
        const cx = rng.uniform(-Math.min(...xs) * scale, c.width - Math.max(...xs) * scale);
        const cy = rng.uniform(-Math.min(...ys) * scale, c.height - Math.max(...ys) * scale);
        const polygon = unit.map(([x, y]): [number, number] => [cx + x * scale, cy + y * scale]);
        const box: PlacedShape['box'] = [
          cx + Math.min(...xs) * scale, cy + Math.min(...ys) * scale,
          cx + Math.max(...xs) * scale, cy + Math.max(...ys) * scale,
        ];
        if (shapes.every((s) => overlapOfSmaller(s.box, box) <= c.maxOverlap)) {
          shapes.push({ label: cls + 1, polygon, box, colour });
          break;
        }
      }
    }
    return { shapes, rng };
  }

  get(i: number): DetectionSample {
    const { height: h, width: w, noise } = this.config;
    const { shapes, rng } = this.layout(i);
    const image = new Float32Array(3 * h * w);
    fillGradient(image, h, w, hsv(rng.next(), rng.uniform(0, 0.5), rng.uniform(0.1, 0.8)),
      hsv(rng.next(), rng.uniform(0, 0.5), rng.uniform(0.1, 0.8)), rng.uniform(0, 2 * Math.PI));
    for (const s of shapes) fillPolygon(image, h, w, s.polygon, s.colour);
    addNoise(image, rng.uniform(0, noise), rng);
    clamp01(image);
    const boxes = new Float32Array(shapes.flatMap((s) => s.box));
    const labels = Int32Array.from(shapes, (s) => s.label);
    return { image, height: h, width: w, boxes, labels, id: i };
  }
}

/** Fills a polygon, anti-aliased by 4x4 supersampled coverage (even-odd rule). */
function fillPolygon(img: Float32Array, h: number, w: number, poly: [number, number][], rgb: RGB): void {
  const xs = poly.map((p) => p[0]), ys = poly.map((p) => p[1]);
  const x0 = Math.max(0, Math.floor(Math.min(...xs))), x1 = Math.min(w, Math.ceil(Math.max(...xs)));
  const y0 = Math.max(0, Math.floor(Math.min(...ys))), y1 = Math.min(h, Math.ceil(Math.max(...ys)));
  if (x0 >= x1 || y0 >= y1) return;
  const bw = x1 - x0;
  const cover = new Float32Array(bw * (y1 - y0));
  const n = poly.length;
  const crossings = new Float64Array(n);
  for (let y = y0; y < y1; y++) {
    for (let sy = 0; sy < 4; sy++) {
      // The x positions where polygon edges cross this sub-row; spans between
      // successive pairs are inside.
      const py = y + (sy + 0.5) / 4;
      let m = 0;
      for (let e = 0; e < n; e++) {
        const [ax, ay] = poly[e]!, [bx, by] = poly[(e + 1) % n]!;
        if (ay <= py !== by <= py) crossings[m++] = ax + ((py - ay) / (by - ay)) * (bx - ax);
      }
      const cuts = crossings.subarray(0, m).sort();
      for (let k = 0; k + 1 < m; k += 2) {
        const a = cuts[k]!, b = cuts[k + 1]!;
        for (let x = Math.max(x0, Math.floor(a)); x < Math.min(x1, Math.ceil(b)); x++) {
          for (let sx = 0; sx < 4; sx++) {
            const px = x + (sx + 0.5) / 4;
            if (px >= a && px < b) cover[(y - y0) * bw + x - x0]! += 1 / 16;
          }
        }
      }
    }
  }
  const hw = h * w;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const a = cover[(y - y0) * bw + x - x0]!;
      if (a === 0) continue;
      const o = y * w + x;
      img[o]! += a * (rgb[0] - img[o]!);
      img[hw + o]! += a * (rgb[1] - img[hw + o]!);
      img[2 * hw + o]! += a * (rgb[2] - img[2 * hw + o]!);
    }
  }
}
