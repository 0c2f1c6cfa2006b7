/**
 * COCO-format data: one JSON file of images, annotations and categories, plus
 * a directory of images. Category ids (often sparse, e.g. 1..90) map to kdet
 * labels 1..C in increasing id order; `categoryIds[label - 1]` maps back when
 * writing results. Crowd annotations are kept with iscrowd = 1.
 */
import { decodeImage, rgbToChw } from './image.js';
import { joinPath, readFileBytes } from './fs.js';
import { applyResize } from './transforms.js';
import type { ResizeSpec } from './transforms.js';
import type { AsyncDataset, ByteReader, DetectionSample, DetectionTarget } from './types.js';

export interface CocoImage {
  id: number;
  file_name: string;
  width: number;
  height: number;
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  /** x, y, width, height in pixels. */
  bbox: [number, number, number, number];
  /** Region area; COCO's evaluation uses it for the small/medium/large ranges. */
  area: number;
  iscrowd: 0 | 1;
}

export interface CocoCategory {
  id: number;
  name: string;
}

export interface CocoDatasetJson {
  images: CocoImage[];
  annotations: CocoAnnotation[];
  categories: CocoCategory[];
}

/**
 * Validates COCO instances JSON (text or parsed) strictly: every field kdet
 * uses must be present with the right type, ids unique, references resolved.
 * `area` defaults to bbox width*height and `iscrowd` to 0 when absent.
 */
export function parseCocoJson(input: string | unknown, file = 'COCO JSON'): CocoDatasetJson {
  let json: unknown = input;
  if (typeof input === 'string') {
    try {
      json = JSON.parse(input);
    } catch (e) {
      throw new Error(`${file}: invalid JSON: ${(e as Error).message}`);
    }
  }
  const fail = (path: string, msg: string): never => {
    throw new Error(`${file}: ${path}: ${msg}`);
  };
  const obj = (v: unknown, path: string): Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(path, 'expected an object');
  const arr = (v: unknown, path: string): unknown[] => (Array.isArray(v) ? v : fail(path, 'expected an array'));
  const num = (v: unknown, path: string, integer = false): number =>
    typeof v === 'number' && Number.isFinite(v) && (!integer || Number.isInteger(v))
      ? v
      : fail(path, `expected ${integer ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`);
  const str = (v: unknown, path: string): string => (typeof v === 'string' && v !== '' ? v : fail(path, 'expected a non-empty string'));

  const root = obj(json, '(root)');
  const images = arr(root.images, 'images').map((v, i): CocoImage => {
    const o = obj(v, `images[${i}]`);
    const p = `images[${i}]`;
    const width = num(o.width, `${p}.width`, true);
    const height = num(o.height, `${p}.height`, true);
    if (width <= 0 || height <= 0) fail(`${p}.width`, 'width and height must be positive');
    return { id: num(o.id, `${p}.id`, true), file_name: str(o.file_name, `${p}.file_name`), width, height };
  });
  const categories = arr(root.categories, 'categories').map((v, i): CocoCategory => {
    const o = obj(v, `categories[${i}]`);
    return { id: num(o.id, `categories[${i}].id`, true), name: str(o.name, `categories[${i}].name`) };
  });
  const imageIds = uniqueIds(images, 'images', fail);
  const categoryIds = uniqueIds(categories, 'categories', fail);
  const annotations = arr(root.annotations ?? [], 'annotations').map((v, i): CocoAnnotation => {
    const o = obj(v, `annotations[${i}]`);
    const p = `annotations[${i}]`;
    const image_id = num(o.image_id, `${p}.image_id`, true);
    if (!imageIds.has(image_id)) fail(`${p}.image_id`, `no image has id ${image_id}`);
    const category_id = num(o.category_id, `${p}.category_id`, true);
    if (!categoryIds.has(category_id)) fail(`${p}.category_id`, `no category has id ${category_id}`);
    const bb = arr(o.bbox, `${p}.bbox`);
    if (bb.length !== 4) fail(`${p}.bbox`, `expected [x, y, width, height], got ${bb.length} values`);
    const bbox = bb.map((x, k) => num(x, `${p}.bbox[${k}]`)) as CocoAnnotation['bbox'];
    if (bbox[2] < 0 || bbox[3] < 0) fail(`${p}.bbox`, 'width and height must not be negative');
    const iscrowd = o.iscrowd === undefined ? 0 : num(o.iscrowd, `${p}.iscrowd`, true);
    if (iscrowd !== 0 && iscrowd !== 1) fail(`${p}.iscrowd`, `expected 0 or 1, got ${iscrowd}`);
    const area = o.area === undefined ? bbox[2] * bbox[3] : num(o.area, `${p}.area`);
    return { id: num(o.id, `${p}.id`, true), image_id, category_id, bbox, area, iscrowd: iscrowd as 0 | 1 };
  });
  uniqueIds(annotations, 'annotations', fail);
  return { images, annotations, categories };
}

