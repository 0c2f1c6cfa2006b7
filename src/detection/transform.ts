import type { DetectionBatch } from '../data/types.js';
import type { BackboneConfig } from './backbone.js';
import type { Boxes } from './boxes.js';

/** An image's [height, width] in pixels. */
export type ImageSize = readonly [height: number, width: number];

/** One image as a user has it: CHW (RGB), values in [0, 1], any size. */
export interface ImageInput {
  image: Float32Array;
  height: number;
  width: number;
}

/**
 * The input transform's part of a model config (`FasterRCNNConfig.transform`), stored in every
 * checkpoint. The normalisation statistics are the config's `imageMean` / `imageStd`, which
 * checkpoints have always carried. A config without it is the identity transform: images are
 * used at the size they come in, as every model before the transform existed was trained.
 */
export interface TransformConfig {
  /** The short side every image is resized to (torchvision: 800). */
  minSize: number;
  /** The long side is at most this; it wins over minSize (torchvision: 1333). */
  maxSize: number;
  /** A padded batch's height and width are multiples of this (torchvision: 32). */
  sizeDivisible: number;
}

/** A DetectionTransform's full settings: torchvision's GeneralizedRCNNTransform(min_size, max_size, image_mean, image_std, size_divisible). */
export interface DetectionTransformConfig extends TransformConfig {
  mean: readonly number[];
  std: readonly number[];
}

/**
 * The defaults of a new model's transform, sized for the small CPU-trained detectors of this
 * project rather than torchvision's ImageNet backbones at 800/1333:
 * - minSize 128: the short side the built-in scenes have, and the scale the default anchors
 *   (16/32/64 px) and the presets' receptive fields were tuned for; compute grows with pixels,
 *   and 800×1333 would cost ~65× a 128×213 image, minutes per step on 2 CPU cores.
 * - maxSize 213 = round(128 · 1333 / 800): torchvision's long/short bound (1.67) kept, so a
 *   4:3 photo becomes 128×171 and a panorama is bounded at 213 px wide.
 * - sizeDivisible = the backbone's stride (8 for every preset): with one feature level a
 *   multiple of the stride makes the feature map cover the padded batch exactly (each 2×2
 *   max-pool divides evenly), and pads less than torchvision's 32, which FPN levels up to
 *   stride 32 need but these backbones do not (128×171 pads to 128×176, not 128×192).
 */
export function defaultTransformConfig(backbone: BackboneConfig, overrides: Partial<TransformConfig> = {}): TransformConfig {
  return { minSize: 128, maxSize: 213, sizeDivisible: 2 ** (backbone.stages.length - 1), ...overrides };
}

/** What a transformed batch holds: one padded NCHW buffer and each image's sizes. */
export interface TransformedBatch {
  /**
   * NCHW, each image at the top left, padded at the bottom/right with the mean colour, so that
   * the model's normalisation turns the padding into 0, as torchvision pads normalised images
   * with 0 (values are in [0, 1] unless `normalise` was asked for, then normalised).
   */
  images: Float32Array;
  shape: [n: number, c: number, h: number, w: number];
  /** Per image, [height, width] after the resize, inside the padded batch. */
  imageSizes: [number, number][];
  /** Per image, [height, width] as it came in. */
  originalSizes: [number, number][];
  /** Ground-truth boxes scaled with their image, when boxes were given. */
  boxes?: Float32Array[];
}

/** Detections of one image: [k, 4] boxes (x1, y1, x2, y2 pixels), scores and classes. */
export interface TransformDetections {
  boxes: Float32Array;
  scores: Float32Array;
  labels: Int32Array;
}

const f32 = Math.fround;

/**
 * torchvision's GeneralizedRCNNTransform (0.14, models/detection/transform.py) for one scale:
 * resize each image so its short side is minSize unless the long side would pass maxSize
 * (bilinear, align_corners=False, no antialiasing: F.interpolate(..., mode='bilinear',
 * recompute_scale_factor=True)), batch them by padding at the bottom/right to a common size
 * rounded up to sizeDivisible, keep each image's resized and original size, scale ground-truth
 * boxes with their image, and map detections back to each original image's pixels.
 *
 * One difference of order, not of result: torchvision normalises, then resizes, then pads with
 * 0; here images are resized in [0, 1] and padded with the mean, and the model normalises the
 * padded batch on the backend (FasterRCNN.features). Bilinear weights sum to 1, so both give the
 * same tensor up to float rounding (the golden fixture checks 1e-5), and the distiller's teacher
 * and student normalise exactly as before.
 *
 * `config` null is the identity: no resize, no rounding up of the padded size, padding with 0
 * as the loader does (checkpoints without a transform section).
 */
