import { tensor, zeros } from '../engine/ops/creation.js';
import { roiAlign } from '../engine/ops/detection.js';
import { add } from '../engine/ops/elementwise.js';
import { concat, flatten, gather } from '../engine/ops/layout.js';
import { linear } from '../engine/ops/linalg.js';
import { scope } from '../engine/scope.js';
import type { Tensor } from '../engine/tensor.js';
import { Module } from '../nn/module.js';
import { roundHalfEven } from './anchors.js';
import type { Boxes } from './boxes.js';
import type { FeatureMaps } from './fpn.js';
import { roiAlignLinear, roiAlignLinearPays, roiAlignMatrix } from './roi-align-linear.js';
import type { ImageSize } from './transform.js';

const f = Math.fround;

/**
 * torchvision.ops.poolers.LevelMapper: the FPN paper's eqn. 1, level = ⌊k0 + log2(√area / s0) + ε⌋
 * clamped to [kMin, kMax], returned as an index from kMin. Computed in float32 step by step as
 * torch does, so a box whose √area is exactly s0·2^j (where ε decides) lands where torchvision's does.
 */
export class LevelMapper {
  constructor(
    readonly kMin: number,
    readonly kMax: number,
    readonly canonicalScale = 224,
    readonly canonicalLevel = 4,
    readonly eps = 1e-6,
  ) {}

  /**
   * Level index of every box of every image, in order. A box of negative area (x2 < x1 xor
   * y2 < y1) has no level (−1): torchvision's NaN level matches no level, and its row stays zero.
   */
  levels(boxes: readonly Boxes[]): Int32Array {
    const out = new Int32Array(boxes.reduce((s, b) => s + b.length / 4, 0));
    const eps = f(this.eps);
    let k = 0;
    for (const b of boxes) {
      for (let i = 0; i < b.length; i += 4) {
        const area = f(f(b[i + 2]! - b[i]!) * f(b[i + 3]! - b[i + 1]!));
        const s = f(Math.sqrt(area));
        const level = Math.floor(f(f(this.canonicalLevel + f(Math.log2(f(s / this.canonicalScale)))) + eps));
        out[k++] = Number.isNaN(level) ? -1 : Math.min(Math.max(level, this.kMin), this.kMax) - this.kMin;
      }
    }
    return out;
  }
}

/**
 * torchvision's _infer_scale: the feature map's height over the image's, rounded to a power of two
 * in log2 (float32 log2, round half to even). Only the height is used, as in torchvision.
 */
export function inferScale(featureHeight: number, imageHeight: number): number {
  return 2 ** roundHalfEven(f(Math.log2(f(featureHeight / imageHeight))));
}

/**
 * torchvision's _setup_scales: each level's scale from the largest height among `imageSizes`
 * (each image's own size, not the padded batch's), and the LevelMapper with kMin, kMax = −log2
 * of the first and last scales.
 */
export function setupScales(
  featureHeights: readonly number[],
  imageSizes: readonly ImageSize[],
  canonicalScale = 224,
  canonicalLevel = 4,
): { scales: number[]; mapper: LevelMapper } {
  if (imageSizes.length === 0) throw new Error('kdet.MultiScaleRoIAlign: images list should not be empty');
  const maxHeight = Math.max(...imageSizes.map((s) => s[0]));
  const scales = featureHeights.map((h) => inferScale(h, maxHeight));
  const kMin = Math.trunc(-Math.log2(scales[0]!));
  const kMax = Math.trunc(-Math.log2(scales[scales.length - 1]!));
  return { scales, mapper: new LevelMapper(kMin, kMax, canonicalScale, canonicalLevel) };
}

/** torchvision's _convert_to_roi_format: rows (image index, x1, y1, x2, y2), images in order. */
export function toRoiFormat(boxes: readonly Boxes[]): Float32Array {
  const out = new Float32Array(boxes.reduce((s, b) => s + (b.length / 4) * 5, 0));
  let k = 0;
  boxes.forEach((b, img) => {
    for (let i = 0; i < b.length; i += 4) {
      out[k++] = img;
      out.set(b.subarray(i, i + 4), k);
      k += 4;
    }
  });
  return out;
}

export interface MultiScaleRoIAlignOptions {
  canonicalScale?: number;
  canonicalLevel?: number;
}

/**
 * torchvision.ops.MultiScaleRoIAlign: each box pooled with roi_align (aligned=False) from the FPN
 * level the LevelMapper assigns it, at that level's scale; rows in the boxes' order, [K, C, h, w].
 * Faster R-CNN's is MultiScaleRoIAlign(['0', '1', '2', '3'], 7, 2).
 *
 * Composed of engine ops, so gradients reach the feature maps: one roiAlign per level on the
 * boxes assigned to it, concatenated, then gathered back into the original order.
 *
 * Like torchvision, the scales and the mapper are inferred on the first call (from that batch's
 * image sizes) and kept; `scales` is null until then.
 */
export class MultiScaleRoIAlign extends Module {
  readonly featmapNames: readonly string[];
  readonly outputSize: readonly [number, number];
  readonly canonicalScale: number;
  readonly canonicalLevel: number;
  private inferred: { scales: number[]; mapper: LevelMapper } | null = null;

  constructor(
    featmapNames: readonly string[],
    outputSize: number | readonly [number, number],
    readonly samplingRatio: number,
    opts: MultiScaleRoIAlignOptions = {},
  ) {
    super();
    this.featmapNames = [...featmapNames];
    this.outputSize = typeof outputSize === 'number' ? [outputSize, outputSize] : [outputSize[0], outputSize[1]];
    this.canonicalScale = opts.canonicalScale ?? 224;
    this.canonicalLevel = opts.canonicalLevel ?? 4;
  }

