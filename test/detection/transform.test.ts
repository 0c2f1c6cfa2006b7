import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { DetectionBatch } from '../../src/data/types.js';
import { BACKBONE_PRESETS } from '../../src/detection/backbone.js';
import { defaultConfig } from '../../src/detection/config.js';
import { DetectionTransform, defaultTransformConfig, fmaF32, resizeBilinear, scaleBoxes, type DetectionTransformConfig, type ImageInput } from '../../src/detection/transform.js';

// Written by torchvision 0.14's GeneralizedRCNNTransform: test/fixtures/detection/transform.py.
const fx = JSON.parse(readFileSync(new URL('../fixtures/detection/transform.json', import.meta.url), 'utf8'));

interface FxImage {
  height: number;
  width: number;
  data: number[];
}
// The fixture writes float32 values as their shortest decimals: Math.fround reads them back.
const f32 = (xs: number[]): number[] => xs.map(Math.fround);
const inputs = (images: FxImage[]): ImageInput[] => images.map((im) => ({ image: Float32Array.from(im.data), height: im.height, width: im.width }));

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - Math.fround(expected[i]!));
    if (!(d <= worst)) (worst = d), (at = i);
  }
  if (!(worst <= atol)) throw new Error(`${what}: element ${at} is ${actual[at]} vs ${Math.fround(expected[at]!)} (|diff| ${worst} > ${atol})`);
}

describe('DetectionTransform sizes (torchvision formula)', () => {
  for (const c of fx.sizes as { minSize: number; maxSize: number; sizes: number[][] }[]) {
    it(`resizes ${c.sizes.length} image sizes as torchvision does with min_size ${c.minSize}, max_size ${c.maxSize}`, () => {
      const t = new DetectionTransform({ minSize: c.minSize, maxSize: c.maxSize, sizeDivisible: 1, mean: [0], std: [1] });
      const got = c.sizes.map(([h, w]) => [h, w, ...t.resizedSize(h!, w!)]);
      expect(got).toEqual(c.sizes);
    });
  }

  it('keeps the short side at minSize and the long side at most maxSize over many aspect ratios', () => {
    const t = new DetectionTransform({ ...defaultTransformConfig(BACKBONE_PRESETS.teacher), mean: [0], std: [1] });
    for (const [h, w] of [[128, 128], [480, 640], [640, 480], [375, 500], [100, 1000], [1000, 100], [64, 64], [2000, 3000]] as const) {
      const [nh, nw] = t.resizedSize(h, w);
      const short = Math.min(nh, nw);
      const long = Math.max(nh, nw);
      expect(long).toBeLessThanOrEqual(213);
      // The short side is minSize (float32 rounding of the scale may floor it one pixel below,
      // as in torchvision: 375×500 → 127×170) unless the long side bound takes over.
      if (Math.max(h, w) / Math.min(h, w) <= 213 / 128) expect(short).toBeGreaterThanOrEqual(127);
      else expect(long).toBeGreaterThanOrEqual(212);
      // Aspect ratio kept to within the rounding of a pixel.
      expect(Math.abs(nw / nh - w / h)).toBeLessThan((w / h) * (1 / short + 1 / long) + 1e-9);
    }
  });

  it('is the identity without a config (checkpoints without a transform section)', () => {
    const t = DetectionTransform.fromModelConfig(defaultConfig(3, BACKBONE_PRESETS.tiny));
    expect(t.identity).toBe(true);
    expect(t.resizedSize(37, 91)).toEqual([37, 91]);
    expect(t.paddedSize([[37, 91], [40, 20]])).toEqual([40, 91]);
  });

  it('new models get the stated defaults: short side 128, long side ≤ 213, padding to the stride', () => {
    const cfg = defaultConfig(3, BACKBONE_PRESETS.teacher, { transform: true });
    expect(cfg.transform).toEqual({ minSize: 128, maxSize: 213, sizeDivisible: 8 });
    expect(defaultConfig(3, BACKBONE_PRESETS.tiny, { transform: { minSize: 96 } }).transform).toEqual({ minSize: 96, maxSize: 213, sizeDivisible: 4 });
    expect(defaultConfig(3, BACKBONE_PRESETS.teacher).transform).toBeUndefined();
    const t = DetectionTransform.fromModelConfig(cfg);
    expect(t.config!.mean).toEqual(cfg.imageMean);
    expect(t.resizedSize(375, 500)).toEqual([127, 170]);
    expect(t.paddedSize([[127, 170], [128, 96]])).toEqual([128, 176]);
  });

  it('refuses nonsense settings', () => {
    const ok: DetectionTransformConfig = { minSize: 128, maxSize: 213, sizeDivisible: 8, mean: [0.5], std: [0.25] };
    expect(() => new DetectionTransform({ ...ok, maxSize: 100 })).toThrow(/minSize <= maxSize/);
    expect(() => new DetectionTransform({ ...ok, sizeDivisible: 0 })).toThrow(/sizeDivisible/);
    expect(() => new DetectionTransform({ ...ok, std: [0] })).toThrow(/std/);
  });
});