export class DetectionTransform {
  constructor(readonly config: DetectionTransformConfig | null) {
    if (config) {
      const { minSize, maxSize, sizeDivisible, mean, std } = config;
      if (!(minSize > 0) || !(maxSize >= minSize)) throw new Error(`kdet.DetectionTransform: need 0 < minSize <= maxSize, got ${minSize} and ${maxSize}`);
      if (!(Number.isInteger(sizeDivisible) && sizeDivisible >= 1)) throw new Error(`kdet.DetectionTransform: sizeDivisible must be an integer >= 1, got ${sizeDivisible}`);
      if (mean.length !== std.length || std.some((s) => !(s > 0))) throw new Error('kdet.DetectionTransform: mean and std need one value per channel, std > 0');
    }
  }

  /** The transform a model config describes (identity when it has no `transform` section). */
  static fromModelConfig(cfg: { transform?: TransformConfig; imageMean: readonly number[]; imageStd: readonly number[] }): DetectionTransform {
    return new DetectionTransform(cfg.transform ? { ...cfg.transform, mean: cfg.imageMean, std: cfg.imageStd } : null);
  }

  get identity(): boolean {
    return this.config === null;
  }

  /**
   * The [height, width] an h × w image is resized to, as torchvision computes it: the scale is
   * min(minSize / short, maxSize / long) in float32 (`python_float / float32_tensor` is the
   * reciprocal times the number there), and each side is floor(side · scale).
   */
  resizedSize(h: number, w: number): [number, number] {
    if (!this.config) return [h, w];
    const { minSize, maxSize } = this.config;
    const scale = Math.min(f32(f32(1 / Math.min(h, w)) * f32(minSize)), f32(f32(1 / Math.max(h, w)) * f32(maxSize)));
    return [Math.max(1, Math.floor(h * scale)), Math.max(1, Math.floor(w * scale))];
  }

  /** One image resized (a copy only when the size changes), with its boxes scaled alike. */
  resize(input: ImageInput, boxes?: Boxes): { image: Float32Array; height: number; width: number; boxes?: Boxes } {
    const { height: h, width: w } = input;
    const [nh, nw] = this.resizedSize(h, w);
    if (nh === h && nw === w) return { image: input.image, height: h, width: w, ...(boxes ? { boxes } : {}) };
    const c = channelsOf(input);
    return { image: resizeBilinear(input.image, c, h, w, nh, nw), height: nh, width: nw, ...(boxes ? { boxes: scaleBoxes(boxes, [h, w], [nh, nw]) } : {}) };
  }

  /**
   * Resize every image and pad them into one batch (torchvision's resize + batch_images).
   * `boxes` (one [n, 4] array per image) are scaled with their images.
   */
  batch(images: readonly ImageInput[], boxes?: readonly Boxes[], opts: { normalise?: boolean } = {}): TransformedBatch {
    if (images.length === 0) throw new Error('kdet.DetectionTransform.batch: no images');
    if (boxes && boxes.length !== images.length) throw new Error(`kdet.DetectionTransform.batch: ${images.length} images but ${boxes.length} box arrays`);
    const c = channelsOf(images[0]!);
    const resized = images.map((im, i) => {
      if (channelsOf(im) !== c) throw new Error(`kdet.DetectionTransform.batch: image ${i} has ${channelsOf(im)} channels, image 0 has ${c}`);
      return this.resize(im, boxes?.[i]);
    });
    const [h, w] = this.paddedSize(resized.map((r) => [r.height, r.width]));
    const out = this.padInto(resized, c, h, w);
    if (opts.normalise) this.normaliseInPlace(out, c, h * w);
    return {
      images: out,
      shape: [images.length, c, h, w],
      imageSizes: resized.map((r) => [r.height, r.width]),
      originalSizes: images.map((im) => [im.height, im.width]),
      ...(boxes ? { boxes: resized.map((r) => r.boxes!) } : {}),
    };
  }

