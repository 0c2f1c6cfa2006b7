import type { Boxes } from './boxes.js';

export interface AnchorConfig {
  /** Anchor side lengths in pixels (the square anchor of each size has this side). */
  sizes: readonly number[];
  /** Height / width ratios. */
  aspectRatios: readonly number[];
  /** Feature stride in pixels. */
  stride: number;
}

/**
 * torchvision's AnchorGenerator for one feature map: base anchors centred at 0 with
 * w = size/√r, h = size·√r (rounded), ordered ratio-major then size; shifted to every feature
 * location (row-major), anchors innermost. This order matches the RPN head's output permuted to
 * [N, H, W, A].
 */
export class AnchorGenerator {
  private readonly cache = new Map<string, Boxes>();

  constructor(readonly config: AnchorConfig) {}

  get perLocation(): number {
    return this.config.sizes.length * this.config.aspectRatios.length;
  }

  baseAnchors(): Float32Array {
    const { sizes, aspectRatios } = this.config;
    const base = new Float32Array(this.perLocation * 4);
    let k = 0;
    for (const r of aspectRatios) {
      const hRatio = Math.sqrt(r);
      const wRatio = 1 / hRatio;
      for (const s of sizes) {
        const ws = wRatio * s;
        const hs = hRatio * s;
        // torch.round: half to even.
        base[k++] = roundHalfEven(-ws / 2);
        base[k++] = roundHalfEven(-hs / 2);
        base[k++] = roundHalfEven(ws / 2);
        base[k++] = roundHalfEven(hs / 2);
      }
    }
    return base;
  }

  /** All anchors for a feature map of fh × fw, as [fh·fw·A, 4]. Cached per size. */
  anchors(fh: number, fw: number): Boxes {
    const key = `${fh}x${fw}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const base = this.baseAnchors();
    const a = this.perLocation;
    const out = new Float32Array(fh * fw * a * 4);
    const s = this.config.stride;
    let k = 0;
    for (let y = 0; y < fh; y++) {
      for (let x = 0; x < fw; x++) {
        for (let j = 0; j < a; j++) {
          out[k++] = base[j * 4]! + x * s;
          out[k++] = base[j * 4 + 1]! + y * s;
          out[k++] = base[j * 4 + 2]! + x * s;
          out[k++] = base[j * 4 + 3]! + y * s;
        }
      }
    }
    this.cache.set(key, out);
    return out;
  }
}

export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