describe('DetectionTransform against torchvision GeneralizedRCNNTransform', () => {
  it('resizes (bilinear, align_corners=False, no antialiasing) and pads bit for bit without normalisation', () => {
    const p = fx.plain;
    const t = new DetectionTransform(p.config);
    const b = t.batch(inputs(p.images), undefined, { normalise: true });
    expect(b.shape).toEqual(p.shape);
    expect(b.imageSizes).toEqual(p.imageSizes);
    expect(Array.from(b.images)).toEqual(f32(p.tensor));
  });

  it('normalises, resizes and pads three images of different aspect ratios as torchvision (≤ 1e-5)', () => {
    const c = fx.batch;
    const t = new DetectionTransform(c.config);
    const b = t.batch(inputs(c.images), undefined, { normalise: true });
    expect(b.shape).toEqual(c.shape);
    expect(b.imageSizes).toEqual(c.imageSizes);
    expect(b.originalSizes).toEqual(c.images.map((im: FxImage) => [im.height, im.width]));
    // torchvision normalises before resizing, kdet after: equal up to float32 rounding. The
    // padding is exactly 0 in both.
    expectClose(b.images, c.tensor, 1e-5, 'batch tensor');
  });

  it('without normalise, pads with the mean colour, which the model normalises to exactly 0', () => {
    const c = fx.batch;
    const t = new DetectionTransform(c.config);
    const b = t.batch(inputs(c.images));
    const [n, ch, h, w] = b.shape;
    for (let i = 0; i < n; i++) {
      const [ih, iw] = b.imageSizes[i]!;
      for (let k = 0; k < ch; k++) {
        const mean = Math.fround(c.config.mean[k]);
        const at = (y: number, x: number): number => b.images[((i * ch + k) * h + y) * w + x]!;
        if (iw < w) expect(at(0, w - 1) - mean).toBe(0);
        if (ih < h) expect(at(h - 1, 0) - mean).toBe(0);
      }
    }
  });

  it('scales ground-truth boxes with their image (training) and detections back (postprocess)', () => {
    const c = fx.batch;
    const t = new DetectionTransform(c.config);
    const b = t.batch(inputs(c.images), c.boxes.map((x: number[]) => Float32Array.from(x)));
    b.boxes!.forEach((got, i) => expectClose(got, c.resizedBoxes[i], 0, `resized boxes of image ${i}`));
    const dets = c.detections.map((x: number[]) => ({ boxes: Float32Array.from(x), scores: new Float32Array(x.length / 4), labels: new Int32Array(x.length / 4) }));
    t.postprocess(dets, b.imageSizes, b.originalSizes).forEach((d, i) => expectClose(d.boxes, c.postprocessed[i], 0, `postprocessed boxes of image ${i}`));
  });

  it("takes a loader's padded batch (sizes per image) to the same result as the images themselves", () => {
    const c = fx.batch;
    const t = new DetectionTransform(c.config);
    const ims = inputs(c.images);
    const boxes = c.boxes.map((x: number[]) => Float32Array.from(x));
    // A loader batch: padded at the bottom/right with 0 to the largest image.
    const H = Math.max(...ims.map((i) => i.height));
    const W = Math.max(...ims.map((i) => i.width));
    const images = new Float32Array(ims.length * 3 * H * W);
    ims.forEach((im, n) => {
      for (let k = 0; k < 3; k++) for (let y = 0; y < im.height; y++) images.set(im.image.subarray((k * im.height + y) * im.width, (k * im.height + y + 1) * im.width), ((n * 3 + k) * H + y) * W);
    });
    const batch: DetectionBatch = {
      images,
      shape: [ims.length, 3, H, W],
      boxes,
      labels: ims.map(() => Int32Array.from([1, 2])),
      ids: ims.map((_, i) => i),
      sizes: ims.map((im) => [im.height, im.width]),
      difficult: ims.map(() => undefined),
      iscrowd: ims.map(() => undefined),
    };
    const a = t.fromBatch(batch);
    const b = t.batch(ims, boxes);
    expect(a.shape).toEqual(b.shape);
    expect(a.imageSizes).toEqual(b.imageSizes);
    expect(a.originalSizes).toEqual(b.originalSizes);
    expect(Array.from(a.images)).toEqual(Array.from(b.images));
    expect(a.boxes!.map((x) => Array.from(x))).toEqual(b.boxes!.map((x) => Array.from(x)));
    // The identity keeps the loader's buffer and boxes, and adds each image's own size.
    const id = new DetectionTransform(null).fromBatch(batch);
    expect(id.images).toBe(batch.images);
    expect(id.boxes).toBe(batch.boxes);
    expect(id.imageSizes).toEqual(batch.sizes);
  });

  it('rounds a fused multiply-add once, also where float64 then float32 would round twice', () => {
    // a·b + c = 1 + 2⁻²³ + 2⁻²⁴ − 2⁻⁷⁰: float64 rounds it to the float32 tie 1 + 2⁻²³ + 2⁻²⁴,
    // which then rounds to even (1 + 2⁻²²); the exact value is below the tie.
    const a = 1 + 2 ** -23;
    const b = 2 ** -24 * (1 - 2 ** -23);
    const c = 1 + 2 ** -23;
    expect(Math.fround(a * b + c)).toBe(1 + 2 ** -22);
    expect(fmaF32(a, b, c)).toBe(1 + 2 ** -23);
    expect(fmaF32(-a, b, -c)).toBe(-(1 + 2 ** -23));
    expect(fmaF32(0.5, 0.25, 0.125)).toBe(0.25);
  });

  it('leaves an image already at its size untouched and scales boxes exactly on exact ratios', () => {
    const t = new DetectionTransform({ minSize: 4, maxSize: 8, sizeDivisible: 1, mean: [0], std: [1] });
    const im = { image: Float32Array.from({ length: 4 * 6 }, (_, i) => i / 24), height: 4, width: 6 };
    expect(t.resize(im).image).toBe(im.image);
    expect(Array.from(scaleBoxes(Float32Array.from([1, 2, 3, 4]), [4, 6], [8, 12]))).toEqual([2, 4, 6, 8]);
    // Doubling then halving a constant image keeps it constant (weights sum to 1).
    const flat = resizeBilinear(new Float32Array(12).fill(0.25), 1, 3, 4, 6, 8);
    expect(Array.from(flat).every((v) => v === 0.25)).toBe(true);
  });
});
