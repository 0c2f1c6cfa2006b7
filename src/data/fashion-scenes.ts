/**
 * Detection scenes composed from Fashion-MNIST garments: each image holds a
 * few tinted items at random scales and positions over a cluttered background
 * (colour gradient, pixel noise, fragments of other garments). Scene i is a
 * pure function of (options, item pool, i): generated on the fly, in any order,
 * identically on every machine that uses the same source.
 *
 * Train scenes draw items only from the train split, test scenes only from
 * t10k. Class frequencies are imbalanced by default (geometric decay, the
 * rarest class `imbalance` times rarer than the commonest), because the
 * distillation paper's class-weighted loss is about imbalance.
 */
import { FASHION_CLASSES, loadFashionItems } from './fashion.js';
import type { FashionItems, FashionSource, FashionSplit, ResolvedFashionSource, Split } from './fashion.js';
import { addNoise, clamp01, drawSprite, fillGradient, hsv, overlapOfSmaller } from './raster.js';
import type { RGB } from './raster.js';
import { hashSeed, Rng } from './rng.js';
import type { Dataset, DetectionSample } from './types.js';

export interface FashionSceneOptions {
  split?: Split;
  /** Number of scenes (default 5000 train, 1000 test). */
  length?: number;
  seed?: number;
  /** Image side in pixels (square images). */
  size?: number;
  minItems?: number;
  maxItems?: number;
  /** Longer side of an item's box, in pixels, drawn log-uniformly (default size/8 .. size/2). */
  minScale?: number;
  maxScale?: number;
  /** Largest allowed intersection over the smaller box between two items. */
  maxOverlap?: number;
  /** Relative class frequencies (10 values); overrides `imbalance`. */
  classWeights?: number[];
  /** Commonest / rarest class frequency for the default geometric decay. */
  imbalance?: number;
  /** Largest per-scene noise half-amplitude (each scene draws one in [0, noise]). */
  noise?: number;
  /** Distractor fragments per scene, drawn uniformly in [0, maxFragments]. */
  maxFragments?: number;
  /** Saturation and value ranges of item tints. */
  tintSaturation?: [number, number];
  tintValue?: [number, number];
  /** Item pixels above this byte value define its box (0: any non-zero pixel). */
  boxThreshold?: number;
}

/** Every option resolved, plus the item source: enough to regenerate the scenes. */
export type FashionSceneConfig = Required<Omit<FashionSceneOptions, 'imbalance'>> & {
  source: ResolvedFashionSource;
};

/** A scene before rendering. */
export interface SceneItem {
  /** Index of the garment in its split. */
  item: number;
  /** 1..10. */
  label: number;
  box: [number, number, number, number];
  /** Destination of the 28x28 canvas: x, y, side. */
  canvas: [number, number, number];
  tint: RGB;
}

interface Fragment {
  item: number;
  crop: [number, number, number, number];
  dest: [number, number, number, number];
  tint: RGB;
  opacity: number;
}

export interface SceneLayout {
  background: { c0: RGB; c1: RGB; angle: number; noise: number; noiseSeed: number };
  fragments: Fragment[];
  items: SceneItem[];
}

const DEFAULTS = {
  seed: 0,
  size: 128,
  minItems: 1,
  maxItems: 6,
  maxOverlap: 0.3,
  imbalance: 5,
  noise: 0.12,
  maxFragments: 5,
  tintSaturation: [0.2, 1] as [number, number],
  tintValue: [0.45, 1] as [number, number],
  boxThreshold: 0,
};

/** Geometric class weights: class 0 commonest, class n-1 `ratio` times rarer. */
export function geometricWeights(n: number, ratio: number): number[] {
  return Array.from({ length: n }, (_, k) => ratio ** (-k / Math.max(1, n - 1)));
}

/** Loads the item source (default: the embedded subset) and makes the scenes. */
export async function fashionScenes(
  options: FashionSceneOptions & { source?: FashionSource } = {},
): Promise<FashionScenes> {
  return new FashionScenes(await loadFashionItems(options.source ?? 'embedded'), options);
}