  /**
   * A loader's batch (src/data/loader.ts: images padded at the bottom/right, each image's size in
   * `sizes`) through the transform, ground-truth boxes scaled with it. The identity keeps the
   * loader's buffer and boxes as they are (the path every model before the transform trained on);
   * only each image's own size is new, for clipping.
   */
  fromBatch(batch: DetectionBatch): TransformedBatch {
    const [n, c, H, W] = batch.shape;
    const originalSizes = batch.sizes.map(([h, w]): [number, number] => [h, w]);
    if (batch.sizes.length !== n) throw new Error(`kdet.DetectionTransform.fromBatch: ${n} images but ${batch.sizes.length} sizes`);
    if (!this.config) return { images: batch.images, shape: [n, c, H, W], imageSizes: originalSizes.map(([h, w]) => [h, w]), originalSizes, boxes: batch.boxes };
    const inputs = originalSizes.map(([h, w], i) => ({ image: h === H && w === W ? batch.images.subarray(i * c * H * W, (i + 1) * c * H * W) : crop(batch.images, i, c, H, W, h, w), height: h, width: w }));
    return this.batch(inputs, batch.boxes);
  }

  /**
   * Detections on the transformed batch back into each original image's pixels (torchvision's
   * postprocess: boxes times original/resized per axis, in float32). The identity returns them
   * as they are.
   */
  postprocess<D extends TransformDetections>(detections: readonly D[], imageSizes: readonly ImageSize[], originalSizes: readonly ImageSize[]): D[] {
    return detections.map((d, i) => {
      const from = imageSizes[i]!;
      const to = originalSizes[i]!;
      if (from[0] === to[0] && from[1] === to[1]) return d;
      return { ...d, boxes: scaleBoxes(d.boxes, from, to) };
    });
  }

  /** The padded batch size of images of these sizes: the largest side, rounded up to sizeDivisible. */
  paddedSize(sizes: readonly ImageSize[]): [number, number] {
    const div = this.config?.sizeDivisible ?? 1;
    let h = 0;
    let w = 0;
    for (const [sh, sw] of sizes) (h = Math.max(h, sh)), (w = Math.max(w, sw));
    return [Math.ceil(h / div) * div, Math.ceil(w / div) * div];
  }

  private padInto(images: readonly { image: Float32Array; height: number; width: number }[], c: number, h: number, w: number): Float32Array {
    const out = new Float32Array(images.length * c * h * w);
    const mean = this.config?.mean;
    images.forEach((im, n) => {
      for (let ch = 0; ch < c; ch++) {
        const plane = out.subarray((n * c + ch) * h * w, (n * c + ch + 1) * h * w);
        // The mean colour, which the model's normalisation maps to exactly 0.
        const fill = mean?.[ch] ?? 0;
        if ((im.height < h || im.width < w) && fill !== 0) plane.fill(fill);
        for (let y = 0; y < im.height; y++) plane.set(im.image.subarray((ch * im.height + y) * im.width, (ch * im.height + y + 1) * im.width), y * w);
      }
    });
    return out;
  }

  private normaliseInPlace(images: Float32Array, c: number, hw: number): void {
    const mean = this.config?.mean;
    const std = this.config?.std;
    if (!mean || !std) return;
    for (let p = 0; p < images.length / hw; p++) {
      const m = f32(mean[p % c]!);
      const s = f32(std[p % c]!);
      for (let i = p * hw; i < (p + 1) * hw; i++) images[i] = (images[i]! - m) / s;
    }
  }
}

/**
 * Bilinear resize of a CHW image as torch's CPU upsample_bilinear2d with align_corners=False and
 * no scale given (F.interpolate with recompute_scale_factor=True): the source coordinate of
 * output pixel d is (d + 0.5) · in/out − 0.5 (pixel centres aligned, clamped at 0, so box
 * coordinates scale by exactly out/in), no antialiasing when shrinking. The arithmetic follows
 * torch 1.13's x86 build, checked bit for bit against it: the scale in/out in float32, the
 * source coordinate in float64, the weights rounded to float32, then per row
 * fma(x0, w0, x1 · w1) and across rows fma(row0, h0, row1 · h1) in float32.
 */
export function resizeBilinear(src: Float32Array, c: number, h: number, w: number, nh: number, nw: number): Float32Array {
  const ys = linearTaps(h, nh);
  const xs = linearTaps(w, nw);
  const out = new Float32Array(c * nh * nw);
  for (let ch = 0; ch < c; ch++) {
    const plane = ch * h * w;
    for (let y = 0; y < nh; y++) {
      const r0 = plane + ys.i0[y]! * w;
      const r1 = plane + ys.i1[y]! * w;
      const h0 = ys.l0[y]!;
      const h1 = ys.l1[y]!;
      const o = (ch * nh + y) * nw;
      for (let x = 0; x < nw; x++) {
        const x0 = xs.i0[x]!;
        const x1 = xs.i1[x]!;
        const w0 = xs.l0[x]!;
        const w1 = xs.l1[x]!;
        const t0 = fmaF32(src[r0 + x0]!, w0, f32(src[r0 + x1]! * w1));
        const t1 = fmaF32(src[r1 + x0]!, w0, f32(src[r1 + x1]! * w1));
        out[o + x] = fmaF32(t0, h0, f32(t1 * h1));
      }
    }
  }
  return out;
}

