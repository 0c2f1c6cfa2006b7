import { roundHalfEven } from './anchors.js';
import type { Boxes } from './boxes.js';

/** [height, width] of a feature map or an image. */
export type GridSize = readonly [height: number, width: number];

/**
 * torchvision's AnchorGenerator.generate_anchors for one level, in float32 as torch computes it:
 * h = √r, w = 1/h, per (ratio, size) — ratio-major — the box (−w·s, −h·s, w·s, h·s) / 2 rounded
 * half to even (`base_anchors.round()`). Returns [A, 4], A = ratios × sizes.
 */
export function generateCellAnchors(sizes: readonly number[], aspectRatios: readonly number[]): Float32Array {
  const f = Math.fround;
  const out = new Float32Array(sizes.length * aspectRatios.length * 4);
  let k = 0;
  for (const r of aspectRatios) {
    const h = f(Math.sqrt(f(r)));
    const w = f(1 / h);
    for (const s of sizes) {
      const ws = f(w * f(s));
      const hs = f(h * f(s));
      out[k++] = roundHalfEven(f(-ws / 2));
      out[k++] = roundHalfEven(f(-hs / 2));
      out[k++] = roundHalfEven(f(ws / 2));
      out[k++] = roundHalfEven(f(hs / 2));
    }
  }
  return out;
}

export interface MultiLevelAnchors {
  /** Every level's anchors, concatenated level after level: [M, 4]. The same for every image. */
  boxes: Boxes;
  /** Anchors of each level (H·W·A): where the RPN's outputs are split per level. */
  numAnchorsPerLevel: number[];
}

/**
 * torchvision.models.detection.anchor_utils.AnchorGenerator for several feature maps: level i
 * has sizes[i] × aspectRatios[i] anchors per location (ratios = height / width). Anchors are
 * ordered level, then row, then column, then cell anchor — the order of the RPN head's outputs
 * after concat_box_prediction_layers.
 *
 * As torchvision, each level's stride is the padded batch's size integer-divided by the grid's,
 * per axis (so a 'pool' level of 2×2 on a 96×128 batch has strides 48 and 64), and every image of
 * the batch gets the same anchors.
 */
export class MultiLevelAnchorGenerator {
  readonly cellAnchors: readonly Float32Array[];
  private readonly cache = new Map<string, MultiLevelAnchors>();

  constructor(
    readonly sizes: readonly (readonly number[])[],
    readonly aspectRatios: readonly (readonly number[])[],
  ) {
    if (sizes.length === 0 || sizes.length !== aspectRatios.length) {
      throw new Error(`kdet.MultiLevelAnchorGenerator: ${sizes.length} levels of sizes but ${aspectRatios.length} of aspect ratios`);
    }
    this.cellAnchors = sizes.map((s, i) => generateCellAnchors(s, aspectRatios[i]!));
  }

  /** Anchors per location of each level (torchvision's num_anchors_per_location). */
  numAnchorsPerLocation(): number[] {
    return this.sizes.map((s, i) => s.length * this.aspectRatios[i]!.length);
  }

  /** torchvision's grid_anchors: each level's cell anchors shifted to every location, [H·W·A, 4]. */
  gridAnchors(gridSizes: readonly GridSize[], strides: readonly GridSize[]): Float32Array[] {
    if (gridSizes.length !== this.cellAnchors.length || strides.length !== gridSizes.length) {
      throw new Error(
        `kdet.MultiLevelAnchorGenerator: ${gridSizes.length} feature maps for ${this.cellAnchors.length} anchor levels ` +
          '(one sizes/aspect-ratios entry per feature map)',
      );
    }
    return gridSizes.map(([gh, gw], level) => {
      const base = this.cellAnchors[level]!;
      const [sh, sw] = strides[level]!;
      const a = base.length / 4;
      const out = new Float32Array(gh * gw * a * 4);
      let k = 0;
      for (let y = 0; y < gh; y++) {
        for (let x = 0; x < gw; x++) {
          for (let j = 0; j < a; j++) {
            // Integer shifts plus float32 base anchors: the Float32Array store is torch's float32 add.
            out[k++] = base[j * 4]! + x * sw;
            out[k++] = base[j * 4 + 1]! + y * sh;
            out[k++] = base[j * 4 + 2]! + x * sw;
            out[k++] = base[j * 4 + 3]! + y * sh;
          }
        }
      }
      return out;
    });
  }

  /** All anchors for a padded batch of `imageSize` and feature maps of `gridSizes` (cached). */
  anchors(imageSize: GridSize, gridSizes: readonly GridSize[]): MultiLevelAnchors {
    const key = `${imageSize.join('x')}|${gridSizes.map((g) => g.join('x')).join(',')}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const strides = gridSizes.map(([gh, gw]) => [Math.floor(imageSize[0] / gh), Math.floor(imageSize[1] / gw)] as const);
    const levels = this.gridAnchors(gridSizes, strides);
    const boxes = new Float32Array(levels.reduce((s, l) => s + l.length, 0));
    let offset = 0;
    for (const l of levels) {
      boxes.set(l, offset);
      offset += l.length;
    }
    const result = { boxes, numAnchorsPerLevel: levels.map((l) => l.length / 4) };
    this.cache.set(key, result);
    return result;
  }
}