export class FashionScenes implements Dataset {
  readonly classNames: readonly string[] = FASHION_CLASSES;
  readonly length: number;
  readonly config: FashionSceneConfig;
  private readonly pool: FashionSplit;
  private readonly itemBoxes: Int8Array;
  private readonly byClass: number[][];

  constructor(items: FashionItems, options: FashionSceneOptions = {}) {
    const split = options.split ?? 'train';
    const size = options.size ?? DEFAULTS.size;
    const o = { ...DEFAULTS, minScale: Math.round(size / 8), maxScale: Math.round(size / 2), ...options };
    const classWeights = options.classWeights ?? geometricWeights(10, o.imbalance);
    if (classWeights.length !== 10 || classWeights.some((w) => !(w >= 0))) {
      throw new Error('FashionScenes: classWeights must be 10 non-negative numbers');
    }
    if (o.minItems < 1 || o.maxItems < o.minItems) throw new Error('FashionScenes: need 1 <= minItems <= maxItems');
    if (o.minScale < 2 || o.maxScale < o.minScale || o.maxScale > o.size) {
      throw new Error('FashionScenes: need 2 <= minScale <= maxScale <= size');
    }
    const { imbalance: _unused, ...rest } = o;
    this.length = options.length ?? (split === 'train' ? 5000 : 1000);
    this.config = { ...rest, split, length: this.length, classWeights, source: items.source };
    this.pool = items[split];
    this.itemBoxes = tightBoxes(this.pool, o.boxThreshold);
    this.byClass = Array.from({ length: 10 }, () => [] as number[]);
    for (let i = 0; i < this.pool.count; i++) {
      if (this.itemBoxes[4 * i + 2]! >= 0) this.byClass[this.pool.classes[i]!]!.push(i);
    }
    classWeights.forEach((w, k) => {
      if (w > 0 && this.byClass[k]!.length === 0) throw new Error(`FashionScenes: no items of class ${k} in ${split}`);
    });
  }

  /** Plans scene i (items, boxes, tints, clutter) without drawing it. */
  layout(i: number): SceneLayout {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new RangeError(`scene ${i} out of [0, ${this.length})`);
    const c = this.config;
    const rng = new Rng(hashSeed(c.seed, c.split === 'train' ? 1 : 2, i));
    const n = c.size;
    const bgColour = (): RGB => hsv(rng.next(), rng.uniform(0, 0.7), rng.uniform(0.1, 0.9));
    const background = {
      c0: bgColour(),
      c1: bgColour(),
      angle: rng.uniform(0, 2 * Math.PI),
      noise: rng.uniform(0, c.noise),
      noiseSeed: rng.uint32(),
    };

    const fragments: Fragment[] = [];
    const nFragments = rng.int(0, c.maxFragments);
    for (let f = 0; f < nFragments; f++) {
      const item = rng.int(0, this.pool.count - 1);
      const [bx0, by0, bx1, by1] = this.box(item);
      // A 30-60% slice of the garment: recognisably cloth, never a whole item.
      const cw = Math.max(2, Math.round((bx1 - bx0 + 1) * rng.uniform(0.3, 0.6)));
      const ch = Math.max(2, Math.round((by1 - by0 + 1) * rng.uniform(0.3, 0.6)));
      const sx = rng.int(bx0, Math.max(bx0, bx1 + 1 - cw));
      const sy = rng.int(by0, Math.max(by0, by1 + 1 - ch));
      const scale = rng.uniform(c.minScale, c.maxScale) / 28;
      const dw = Math.max(2, Math.round(cw * scale));
      const dh = Math.max(2, Math.round(ch * scale));
      fragments.push({
        item,
        crop: [sx, sy, cw, ch],
        dest: [rng.int(-dw >> 1, n - (dw >> 1)), rng.int(-dh >> 1, n - (dh >> 1)), dw, dh],
        tint: hsv(rng.next(), rng.uniform(0, 1), rng.uniform(0.3, 1)),
        opacity: rng.uniform(0.4, 0.9),
      });
    }

    const items: SceneItem[] = [];
    const want = rng.int(c.minItems, c.maxItems);
    for (let k = 0; k < want; k++) {
      const cls = rng.weighted(c.classWeights);
      const pool = this.byClass[cls]!;
      const item = pool[rng.int(0, pool.length - 1)]!;
      const [bx0, by0, bx1, by1] = this.box(item);
      const scale = Math.exp(rng.uniform(Math.log(c.minScale), Math.log(c.maxScale)));
      const side = Math.max(1, Math.round((scale * 28) / Math.max(bx1 - bx0 + 1, by1 - by0 + 1)));
      const px = side / 28;
      const tint = hsv(rng.next(), rng.uniform(...c.tintSaturation), rng.uniform(...c.tintValue));
      // Retry positions until the item overlaps earlier ones little enough.
      for (let attempt = 0; attempt < 20; attempt++) {
        const x = rangeInt(rng, Math.ceil(-bx0 * px), Math.floor(n - (bx1 + 1) * px));
        const y = rangeInt(rng, Math.ceil(-by0 * px), Math.floor(n - (by1 + 1) * px));
        const box: SceneItem['box'] = [x + bx0 * px, y + by0 * px, x + (bx1 + 1) * px, y + (by1 + 1) * px];
        if (items.every((it) => overlapOfSmaller(it.box, box) <= c.maxOverlap)) {
          items.push({ item, label: cls + 1, box, canvas: [x, y, side], tint });
          break;
        }
      }
    }
    return { background, fragments, items };
  }

