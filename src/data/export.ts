/**
 * Writes a data set (any Dataset or AsyncDataset: built-in scenes, a VOC or
 * COCO set) as a real PASCAL VOC tree or a COCO JSON with its images, which
 * openVoc / openCoco (and other tools) read back.
 *
 * Images: each sample's CHW float image is written as 8-bit RGB, each value
 * round(clamp(v, 0, 1) * 255). PNG (the default) is lossless, so reading it
 * back gives exactly k / 255 for the k written: an image whose values are
 * already k / 255 (any decoded JPEG or PNG) round-trips bit for bit; one with
 * continuous values (generated scenes) comes back quantised, off by at most
 * 0.5 / 255. JPEG is lossy.
 *
 * Boxes, VOC: the devkit convention, 1-based inclusive pixel indices, so a
 * continuous box x1..x2 is written xmin = x1 + 1, xmax = x2 (vocTarget undoes
 * exactly that). With `boxes: 'round'` (the default, what VOC tools expect)
 * x1 and x2 are first rounded to the nearest integer pixel edge (a box kept
 * at least one pixel wide and inside the image), so a fractional box moves by
 * at most 0.5 px per edge; integer boxes come back exactly. `boxes: 'exact'`
 * writes fractional coordinates that give back the same float32 boxes
 * exactly (kdet reads them; the devkit and some tools expect integers).
 * Boxes, COCO: [x, y, width, height] as float32 values written in full, so
 * they come back exactly.
 */
import { chwToRgb, encodeJpeg, encodePng } from './image.js';
import type { RgbImage } from './image.js';
import { joinPath, makeDir, writeFileBytes } from './fs.js';
import type { AnyDataset, DetectionSample } from './types.js';

export interface ExportOptions {
  /** Number of samples written, the first ones (default: all). */
  count?: number;
  /** Image files: 'png' (lossless, default) or 'jpeg'. */
  imageFormat?: 'png' | 'jpeg';
  /** JPEG quality 1..100 (default 95). */
  jpegQuality?: number;
  /** Called after each sample is written. */
  onProgress?: (done: number, total: number) => void;
  /** Writes a file (default Node's fs); folders are created first with `makeDir`. */
  write?: (path: string, bytes: Uint8Array) => Promise<void>;
  makeDir?: (path: string) => Promise<void>;
}

export interface VocExportOptions extends ExportOptions {
  /** The ImageSets/Main list written (default 'trainval'). */
  split?: string;
  /** Box coordinates: integer pixels (default) or exact fractions (see the module comment). */
  boxes?: 'round' | 'exact';
}

export interface CocoExportOptions extends ExportOptions {
  /** The JSON's file name in `dir` (default 'annotations.json'). */
  fileName?: string;
}

export interface ExportSummary {
  /** The folder written. */
  dir: string;
  images: number;
  objects: number;
  /** The names used, label k = classNames[k - 1]. */
  classNames: readonly string[];
}

function imageName(i: number, total: number, format: 'png' | 'jpeg'): string {
  return `${String(i).padStart(Math.max(6, String(total - 1).length), '0')}.${format === 'png' ? 'png' : 'jpg'}`;
}

