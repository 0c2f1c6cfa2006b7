/**
 * Image decoding, conversion and resizing, all pure JS so that it runs in any
 * runtime. Decoders: jpeg-js (baseline and progressive JPEG, no dependencies)
 * and fast-png (all PNG colour types and bit depths, built on fflate which we
 * already use for gzip). Both are maintained and have no native parts.
 */
import { convertIndexedToRgb, decode as decodePngRaw, encode as encodePngRaw } from 'fast-png';
import jpeg from 'jpeg-js';
import { DataError } from './errors.js';

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

/**
 * Decodes JPEG or PNG bytes to 8-bit RGB; `name` (the file's path) is named
 * in errors, which are DataErrors. JPEG: baseline and progressive, greyscale,
 * RGB and CMYK. PNG: every colour type and bit depth (greyscale 1-16 bit,
 * grey+alpha, RGB, RGBA, palette with or without transparency); greyscale is
 * repeated into R, G and B, 16-bit samples are scaled to 8 bits by
 * round(v / 257) (= round(v * 255 / 65535)), sub-byte greyscale by v * 255 /
 * (2^depth - 1), and alpha is dropped (the colour under it is kept, as PIL's
 * convert('RGB') does).
 */
export function decodeImage(bytes: Uint8Array, name = 'image'): RgbImage {
  let img: RgbImage;
  try {
    if (isJpeg(bytes)) {
      const j = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
      img = { width: j.width, height: j.height, data: j.data };
    } else if (isPng(bytes)) {
      img = pngToRgb(decodePngRaw(bytes));
    } else {
      const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
      throw new DataError(name, undefined, `not a JPEG or PNG file (starts with ${head || 'nothing: the file is empty'})`);
    }
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(name, undefined, `cannot decode image: ${(e as Error).message}`, { cause: e });
  }
  if (!(img.width > 0 && img.height > 0) || img.data.length !== img.width * img.height * 3) {
    throw new DataError(name, undefined, `cannot decode image: got ${img.width}x${img.height} with ${img.data.length} bytes`);
  }
  return img;
}

function pngToRgb(png: ReturnType<typeof decodePngRaw>): RgbImage {
  const { width, height } = png;
  const hw = width * height;
  let data: ArrayLike<number> = png.data;
  let channels = png.channels;
  let depth: number = png.depth;
  if (png.palette) {
    data = convertIndexedToRgb(png);
    channels = png.palette[0]?.length ?? 3;
    depth = 8;
  } else if (depth < 8) {
    data = unpackBits(png.data as Uint8Array, width, height, channels, depth);
    depth = 8;
  } else if (depth !== 8 && depth !== 16) {
    throw new Error(`PNG bit depth ${depth} is not supported`);
  }
  if (data.length < hw * channels) throw new Error(`PNG data holds ${data.length} samples, expected ${hw * channels}`);
  const out = new Uint8Array(hw * 3);
  // Greyscale (1-2 channels) repeats its value; alpha (channel 2 or 4) is dropped.
  const c1 = channels >= 3 ? 1 : 0;
  const c2 = channels >= 3 ? 2 : 0;
  if (depth === 16) {
    for (let p = 0; p < hw; p++) {
      const b = p * channels;
      out[p * 3] = Math.round(data[b]! / 257);
      out[p * 3 + 1] = Math.round(data[b + c1]! / 257);
      out[p * 3 + 2] = Math.round(data[b + c2]! / 257);
    }
  } else {
    for (let p = 0; p < hw; p++) {
      const b = p * channels;
      out[p * 3] = data[b]!;
      out[p * 3 + 1] = data[b + c1]!;
      out[p * 3 + 2] = data[b + c2]!;
    }
  }
  return { width, height, data: out };
}

/** Greyscale samples of 1, 2 or 4 bits, packed MSB first with rows padded to a byte, to 0..255. */
function unpackBits(packed: Uint8Array, width: number, height: number, channels: number, depth: number): Uint8Array {
  const perRow = width * channels;
  const rowBytes = Math.ceil((perRow * depth) / 8);
  if (packed.length < rowBytes * height) throw new Error(`PNG data holds ${packed.length} bytes, expected ${rowBytes * height}`);
  const max = (1 << depth) - 1;
  const scale = 255 / max;
  const out = new Uint8Array(perRow * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < perRow; x++) {
      const bit = x * depth;
      const byte = packed[y * rowBytes + (bit >> 3)]!;
      out[y * perRow + x] = Math.round(((byte >> (8 - depth - (bit & 7))) & max) * scale);
    }
  }
  return out;
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

/** Encodes HWC uint8 RGB as baseline JPEG (lossy; `quality` 1..100, default 90). */
export function encodeJpeg(img: RgbImage, quality = 90): Uint8Array {
  const hw = img.width * img.height;
  const rgba = new Uint8Array(hw * 4);
  for (let p = 0; p < hw; p++) {
    rgba[4 * p] = img.data[3 * p]!;
    rgba[4 * p + 1] = img.data[3 * p + 1]!;
    rgba[4 * p + 2] = img.data[3 * p + 2]!;
    rgba[4 * p + 3] = 255;
  }
  const out = jpeg.encode({ width: img.width, height: img.height, data: rgba }, quality).data;
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
