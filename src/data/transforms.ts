/**
 * Sample transforms: resizing (boxes follow), horizontal flip, scale jitter,
 * normalisation. Each returns a new sample and leaves its input untouched,
 * since data sets may cache samples.
 */
import { resizeChw } from './image.js';
import type { Rng } from './rng.js';
import type { DetectionSample } from './types.js';

/**
 * How to size images: a fixed height and width (aspect not kept), or Faster
 * R-CNN's rule (shorter side to `shortSide`, longer side at most `maxSide`).
 */
export type ResizeSpec = { height: number; width: number } | { shortSide: number; maxSide?: number };

/** The [height, width] that `spec` gives an h x w image. */
export function resizedShape(h: number, w: number, spec: ResizeSpec): [number, number] {
  if ('height' in spec) return [spec.height, spec.width];
  let s = spec.shortSide / Math.min(h, w);
  if (spec.maxSide !== undefined && Math.max(h, w) * s > spec.maxSide) s = spec.maxSide / Math.max(h, w);
  return [Math.max(1, Math.round(h * s)), Math.max(1, Math.round(w * s))];
}

/** Resizes the image bilinearly; boxes scale by the exact per-axis ratios. */
export function resizeSample(sample: DetectionSample, height: number, width: number): DetectionSample {
  const { height: h, width: w } = sample;
  const sx = width / w;
  const sy = height / h;
  const boxes = new Float32Array(sample.boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    boxes[i] = sample.boxes[i]! * sx;
    boxes[i + 1] = sample.boxes[i + 1]! * sy;
    boxes[i + 2] = sample.boxes[i + 2]! * sx;
    boxes[i + 3] = sample.boxes[i + 3]! * sy;
  }
  const channels = sample.image.length / (h * w);
  return { ...sample, image: resizeChw(sample.image, channels, h, w, height, width), height, width, boxes };
}

export function applyResize(sample: DetectionSample, spec: ResizeSpec): DetectionSample {
  const [h, w] = resizedShape(sample.height, sample.width, spec);
  return h === sample.height && w === sample.width ? sample : resizeSample(sample, h, w);
}

/** Mirrors left-right: x1' = W - x2, x2' = W - x1. */
export function hflip(sample: DetectionSample): DetectionSample {
  const { height: h, width: w } = sample;
  const channels = sample.image.length / (h * w);
  const image = new Float32Array(sample.image.length);
  for (let r = 0; r < channels * h; r++) {
    const row = r * w;
    for (let x = 0; x < w; x++) image[row + x] = sample.image[row + w - 1 - x]!;
  }
  const boxes = new Float32Array(sample.boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    boxes[i] = w - sample.boxes[i + 2]!;
    boxes[i + 1] = sample.boxes[i + 1]!;
    boxes[i + 2] = w - sample.boxes[i]!;
    boxes[i + 3] = sample.boxes[i + 3]!;
  }
  return { ...sample, image, boxes };
}

/** Resizes by a factor drawn uniformly from [lo, hi] (multi-scale training). */
export function scaleJitter(sample: DetectionSample, rng: Rng, lo: number, hi: number): DetectionSample {
  const s = rng.uniform(lo, hi);
  const h = Math.max(1, Math.round(sample.height * s));
  const w = Math.max(1, Math.round(sample.width * s));
  return h === sample.height && w === sample.width ? sample : resizeSample(sample, h, w);
}

export interface Normalisation {
  mean: [number, number, number];
  std: [number, number, number];
}

/** The ImageNet statistics that torchvision's pretrained backbones expect. */
export const IMAGENET_NORMALISATION: Normalisation = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/** (x - mean[c]) / std[c] per channel. */
export function normalise(image: Float32Array, hw: number, n: Normalisation): Float32Array {
  const out = new Float32Array(image.length);
  for (let c = 0; c < image.length / hw; c++) {
    const m = n.mean[c]!;
    const inv = 1 / n.std[c]!;
    for (let p = c * hw; p < (c + 1) * hw; p++) out[p] = (image[p]! - m) * inv;
  }
  return out;
}