function encodeImage(img: RgbImage, o: ExportOptions): Uint8Array {
  return (o.imageFormat ?? 'png') === 'png' ? encodePng(img) : encodeJpeg(img, o.jpegQuality ?? 95);
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The 8-bit RGB image of a sample (CHW float values clamped to [0,1] and rounded to k/255). */
export function sampleToRgb(s: DetectionSample): RgbImage {
  const channels = s.image.length / (s.height * s.width);
  if (channels !== 3) throw new Error(`export: sample ${s.id} has ${channels} channels; only RGB can be written`);
  return chwToRgb(s.image, s.height, s.width);
}

/**
 * Integer pixel edges of a continuous box for VOC: [lo, hi) with
 * 0 <= lo < hi <= size, each edge rounded to the nearest integer.
 */
export function roundBoxEdges(a: number, b: number, size: number): [number, number] {
  let lo = Math.min(Math.max(Math.round(a), 0), size);
  let hi = Math.min(Math.max(Math.round(b), 0), size);
  if (hi <= lo) {
    // Narrower than a pixel after rounding: keep the pixel that holds its centre.
    lo = Math.min(Math.max(Math.floor((a + b) / 2), 0), size - 1);
    hi = lo + 1;
  }
  return [lo, hi];
}

async function samples(dataset: AnyDataset, count: number, each: (s: DetectionSample, i: number) => Promise<void>, o: ExportOptions): Promise<void> {
  for (let i = 0; i < count; i++) {
    await each(await dataset.get(i), i);
    o.onProgress?.(i + 1, count);
  }
}

function checkCount(dataset: AnyDataset, count: number | undefined): number {
  const n = count ?? dataset.length;
  if (!Number.isInteger(n) || n < 0 || n > dataset.length) throw new RangeError(`export: count ${n} is not in [0, ${dataset.length}]`);
  return n;
}

/**
 * Writes `Annotations/<name>.xml` (with `<filename>`, `<size>`, and objects
 * with 1-based pixel bndboxes), `JPEGImages/<name>.png` and
 * `ImageSets/Main/<split>.txt` under `dir`. Crowd regions (COCO iscrowd) are
 * written as difficult objects, VOC's way of saying "ignore in evaluation".
 */
export async function exportVoc(dataset: AnyDataset, dir: string, options: VocExportOptions = {}): Promise<ExportSummary> {
  const count = checkCount(dataset, options.count);
  const write = options.write ?? writeFileBytes;
  const mkdir = options.makeDir ?? makeDir;
  const format = options.imageFormat ?? 'png';
  const exact = options.boxes === 'exact';
  for (const sub of ['Annotations', 'JPEGImages', 'ImageSets/Main']) await mkdir(joinPath(dir, sub));
  const ids: string[] = [];
  let objects = 0;
  await samples(dataset, count, async (s, i) => {
    const file = imageName(i, count, format);
    const id = file.replace(/\.[a-z]+$/, '');
    ids.push(id);
    await write(joinPath(dir, 'JPEGImages', file), encodeImage(sampleToRgb(s), options));
    const lines = [
      '<annotation>',
      '  <folder>JPEGImages</folder>',
      `  <filename>${file}</filename>`,
      '  <source><database>kdet export</database></source>',
      `  <size><width>${s.width}</width><height>${s.height}</height><depth>3</depth></size>`,
      '  <segmented>0</segmented>',
    ];
    for (let k = 0; k < s.labels.length; k++) {
      const name = dataset.classNames[s.labels[k]! - 1];
      if (name === undefined) throw new Error(`exportVoc: sample ${s.id} has label ${s.labels[k]}, outside 1..${dataset.classNames.length}`);
      const [x1, y1, x2, y2] = s.boxes.subarray(4 * k, 4 * k + 4) as unknown as [number, number, number, number];
      let bb: number[];
      if (exact) bb = [x1 + 1, y1 + 1, x2, y2];
      else {
        const [xl, xh] = roundBoxEdges(x1, x2, s.width);
        const [yl, yh] = roundBoxEdges(y1, y2, s.height);
        bb = [xl + 1, yl + 1, xh, yh];
      }
      const difficult = s.difficult?.[k] || s.iscrowd?.[k] ? 1 : 0;
      lines.push(
        '  <object>',
        `    <name>${xmlEscape(name)}</name>`,
        '    <pose>Unspecified</pose>',
        '    <truncated>0</truncated>',
        `    <difficult>${difficult}</difficult>`,
        `    <bndbox><xmin>${bb[0]}</xmin><ymin>${bb[1]}</ymin><xmax>${bb[2]}</xmax><ymax>${bb[3]}</ymax></bndbox>`,
        '  </object>',
      );
      objects++;
    }
    lines.push('</annotation>', '');
    await write(joinPath(dir, 'Annotations', `${id}.xml`), new TextEncoder().encode(lines.join('\n')));
  }, options);
  await write(joinPath(dir, 'ImageSets', 'Main', `${options.split ?? 'trainval'}.txt`), new TextEncoder().encode(ids.map((id) => id + '\n').join('')));
  return { dir, images: count, objects, classNames: dataset.classNames };
}

/**
 * Writes `<fileName>` (default annotations.json) and `images/<name>.png`
 * under `dir`; `file_name` is `images/<name>.png`, relative to the JSON's
 * folder, which is where openCoco looks by default. Image ids are the
 * samples' ids when they are distinct non-negative integers; category ids
 * are the data set's own `categoryIds` when it has them (a CocoDataset),
 * else 1..C.
 */
export async function exportCoco(dataset: AnyDataset, dir: string, options: CocoExportOptions = {}): Promise<ExportSummary> {
  const count = checkCount(dataset, options.count);
  const write = options.write ?? writeFileBytes;
  const mkdir = options.makeDir ?? makeDir;
  const format = options.imageFormat ?? 'png';
  await mkdir(joinPath(dir, 'images'));
  const own = (dataset as { categoryIds?: readonly number[] }).categoryIds;
  const categoryIds = own && own.length === dataset.classNames.length ? own : dataset.classNames.map((_, k) => k + 1);
  const images: { id: number; file_name: string; width: number; height: number }[] = [];
  const annotations: { id: number; image_id: number; category_id: number; bbox: number[]; area: number; iscrowd: number }[] = [];
  const used = new Set<number>();
  let nextId = 1;
  await samples(dataset, count, async (s, i) => {
    let imageId = s.id;
    if (!(Number.isInteger(imageId) && imageId >= 0) || used.has(imageId)) {
      while (used.has(nextId)) nextId++;
      imageId = nextId;
    }
    used.add(imageId);
    const file = `images/${imageName(i, count, format)}`;
    await write(joinPath(dir, file), encodeImage(sampleToRgb(s), options));
    images.push({ id: imageId, file_name: file, width: s.width, height: s.height });
    for (let k = 0; k < s.labels.length; k++) {
      const category_id = categoryIds[s.labels[k]! - 1];
      if (category_id === undefined) throw new Error(`exportCoco: sample ${s.id} has label ${s.labels[k]}, outside 1..${dataset.classNames.length}`);
      // float32 values, widened to double: x + (x2 - x) is x2 again exactly.
      const [x1, y1, x2, y2] = Array.from(s.boxes.subarray(4 * k, 4 * k + 4));
      const w = x2! - x1!;
      const h = y2! - y1!;
      annotations.push({ id: annotations.length + 1, image_id: imageId, category_id, bbox: [x1!, y1!, w, h], area: w * h, iscrowd: s.iscrowd?.[k] ? 1 : 0 });
    }
  }, options);
  const json = {
    info: { description: 'kdet export' },
    images,
    annotations,
    categories: dataset.classNames.map((name, k) => ({ id: categoryIds[k]!, name })),
  };
  await write(joinPath(dir, options.fileName ?? 'annotations.json'), new TextEncoder().encode(JSON.stringify(json, null, 1) + '\n'));
  return { dir, images: count, objects: annotations.length, classNames: dataset.classNames };
}
