/**
 * Pixel operations shared by the synthetic scene generators. Images are CHW
 * Float32Array RGB in [0,1]; everything is plain loops over typed arrays so
 * that generation stays fast without any native code.
 */
import type { Rng } from './rng.js';

export type RGB = [number, number, number];

/** HSV (all in [0,1]) to RGB. */
export function hsv(h: number, s: number, v: number): RGB {
  const i = Math.floor(h * 6) % 6;
  const f = h * 6 - Math.floor(h * 6);
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  switch (i) {
    case 0: return [v, t, p];
    case 1: return [q, v, p];
    case 2: return [p, v, t];
    case 3: return [p, q, v];
    case 4: return [t, p, v];
    default: return [v, p, q];
  }
}

/** Fills with a linear gradient from c0 to c1 along direction `angle`. */
export function fillGradient(img: Float32Array, h: number, w: number, c0: RGB, c1: RGB, angle: number): void {
  const dx = Math.cos(angle);
  const dy = Math.sin(angle);
  // Project the corners to normalise the ramp to [0,1] over the image.
  const ps = [0, w * dx, h * dy, w * dx + h * dy];
  const lo = Math.min(...ps);
  const span = Math.max(...ps) - lo || 1;
  const hw = h * w;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const t = ((x + 0.5) * dx + (y + 0.5) * dy - lo) / span;
      const o = y * w + x;
      img[o] = c0[0] + (c1[0] - c0[0]) * t;
      img[hw + o] = c0[1] + (c1[1] - c0[1]) * t;
      img[2 * hw + o] = c0[2] + (c1[2] - c0[2]) * t;
    }
  }
}

/** Adds zero-mean triangular noise of half-width `amp` to every value. */
export function addNoise(img: Float32Array, amp: number, rng: Rng): void {
  if (amp <= 0) return;
  for (let i = 0; i < img.length; i++) img[i]! += (rng.next() + rng.next() - 1) * amp;
}

export function clamp01(img: Float32Array): void {
  for (let i = 0; i < img.length; i++) {
    const v = img[i]!;
    img[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
}

/**
 * Composites a greyscale sprite (bytes, srcW x srcH, crop sx,sy,sw,sh) scaled
 * onto the destination rectangle dx,dy,dw,dh (integers, may leave the image).
 * The sprite's intensity is both its alpha (times alphaGain, capped at 1,
 * times opacity) and its shading, so garments keep their texture when tinted.
 * Sampling is bilinear with zeros outside the crop.
 */
export function drawSprite(
  img: Float32Array, h: number, w: number,
  src: Uint8Array, srcOffset: number, srcW: number,
  sx: number, sy: number, sw: number, sh: number,
  dx: number, dy: number, dw: number, dh: number,
  rgb: RGB, opacity: number, alphaGain: number, shadeFloor: number,
): void {
  const hw = h * w;
  const x0 = Math.max(0, dx);
  const x1 = Math.min(w, dx + dw);
  const y0 = Math.max(0, dy);
  const y1 = Math.min(h, dy + dh);
  if (x0 >= x1 || y0 >= y1) return;
  const sample = (row: number, col: number): number =>
    row < 0 || row >= sh || col < 0 || col >= sw ? 0 : src[srcOffset + (sy + row) * srcW + sx + col]!;
  for (let y = y0; y < y1; y++) {
    const v = ((y - dy + 0.5) * sh) / dh - 0.5;
    const r = Math.floor(v);
    const fy = v - r;
    for (let x = x0; x < x1; x++) {
      const u = ((x - dx + 0.5) * sw) / dw - 0.5;
      const c = Math.floor(u);
      const fx = u - c;
      const top = sample(r, c) * (1 - fx) + sample(r, c + 1) * fx;
      const bottom = sample(r + 1, c) * (1 - fx) + sample(r + 1, c + 1) * fx;
      const s = (top * (1 - fy) + bottom * fy) / 255;
      if (s <= 0) continue;
      const a = Math.min(1, s * alphaGain) * opacity;
      const shade = shadeFloor + (1 - shadeFloor) * s;
      const o = y * w + x;
      img[o]! += a * (rgb[0] * shade - img[o]!);
      img[hw + o]! += a * (rgb[1] * shade - img[hw + o]!);
      img[2 * hw + o]! += a * (rgb[2] * shade - img[2 * hw + o]!);
    }
  }
}

/** Intersection area over the smaller box's area: how much one box can hide another. */
export function overlapOfSmaller(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const iw = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!);
  const ih = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!);
  if (iw <= 0 || ih <= 0) return 0;
  const areaA = (a[2]! - a[0]!) * (a[3]! - a[1]!);
  const areaB = (b[2]! - b[0]!) * (b[3]! - b[1]!);
  return (iw * ih) / Math.min(areaA, areaB);
}