function uniqueIds(items: { id: number }[], what: string, fail: (p: string, m: string) => never): Set<number> {
  const seen = new Set<number>();
  items.forEach((it, i) => {
    if (seen.has(it.id)) fail(`${what}[${i}].id`, `duplicate id ${it.id}`);
    seen.add(it.id);
  });
  return seen;
}

export interface CocoOptions {
  /** Path of the instances JSON, or its parsed/validated content. */
  annotations: string | CocoDatasetJson;
  /** Directory that `file_name` is relative to. */
  imageDir: string;
  read?: ByteReader;
  resize?: ResizeSpec;
  /** Drop crowd regions from samples (they stay in `target` for evaluation). */
  skipCrowd?: boolean;
}

export async function openCoco(options: CocoOptions): Promise<CocoDataset> {
  const read = options.read ?? readFileBytes;
  const json =
    typeof options.annotations === 'string'
      ? parseCocoJson(new TextDecoder().decode(await read(options.annotations)), options.annotations)
      : options.annotations;
  return new CocoDataset(json, options.imageDir, read, options);
}

export class CocoDataset implements AsyncDataset {
  readonly length: number;
  readonly classNames: readonly string[];
  /** COCO category id of each label: categoryIds[label - 1]. */
  readonly categoryIds: readonly number[];
  private readonly annsByImage = new Map<number, CocoAnnotation[]>();
  private readonly labelOf = new Map<number, number>();

  constructor(
    readonly json: CocoDatasetJson,
    readonly imageDir: string,
    private readonly read: ByteReader = readFileBytes,
    private readonly options: Pick<CocoOptions, 'resize' | 'skipCrowd'> = {},
  ) {
    const cats = [...json.categories].sort((a, b) => a.id - b.id);
    this.categoryIds = cats.map((c) => c.id);
    this.classNames = cats.map((c) => c.name);
    cats.forEach((c, k) => this.labelOf.set(c.id, k + 1));
    for (const a of json.annotations) {
      const list = this.annsByImage.get(a.image_id) ?? [];
      list.push(a);
      this.annsByImage.set(a.image_id, list);
    }
    this.length = json.images.length;
  }

  /**
   * Annotations of image i at its original size; `id` is the COCO image id.
   * Boxes with zero width or height are dropped (they cannot be trained on).
   */
  target(i: number, skipCrowd = false): DetectionTarget {
    const img = this.json.images[i]!;
    const anns = (this.annsByImage.get(img.id) ?? []).filter(
      (a) => a.bbox[2] > 0 && a.bbox[3] > 0 && !(skipCrowd && a.iscrowd),
    );
    const boxes = new Float32Array(4 * anns.length);
    anns.forEach((a, k) => boxes.set([a.bbox[0], a.bbox[1], a.bbox[0] + a.bbox[2], a.bbox[1] + a.bbox[3]], 4 * k));
    return {
      height: img.height,
      width: img.width,
      boxes,
      labels: Int32Array.from(anns, (a) => this.labelOf.get(a.category_id)!),
      iscrowd: Uint8Array.from(anns, (a) => a.iscrowd),
      id: img.id,
    };
  }

  imagePath(i: number): string {
    return joinPath(this.imageDir, this.json.images[i]!.file_name);
  }

  async get(i: number): Promise<DetectionSample> {
    const t = this.target(i, this.options.skipCrowd);
    const path = this.imagePath(i);
    const img = decodeImage(await this.read(path), path);
    if (img.width !== t.width || img.height !== t.height) {
      throw new Error(`images[${i}] (id ${t.id}): JSON says ${t.width}x${t.height} but ${path} is ${img.width}x${img.height}`);
    }
    const sample: DetectionSample = { ...t, image: rgbToChw(img) };
    return this.options.resize ? applyResize(sample, this.options.resize) : sample;
  }
}