/** Source indices and weights along one axis (torch's compute_indices_weights_linear). */
function linearTaps(size: number, outSize: number): { i0: Int32Array; i1: Int32Array; l0: Float32Array; l1: Float32Array } {
  const scale = f32(size / outSize);
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const l0 = new Float32Array(outSize);
  const l1 = new Float32Array(outSize);
  for (let d = 0; d < outSize; d++) {
    if (size === outSize) {
      i0[d] = i1[d] = d;
      l0[d] = 1;
      continue;
    }
    const real = Math.max(0, scale * (d + 0.5) - 0.5);
    const k = Math.floor(real);
    i0[d] = k;
    i1[d] = k < size - 1 ? k + 1 : k;
    l1[d] = Math.min(Math.max(real - k, 0), 1);
    l0[d] = f32(1 - l1[d]!);
  }
  return { i0, i1, l0, l1 };
}

const bits = new Float32Array(1);
const bitsI = new Int32Array(bits.buffer);

/** The float32 next to r (finite, non-zero) in the direction of `towards`. */
function nextF32(r: number, towards: number): number {
  bits[0] = r;
  bitsI[0] += (towards > r) === (r > 0) ? 1 : -1;
  return bits[0]!;
}

/**
 * Fused multiply-add rounded once to float32, for float32 a, b, c: a·b is exact in float64, the
 * sum's rounding error is recovered exactly (two-sum), and it decides the one case where
 * rounding the float64 sum to float32 would round twice (a tie between two float32s).
 */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = f32(s);
  if (r === s || !Number.isFinite(s) || r === 0) return r;
  const z = s - p;
  const e = p - (s - z) + (c - z);
  if (e === 0) return r;
  const other = nextF32(r, s);
  // A tie: s is exactly halfway between r and its neighbour; the exact sum s + e lies on one side.
  if (Math.abs(s - r) !== Math.abs(other - s)) return r;
  return (e > 0) === (other > r) ? other : r;
}

function channelsOf(im: ImageInput): number {
  const c = im.image.length / (im.height * im.width);
  if (!Number.isInteger(c) || c < 1) throw new Error(`kdet.DetectionTransform: an image of ${im.height}x${im.width} has ${im.image.length} values, not a whole number of channels`);
  return c;
}

/** Image i's top-left h × w block out of an [n, c, H, W] buffer, as CHW. */
function crop(images: Float32Array, i: number, c: number, H: number, W: number, h: number, w: number): Float32Array {
  if (h > H || w > W) throw new Error(`kdet.DetectionTransform: an image of ${h}x${w} in a batch padded to ${H}x${W}`);
  const out = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      const src = ((i * c + ch) * H + y) * W;
      out.set(images.subarray(src, src + w), (ch * h + y) * w);
    }
  }
  return out;
}

/**
 * Boxes from an image of size `from` to one of size `to` (torchvision's resize_boxes: each
 * axis's ratio to/from in float32, each coordinate times it in float32).
 */
export function scaleBoxes(boxes: Boxes, from: ImageSize, to: ImageSize): Boxes {
  const ry = f32(to[0] / from[0]);
  const rx = f32(to[1] / from[1]);
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    out[i] = boxes[i]! * rx;
    out[i + 1] = boxes[i + 1]! * ry;
    out[i + 2] = boxes[i + 2]! * rx;
    out[i + 3] = boxes[i + 3]! * ry;
  }
  return out;
}

/** Per-image sizes must be one per image, whole pixels, inside the padded batch. */
export function checkSizes(sizes: readonly ImageSize[], n: number, padded: ImageSize, what: string): void {
  if (sizes.length !== n) throw new Error(`kdet.${what}: ${n} images but ${sizes.length} image sizes`);
  for (const [i, [h, w]] of sizes.entries()) {
    if (!(Number.isInteger(h) && Number.isInteger(w) && h >= 1 && w >= 1 && h <= padded[0] && w <= padded[1])) {
      throw new Error(`kdet.${what}: image ${i} is ${h}x${w}, which does not fit the padded batch of ${padded[0]}x${padded[1]}`);
    }
  }
}
