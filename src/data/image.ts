/**
 * Image decoding, conversion and resizing, all pure JS so that it runs in any
 * runtime. Decoders: jpeg-js (baseline and progressive JPEG, no dependencies)
 * and fast-png (all PNG colour types and bit depths, built on fflate which we
 * already use for gzip). Both are maintained and have no native parts.
 */
import { convertIndexedToRgb, decode as decodePngRaw, encode as encodePngRaw } from 'fast-png';
import jpeg from 'jpeg-js';

/** Interleaved 8-bit RGB, row-major (HWC). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export function isJpeg(b: Uint8Array): boolean {
  return b[0] === 0xff && b[1] === 0xd8;
}

export function isPng(b: Uint8Array): boolean {
  return b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
}

/** Decodes JPEG or PNG bytes to RGB; `name` is used in error messages. */
export function decodeImage(bytes: Uint8Array, name = 'image'): RgbImage {
  try {
    if (isJpeg(bytes)) {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
      return { width: img.width, height: img.height, data: img.data };
    }
    if (isPng(bytes)) return pngToRgb(decodePngRaw(bytes));
  } catch (e) {
    throw new Error(`${name}: cannot decode image: ${(e as Error).message}`);
  }
  throw new Error(`${name}: not a JPEG or PNG file`);
}

function pngToRgb(png: ReturnType<typeof decodePngRaw>): RgbImage {
  const { width, height } = png;
  let { data, channels, depth } = png;
  if (png.palette) {
    data = convertIndexedToRgb(png);
    channels = png.palette[0]?.length ?? 3;
    depth = 8;
  }
  if (depth !== 8 && depth !== 16) throw new Error(`greyscale PNG of bit depth ${depth} is not supported`);
  const shift = depth === 16 ? 8 : 0;
  const out = new Uint8Array(width * height * 3);
  // Greyscale (1-2 channels) repeats its value; alpha is dropped.
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) out[p * 3 + c] = data[p * channels + (channels >= 3 ? c : 0)]! >> shift;
  }
  return { width, height, data: out };
}

/** HWC uint8 RGB to CHW float in [0,1]. */
export function rgbToChw(img: RgbImage): Float32Array {
  const { width, height, data } = img;
  const hw = width * height;
  const out = new Float32Array(3 * hw);
  for (let p = 0; p < hw; p++) {
    out[p] = data[3 * p]! / 255;
    out[hw + p] = data[3 * p + 1]! / 255;
    out[2 * hw + p] = data[3 * p + 2]! / 255;
  }
  return out;
}

/** CHW float (values in [0,1], clamped) to HWC uint8 RGB. */
export function chwToRgb(chw: Float32Array, height: number, width: number): RgbImage {
  const hw = width * height;
  const data = new Uint8Array(3 * hw);
  for (let p = 0; p < hw; p++) {
    for (let c = 0; c < 3; c++) data[3 * p + c] = Math.round(Math.min(1, Math.max(0, chw[c * hw + p]!)) * 255);
  }
  return { width, height, data };
}

/**
 * Bilinear resize of a CHW image, pixel centres aligned (like OpenCV's and
 * torchvision's align_corners=false), so box coordinates scale by exactly
 * newW/oldW and newH/oldH.
 */
export function resizeChw(src: Float32Array, c: number, h: number, w: number, nh: number, nw: number): Float32Array {
  if (nh === h && nw === w) return src.slice();
  const out = new Float32Array(c * nh * nw);
  const xs0 = new Int32Array(nw);
  const xs1 = new Int32Array(nw);
  const fxs = new Float32Array(nw);
  for (let x = 0; x < nw; x++) {
    const u = Math.min(w - 1, Math.max(0, ((x + 0.5) * w) / nw - 0.5));
    xs0[x] = Math.floor(u);
    xs1[x] = Math.min(w - 1, xs0[x]! + 1);
    fxs[x] = u - xs0[x]!;
  }
  for (let y = 0; y < nh; y++) {
    const v = Math.min(h - 1, Math.max(0, ((y + 0.5) * h) / nh - 0.5));
    const y0 = Math.floor(v);
    const y1 = Math.min(h - 1, y0 + 1);
    const fy = v - y0;
    for (let ch = 0; ch < c; ch++) {
      const base = ch * h * w;
      const r0 = base + y0 * w;
      const r1 = base + y1 * w;
      const o = ch * nh * nw + y * nw;
      for (let x = 0; x < nw; x++) {
        const fx = fxs[x]!;
        const a = src[r0 + xs0[x]!]! * (1 - fx) + src[r0 + xs1[x]!]! * fx;
        const b = src[r1 + xs0[x]!]! * (1 - fx) + src[r1 + xs1[x]!]! * fx;
        out[o + x] = a * (1 - fy) + b * fy;
      }
    }
  }
  return out;
}

/** Encodes HWC uint8 RGB as PNG. */
export function encodePng(img: RgbImage): Uint8Array {
  return encodePngRaw({ width: img.width, height: img.height, data: img.data, channels: 3, depth: 8 });
}
