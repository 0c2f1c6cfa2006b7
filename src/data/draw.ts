/**
 * Pictures for people: boxes with class names and scores drawn onto an image,
 * several images tiled into one, written as PNG. Everything works on 8-bit
 * RGB (HWC) so the result can go straight to the PNG encoder.
 */
import { GLYPH_HEIGHT, glyph, textWidth } from './font.js';
import { writeFileBytes } from './fs.js';
import { chwToRgb, encodePng } from './image.js';
import type { RgbImage } from './image.js';
import { hsv } from './raster.js';
import type { DetectionSample } from './types.js';

export type Rgb8 = [number, number, number];

export interface BoxesToDraw {
  /** [n,4] x1,y1,x2,y2 in the image's pixels. */
  boxes: ArrayLike<number>;
  /** [n], 1..C. */
  labels: ArrayLike<number>;
  /** [n]; drawn after the class name when present. */
  scores?: ArrayLike<number>;
}

export interface DrawOptions {
  classNames?: readonly string[];
  /** Boxes scoring below this are not drawn. */
  scoreThreshold?: number;
  lineWidth?: number;
  /** Pixel size of one font dot. */
  textScale?: number;
  /** One colour for every box; default: a colour per class. */
  colour?: Rgb8;
  /** Dashed outlines (used for ground truth when detections are drawn too). */
  dashed?: boolean;
  /** Leave out the text labels. */
  noText?: boolean;
}

/** A distinct, stable colour per class (golden-ratio hue steps). */
export function classColour(label: number): Rgb8 {
  const [r, g, b] = hsv((label * 0.618034) % 1, 0.75, 1);
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}

function setPixel(img: RgbImage, x: number, y: number, c: Rgb8): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  img.data.set(c, (y * img.width + x) * 3);
}

function fillRect(img: RgbImage, x0: number, y0: number, x1: number, y1: number, c: Rgb8): void {
  for (let y = Math.max(0, y0); y < Math.min(img.height, y1); y++) {
    for (let x = Math.max(0, x0); x < Math.min(img.width, x1); x++) img.data.set(c, (y * img.width + x) * 3);
  }
}

/** Draws text with its top-left corner at (x, y). */
export function drawText(img: RgbImage, text: string, x: number, y: number, colour: Rgb8, scale = 1): void {
  [...text].forEach((ch, k) => {
    const rows = glyph(ch);
    const gx = x + k * 6 * scale;
    rows.forEach((bits, r) => {
      for (let col = 0; col < 5; col++) {
        if ((bits >> (4 - col)) & 1) fillRect(img, gx + col * scale, y + r * scale, gx + (col + 1) * scale, y + (r + 1) * scale, colour);
      }
    });
  });
}

/** Draws boxes in place, each with "name score" on a tag above (or inside) it. */
export function drawBoxes(img: RgbImage, what: BoxesToDraw, options: DrawOptions = {}): RgbImage {
  const lw = options.lineWidth ?? Math.max(1, Math.round(Math.min(img.width, img.height) / 256));
  const ts = options.textScale ?? Math.max(1, Math.floor(Math.min(img.width, img.height) / 300));
  const n = what.labels.length;
  for (let i = 0; i < n; i++) {
    const score = what.scores?.[i];
    if (score !== undefined && score < (options.scoreThreshold ?? -Infinity)) continue;
    const label = what.labels[i]!;
    const c = options.colour ?? classColour(label);
    const x0 = Math.floor(what.boxes[4 * i]!), y0 = Math.floor(what.boxes[4 * i + 1]!);
    const x1 = Math.ceil(what.boxes[4 * i + 2]!) - 1, y1 = Math.ceil(what.boxes[4 * i + 3]!) - 1;
    for (let t = 0; t < lw; t++) {
      for (let x = x0; x <= x1; x++) {
        if (options.dashed && (x >> 2) % 2) continue;
        setPixel(img, x, y0 + t, c);
        setPixel(img, x, y1 - t, c);
      }
      for (let y = y0; y <= y1; y++) {
        if (options.dashed && (y >> 2) % 2) continue;
        setPixel(img, x0 + t, y, c);
        setPixel(img, x1 - t, y, c);
      }
    }
    if (options.noText) continue;
    const name = options.classNames?.[label - 1] ?? String(label);
    const text = score === undefined ? name : `${name} ${score.toFixed(2)}`;
    const tw = textWidth(text, ts) + 2 * ts;
    const th = (GLYPH_HEIGHT + 2) * ts;
    const ty = y0 - th >= 0 ? y0 - th : y0; // above the box when there is room
    const tx = Math.max(0, Math.min(x0, img.width - tw));
    fillRect(img, tx, ty, tx + tw, ty + th, c);
    const dark = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] > 140;
    drawText(img, text, tx + ts, ty + ts, dark ? [0, 0, 0] : [255, 255, 255], ts);
  }
  return img;
}

/** Nearest-neighbour enlargement, so labels on small images stay legible. */
export function upscale(img: RgbImage, factor: number): RgbImage {
  if (factor === 1) return { ...img, data: img.data.slice() };
  const w = img.width * factor, h = img.height * factor;
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (Math.floor(y / factor) * img.width + Math.floor(x / factor)) * 3;
      data.set(img.data.subarray(s, s + 3), (y * w + x) * 3);
    }
  }
  return { width: w, height: h, data };
}

export interface RenderOptions extends Omit<DrawOptions, 'dashed' | 'colour'> {
  /** Detections to draw (solid, with scores); ground truth is then dashed. */
  detections?: BoxesToDraw;
  showGroundTruth?: boolean;
  /** Enlargement factor; default makes the shorter side at least 384 px. */
  scale?: number;
}

/** A sample (values in [0,1], before normalisation) with its boxes and optional detections. */
export function renderSample(sample: DetectionSample, options: RenderOptions = {}): RgbImage {
  const scale = options.scale ?? Math.max(1, Math.ceil(384 / Math.min(sample.height, sample.width)));
  const img = upscale(chwToRgb(sample.image, sample.height, sample.width), scale);
  const scaled = (b: ArrayLike<number>): Float32Array => Float32Array.from(b, (v) => v * scale);
  const { detections, showGroundTruth = true, ...draw } = options;
  if (showGroundTruth) {
    drawBoxes(img, { boxes: scaled(sample.boxes), labels: sample.labels }, { ...draw, dashed: detections !== undefined });
  }
  if (detections) drawBoxes(img, { ...detections, boxes: scaled(detections.boxes) }, draw);
  return img;
}

/** Tiles images row by row into one picture, `gap` pixels apart, on dark grey. */
export function tile(images: RgbImage[], columns: number, gap = 4): RgbImage {
  const cw = Math.max(...images.map((i) => i.width));
  const ch = Math.max(...images.map((i) => i.height));
  const rows = Math.ceil(images.length / columns);
  const out: RgbImage = {
    width: columns * cw + (columns + 1) * gap,
    height: rows * ch + (rows + 1) * gap,
    data: new Uint8Array((columns * cw + (columns + 1) * gap) * (rows * ch + (rows + 1) * gap) * 3).fill(40),
  };
  images.forEach((img, k) => {
    const ox = gap + (k % columns) * (cw + gap);
    const oy = gap + Math.floor(k / columns) * (ch + gap);
    for (let y = 0; y < img.height; y++) {
      out.data.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), ((oy + y) * out.width + ox) * 3);
    }
  });
  return out;
}

/** Writes an image as a PNG file (Node); in browsers use encodePng and a Blob. */
export async function savePng(path: string, img: RgbImage): Promise<void> {
  await writeFileBytes(path, encodePng(img));
}