  get scales(): readonly number[] | null {
    return this.inferred?.scales ?? null;
  }

  get mapper(): LevelMapper | null {
    return this.inferred?.mapper ?? null;
  }

  /** The feature maps whose names are listed, in the maps' own order (torchvision's _filter_input). */
  filterInput(x: FeatureMaps): Tensor[] {
    const out = [...x].filter(([name]) => this.featmapNames.includes(name)).map(([, t]) => t);
    if (out.length === 0) {
      throw new Error(`kdet.MultiScaleRoIAlign: none of the feature maps [${[...x.keys()].join(', ')}] is in featmap_names [${this.featmapNames.join(', ')}]`);
    }
    return out;
  }

  /**
   * `boxes`: per image, [n, 4] rows (x1, y1, x2, y2) in the input image's pixels; `imageSizes`:
   * each image's [height, width] before padding (what the scales are inferred from).
   */
  forward(x: FeatureMaps, boxes: readonly Boxes[], imageSizes: readonly ImageSize[]): Tensor {
    const [oh, ow] = this.outputSize;
    return this.perLevel(x, boxes, imageSizes, (feature, rows, scale) => this.poolLevel(feature, rows, scale), (c) => [c, oh, ow]);
  }

  /**
   * linear(flatten(forward(x, boxes, imageSizes)), weight, bias), the box head's first layer on
   * the pooled features, [K, O]: on a level whose map has fewer pixels than it has boxes, computed
   * through the map's pixels (roi-align-linear.ts) when that costs less; equal to the direct
   * path up to float32 rounding. `weight` [O, C·h·w] in nn.Linear's layout.
   */
  forwardLinear(x: FeatureMaps, boxes: readonly Boxes[], imageSizes: readonly ImageSize[], weight: Tensor, bias: Tensor | null): Tensor {
    const o = weight.shape[0]!;
    return scope(() => {
      const pre = this.perLevel(x, boxes, imageSizes, (feature, rows, scale) => {
        const [n, c, h, w] = feature.shape as [number, number, number, number];
        const bins = this.outputSize[0] * this.outputSize[1];
        const k = rows.length / 5;
        // With no entries at all the pixel order would pay (a lower bound); then decide on the
        // matrix's real entry count.
        if (k > 0 && roiAlignLinearPays(k, n * h * w, c, bins, 0)) {
          const matrix = roiAlignMatrix(rows, { n, h, w, pooledH: this.outputSize[0], pooledW: this.outputSize[1], spatialScale: scale, samplingRatio: this.samplingRatio, aligned: false });
          if (roiAlignLinearPays(k, n * h * w, c, bins, matrix.nnz)) return roiAlignLinear(feature, matrix, weight, this.outputSize);
        }
        return linear(flatten(this.poolLevel(feature, rows, scale), 1), weight);
      }, () => [o]);
      return bias ? add(pre, bias) : pre;
    });
  }

  private poolLevel(feature: Tensor, rows: Float32Array, scale: number): Tensor {
    return scope(() =>
      roiAlign(feature, tensor(rows, [rows.length / 5, 5], { backend: feature.backend }), {
        outputSize: this.outputSize,
        spatialScale: scale,
        samplingRatio: this.samplingRatio,
        aligned: false,
      }),
    );
  }

  /**
   * Runs `level` on each level's boxes (ROI rows) and puts the rows back in the boxes' order;
   * `rowShape(channels)` is the shape of one row, for the zero rows of boxes with no level.
   */
  private perLevel(
    x: FeatureMaps, boxes: readonly Boxes[], imageSizes: readonly ImageSize[],
    level: (feature: Tensor, rows: Float32Array, scale: number) => Tensor, rowShape: (channels: number) => number[],
  ): Tensor {
    const feats = this.filterInput(x);
    this.inferred ??= setupScales(feats.map((t) => t.shape[2]!), imageSizes, this.canonicalScale, this.canonicalLevel);
    const { scales, mapper } = this.inferred;
    const rois = toRoiFormat(boxes);
    const k = rois.length / 5;
    const backend = feats[0]!.backend;
    if (feats.length === 1) return level(feats[0]!, rois, scales[0]!);

    const levels = mapper.levels(boxes);
    return scope(() => {
      const parts: Tensor[] = [];
      const order: number[] = [];
      feats.forEach((feature, l) => {
        const idx: number[] = [];
        levels.forEach((li, i) => li === l && idx.push(i));
        if (idx.length === 0) return;
        const rows = new Float32Array(idx.length * 5);
        idx.forEach((i, j) => rows.set(rois.subarray(i * 5, i * 5 + 5), j * 5));
        parts.push(level(feature, rows, scales[l]!));
        order.push(...idx);
      });
      // Row j of the stacked parts is box order[j]. Boxes with no level (negative area) all
      // point at one zero row after them, as torchvision's result keeps zeros there.
      const source = new Int32Array(k);
      order.forEach((box, j) => (source[box] = j));
      if (order.length < k) {
        levels.forEach((l, i) => l < 0 && (source[i] = order.length));
        parts.push(zeros([1, ...rowShape(feats[0]!.shape[1]!)], { backend }));
      }
      if (parts.length === 0) return level(feats[0]!, rois, scales[0]!); // no boxes: [0, …]
      const stacked = parts.length === 1 ? parts[0]! : concat(parts, 0);
      if (stacked.shape[0] === k && source.every((s, i) => s === i)) return stacked;
      return gather(stacked, tensor(source, [k], { dtype: 'int32', backend }), 0);
    });
  }
}
