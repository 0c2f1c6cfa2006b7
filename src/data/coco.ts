/**
 * COCO-format data: one JSON file of images, annotations and categories, plus
 * a directory of images (by default the JSON's own folder). Category ids
 * (often sparse, e.g. 1..90, in any order in the file) map to kdet labels
 * 1..C in increasing id order; `categoryIds[label - 1]` maps back when
 * writing results. Crowd annotations are kept with iscrowd = 1.
 */
import { dirName, fileAccess, mapLimit, utf8 } from './access.js';
import type { FileAccessOptions } from './access.js';
import { checkBoxes, warnBoxes } from './boxes.js';
import type { BoxPolicyOptions } from './boxes.js';
import { DataError, parseJsonText, readOrFail } from './errors.js';
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
 * Errors are DataErrors naming the file and the JSON path
 * (`annotations[17].bbox`), or line:column for malformed JSON.
 * With `negativeSizes: 'allow'` a bbox of negative width or height passes
 * (openCoco's box policy then drops or refuses it); by default it is refused.
 */
export function parseCocoJson(input: string | unknown, file = 'COCO JSON', options: { negativeSizes?: 'allow' | 'refuse' } = {}): CocoDatasetJson {
  const json: unknown = typeof input === 'string' ? parseJsonText(input, file) : input;
  const fail = (path: string, msg: string): never => {
    throw new DataError(file, path, msg);
  };
  const obj = (v: unknown, path: string): Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(path, `expected an object, got ${kind(v)}`);
  const arr = (v: unknown, path: string): unknown[] => (Array.isArray(v) ? v : fail(path, `expected an array, got ${kind(v)}`));
  const num = (v: unknown, path: string, integer = false): number =>
    typeof v === 'number' && Number.isFinite(v) && (!integer || Number.isInteger(v))
      ? v
      : fail(path, `expected ${integer ? 'an integer' : 'a number'}, got ${short(v)}`);
  const str = (v: unknown, path: string): string => (typeof v === 'string' && v !== '' ? v : fail(path, `expected a non-empty string, got ${short(v)}`));

  const root = obj(json, '(root)');
  const images = arr(root.images, 'images').map((v, i): CocoImage => {
    const o = obj(v, `images[${i}]`);
    const p = `images[${i}]`;
    const width = num(o.width, `${p}.width`, true);
    const height = num(o.height, `${p}.height`, true);
    if (width <= 0 || height <= 0) fail(`${p}.width`, `width and height must be positive, got ${width}x${height}`);
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
    if (options.negativeSizes !== 'allow' && (bbox[2] < 0 || bbox[3] < 0)) fail(`${p}.bbox`, 'width and height must not be negative');
    const iscrowd = o.iscrowd === undefined ? 0 : num(o.iscrowd, `${p}.iscrowd`, true);
    if (iscrowd !== 0 && iscrowd !== 1) fail(`${p}.iscrowd`, `expected 0 or 1, got ${iscrowd}`);
    const area = o.area === undefined ? bbox[2] * bbox[3] : num(o.area, `${p}.area`);
    return { id: num(o.id, `${p}.id`, true), image_id, category_id, bbox, area, iscrowd: iscrowd as 0 | 1 };
  });
  uniqueIds(annotations, 'annotations', fail);
  return { images, annotations, categories };
}

function kind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : v === undefined ? 'nothing' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function short(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function uniqueIds(items: { id: number }[], what: string, fail: (p: string, m: string) => never): Set<number> {
  const seen = new Map<number, number>();
  items.forEach((it, i) => {
    const first = seen.get(it.id);
    if (first !== undefined) fail(`${what}[${i}].id`, `duplicate id ${it.id} (also ${what}[${first}].id)`);
    seen.set(it.id, i);
  });
  return new Set(seen.keys());
}

export interface CocoOptions extends FileAccessOptions, BoxPolicyOptions {
  /** Path of the instances JSON, or its parsed/validated content. */
  annotations: string | CocoDatasetJson;
  /**
   * Folder that `file_name` is relative to; default: the JSON's own folder
   * (as Roboflow and `exportCoco` write it). Needed when `annotations` is parsed content.
   */
  images?: string;
  /** @deprecated the old name of `images`. */
  imageDir?: string;
  resize?: ResizeSpec;
  /** Drop crowd regions from samples (they stay in `target` for evaluation). */
  skipCrowd?: boolean;
  /** Check at open time that every listed image exists (default true; nothing is decoded). */
  checkImages?: boolean;
}

/**
 * Opens a COCO data set: parses and validates the JSON, applies the box
 * policy (one warning line for the file), and checks that every listed image
 * exists, so that bad data fails before any training step. Images are
 * decoded only in get().
 */
export async function openCoco(options: CocoOptions): Promise<CocoDataset> {
  const access = fileAccess(options);
  const file = typeof options.annotations === 'string' ? options.annotations : 'COCO JSON';
  const json =
    typeof options.annotations === 'string'
      ? parseCocoJson(utf8(await readOrFail(access.read, file, 'annotations'), file), file, { negativeSizes: 'allow' })
      : options.annotations;
  const imageDir = options.images ?? options.imageDir ?? (typeof options.annotations === 'string' ? dirName(options.annotations) : '');
  const ds = new CocoDataset(json, imageDir, access.read, { ...options, file });
  if (options.checkImages ?? true) {
    const missing: number[] = [];
    await mapLimit(json.images, 32, async (_, i) => {
      if (!(await access.exists(ds.imagePath(i)))) missing.push(i);
    });
    if (missing.length > 0) {
      missing.sort((a, b) => a - b);
      const i = missing[0]!;
      const more = missing.length > 1 ? ` (and ${missing.length - 1} more of ${json.images.length} images are missing)` : '';
      const hint = options.images ?? options.imageDir ? '' : '; file_name is taken relative to the JSON\'s folder unless an images folder is given';
      throw new DataError(file, `images[${i}].file_name`, `${ds.imagePath(i)} does not exist${more}${hint}`);
    }
  }
  return ds;
}

export interface CocoDatasetOptions extends BoxPolicyOptions {
  resize?: ResizeSpec;
  skipCrowd?: boolean;
  /** The JSON's path, for messages. */
  file?: string;
}

export class CocoDataset implements AsyncDataset {
  readonly length: number;
  readonly classNames: readonly string[];
  /** COCO category id of each label: categoryIds[label - 1]. */
  readonly categoryIds: readonly number[];
  /** Per image index, its annotations with boxes clipped (x1, y1, x2, y2), those with no area dropped. */
  private readonly annsByImage = new Map<number, { ann: CocoAnnotation; box: Float32Array }[]>();
  private readonly labelOf = new Map<number, number>();
  private readonly file: string;

  constructor(
    readonly json: CocoDatasetJson,
    readonly imageDir: string,
    private readonly read: ByteReader = readFileBytes,
    private readonly options: CocoDatasetOptions = {},
  ) {
    this.file = options.file ?? 'COCO JSON';
    const cats = [...json.categories].sort((a, b) => a.id - b.id);
    this.categoryIds = cats.map((c) => c.id);
    this.classNames = cats.map((c) => c.name);
    cats.forEach((c, k) => this.labelOf.set(c.id, k + 1));
    const imageOf = new Map(json.images.map((im) => [im.id, im]));
    // The box policy over the whole file: clip, drop (or refuse), one warning line.
    let clipped = 0;
    const dropped: string[] = [];
    json.annotations.forEach((a, k) => {
      const img = imageOf.get(a.image_id);
      if (!img) throw new DataError(this.file, `annotations[${k}].image_id`, `no image has id ${a.image_id}`);
      if (!this.labelOf.has(a.category_id)) throw new DataError(this.file, `annotations[${k}].category_id`, `no category has id ${a.category_id}`);
      const [x, y, w, h] = a.bbox;
      const c = checkBoxes(
        [x, y, x + w, y + h], img.width, img.height, this.file,
        () => `annotations[${k}].bbox`,
        () => `[${a.bbox.join(', ')}]`,
        options, false,
      );
      clipped += c.clipped;
      if (c.dropped) return void dropped.push(`annotations[${k}]`);
      const list = this.annsByImage.get(a.image_id) ?? [];
      list.push({ ann: a, box: c.boxes });
      this.annsByImage.set(a.image_id, list);
    });
    warnBoxes(this.file, clipped, dropped, options);
    this.length = json.images.length;
  }

  /**
   * Annotations of image i at its original size; `id` is the COCO image id.
   * Boxes are clipped to the image; those with no area inside it were dropped
   * at open (they cannot be trained on).
   */
  target(i: number, skipCrowd = false): DetectionTarget {
    const img = this.json.images[i]!;
    const anns = (this.annsByImage.get(img.id) ?? []).filter((a) => !(skipCrowd && a.ann.iscrowd));
    const boxes = new Float32Array(4 * anns.length);
    anns.forEach((a, k) => boxes.set(a.box, 4 * k));
    return {
      height: img.height,
      width: img.width,
      boxes,
      labels: Int32Array.from(anns, (a) => this.labelOf.get(a.ann.category_id)!),
      iscrowd: Uint8Array.from(anns, (a) => a.ann.iscrowd),
      id: img.id,
    };
  }

  imagePath(i: number): string {
    return joinPath(this.imageDir, this.json.images[i]!.file_name);
  }

  async get(i: number): Promise<DetectionSample> {
    const t = this.target(i, this.options.skipCrowd);
    const path = this.imagePath(i);
    const img = decodeImage(await readOrFail(this.read, path, 'image'), path);
    if (img.width !== t.width || img.height !== t.height) {
      throw new DataError(this.file, `images[${i}]`, `image id ${t.id} is ${t.width}x${t.height} in the JSON but ${path} is ${img.width}x${img.height}`);
    }
    const sample: DetectionSample = { ...t, image: rgbToChw(img) };
    return this.options.resize ? applyResize(sample, this.options.resize) : sample;
  }
}