  get(i: number): DetectionSample {
    return this.render(this.layout(i), i);
  }

  /** Draws a layout (from `layout`, possibly edited) as sample `id`. */
  render(layout: SceneLayout, id: number): DetectionSample {
    const n = this.config.size;
    const image = new Float32Array(3 * n * n);
    const bg = layout.background;
    fillGradient(image, n, n, bg.c0, bg.c1, bg.angle);
    addNoise(image, bg.noise, new Rng(bg.noiseSeed));
    const px = this.pool.pixels;
    for (const f of layout.fragments) {
      const [sx, sy, sw, sh] = f.crop;
      const [dx, dy, dw, dh] = f.dest;
      drawSprite(image, n, n, px, f.item * 784, 28, sx, sy, sw, sh, dx, dy, dw, dh, f.tint, f.opacity, 2, 0.35);
    }
    const m = layout.items.length;
    const boxes = new Float32Array(4 * m);
    const labels = new Int32Array(m);
    layout.items.forEach((it, k) => {
      const [x, y, side] = it.canvas;
      drawSprite(image, n, n, px, it.item * 784, 28, 0, 0, 28, 28, x, y, side, side, it.tint, 1, 2, 0.35);
      boxes.set(it.box, 4 * k);
      labels[k] = it.label;
    });
    clamp01(image);
    return { image, height: n, width: n, boxes, labels, id };
  }

  /** Tight box of item i in its 28x28 canvas: inclusive pixel columns/rows. */
  private box(i: number): [number, number, number, number] {
    const b = this.itemBoxes;
    return [b[4 * i]!, b[4 * i + 1]!, b[4 * i + 2]!, b[4 * i + 3]!];
  }
}

/** Integer in [lo, hi]; lo when rounding left the range empty. */
function rangeInt(rng: Rng, lo: number, hi: number): number {
  return rng.int(lo, Math.max(lo, hi));
}

/** Per item x0,y0,x1,y1 (inclusive) of pixels > threshold; x1 = -1 when empty. */
function tightBoxes(split: FashionSplit, threshold: number): Int8Array {
  const out = new Int8Array(4 * split.count);
  for (let i = 0; i < split.count; i++) {
    let x0 = 28, y0 = 28, x1 = -1, y1 = -1;
    const base = i * 784;
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        if (split.pixels[base + y * 28 + x]! > threshold) {
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          y1 = y;
        }
      }
    }
    out.set([x0, y0, x1, y1], 4 * i);
  }
  return out;
}
