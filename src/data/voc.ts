/**
 * PASCAL VOC data: Annotations/<id>.xml, JPEGImages/<id>.jpg and
 * ImageSets/Main/<split>.txt under a root such as VOCdevkit/VOC2007.
 *
 * Coordinates: VOC XML holds 1-based inclusive pixel indices. kdet boxes are
 * continuous, so pixel xmin..xmax becomes x1 = xmin - 1, x2 = xmax (width
 * xmax - xmin + 1, the devkit's width). With that conversion, IoU with no +1
 * on kdet boxes equals the devkit's +1 IoU on the XML numbers.
 */
import { decodeImage, rgbToChw } from './image.js';
import { joinPath, readFileBytes } from './fs.js';
import { applyResize } from './transforms.js';
import type { ResizeSpec } from './transforms.js';
import type { AsyncDataset, ByteReader, DetectionSample, DetectionTarget } from './types.js';
import { parseXml } from './xml.js';
import type { XmlElement } from './xml.js';

export const VOC_CLASSES = [
  'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor',
] as const;

export interface VocObject {
  name: string;
  /** xmin, ymin, xmax, ymax exactly as in the file (1-based, inclusive). */
  bndbox: [number, number, number, number];
  difficult: boolean;
  truncated: boolean;
}

export interface VocAnnotation {
  filename?: string;
  width: number;
  height: number;
  depth?: number;
  objects: VocObject[];
}

/** Parses one VOC XML annotation; errors name the file and the field. */
export function parseVocAnnotation(xml: string, file: string): VocAnnotation {
  const root = parseXml(xml, file);
  const where = (path: string): string => `${file}: ${path}`;
  if (root.name !== 'annotation') throw new Error(`${where('<' + root.name + '>')}: the root element must be <annotation>`);

  const child = (el: XmlElement, tag: string, path: string, required: boolean): XmlElement | undefined => {
    const found = el.children.filter((c) => c.name === tag);
    if (found.length > 1) throw new Error(`${where(path + tag)}: appears ${found.length} times (line ${found[1]!.line})`);
    if (required && found.length === 0) throw new Error(`${where(path + tag)}: missing`);
    return found[0];
  };
  const number = (el: XmlElement, tag: string, path: string, kind: 'int' | 'positive' | 'real'): number => {
    const text = child(el, tag, path, true)!.text.trim();
    const v = Number(text);
    const ok = text !== '' && Number.isFinite(v) && (kind === 'real' || (Number.isInteger(v) && (kind !== 'positive' || v > 0)));
    if (!ok) {
      const want = kind === 'real' ? 'a number' : kind === 'positive' ? 'a positive integer' : 'an integer';
      throw new Error(`${where(path + tag)}: expected ${want}, got ${JSON.stringify(text)}`);
    }
    return v;
  };
  const flag = (el: XmlElement, tag: string, path: string): boolean => {
    if (!child(el, tag, path, false)) return false;
    const v = number(el, tag, path, 'int');
    if (v !== 0 && v !== 1) throw new Error(`${where(path + tag)}: expected 0 or 1, got ${v}`);
    return v === 1;
  };

  const size = child(root, 'size', '', true)!;
  const width = number(size, 'width', 'size.', 'positive');
  const height = number(size, 'height', 'size.', 'positive');
  const depth = child(size, 'depth', 'size.', false) ? number(size, 'depth', 'size.', 'int') : undefined;
  const filenameEl = child(root, 'filename', '', false);
  const objects = root.children
    .filter((c) => c.name === 'object')
    .map((obj, k): VocObject => {
      const path = `object[${k}].`;
      const name = child(obj, 'name', path, true)!.text.trim();
      if (name === '') throw new Error(`${where(path + 'name')}: empty`);
      const bb = child(obj, 'bndbox', path, true)!;
      const p = `${path}bndbox.`;
      const bndbox: VocObject['bndbox'] = [
        number(bb, 'xmin', p, 'real'), number(bb, 'ymin', p, 'real'),
        number(bb, 'xmax', p, 'real'), number(bb, 'ymax', p, 'real'),
      ];
      if (bndbox[2] < bndbox[0]) throw new Error(`${where(p + 'xmax')}: ${bndbox[2]} is less than xmin ${bndbox[0]}`);
      if (bndbox[3] < bndbox[1]) throw new Error(`${where(p + 'ymax')}: ${bndbox[3]} is less than ymin ${bndbox[1]}`);
      return { name, bndbox, difficult: flag(obj, 'difficult', path), truncated: flag(obj, 'truncated', path) };
    });
  const ann: VocAnnotation = { width, height, objects };
  if (filenameEl) ann.filename = filenameEl.text.trim();
  if (depth !== undefined) ann.depth = depth;
  return ann;
}

/** Converts an annotation to kdet targets (continuous boxes, labels 1..C). */
export function vocTarget(ann: VocAnnotation, classNames: readonly string[], id: number, file = 'annotation'): DetectionTarget {
  const n = ann.objects.length;
  const boxes = new Float32Array(4 * n);
  const labels = new Int32Array(n);
  const difficult = new Uint8Array(n);
  ann.objects.forEach((o, k) => {
    const label = classNames.indexOf(o.name) + 1;
    if (label === 0) throw new Error(`${file}: object[${k}].name: unknown class ${JSON.stringify(o.name)}`);
    const [xmin, ymin, xmax, ymax] = o.bndbox;
    boxes.set([xmin - 1, ymin - 1, xmax, ymax], 4 * k);
    labels[k] = label;
    difficult[k] = o.difficult ? 1 : 0;
  });
  return { height: ann.height, width: ann.width, boxes, labels, difficult, id };
}

export interface VocOptions {
  /** Directory holding Annotations/, JPEGImages/ and ImageSets/Main/. */
  root: string;
  /** ImageSets/Main/<split>.txt; ignored when `ids` is given. */
  split?: string;
  ids?: string[];
  /** Default: the 20 VOC classes; 'infer' takes the sorted names found. */
  classNames?: readonly string[] | 'infer';
  /** File access; defaults to Node's fs, pass a fetch-based reader in browsers. */
  read?: ByteReader;
  resize?: ResizeSpec;
  /** Drop `difficult` objects from samples (they stay in `target`). */
  skipDifficult?: boolean;
  /** Extension of the files in JPEGImages/ (default '.jpg'). */
  imageExtension?: string;
}

/** Reads the split and every annotation up front, so a bad file fails early. */
export async function openVoc(options: VocOptions): Promise<VocDataset> {
  const read = options.read ?? readFileBytes;
  const text = async (path: string): Promise<string> => new TextDecoder().decode(await read(path));
  let ids = options.ids;
  if (!ids) {
    const listFile = joinPath(options.root, 'ImageSets', 'Main', `${options.split ?? 'trainval'}.txt`);
    ids = (await text(listFile)).split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
    if (ids.length === 0) throw new Error(`${listFile}: lists no images`);
  }
  const annotations = await Promise.all(
    ids.map(async (id) => {
      const file = joinPath(options.root, 'Annotations', `${id}.xml`);
      return parseVocAnnotation(await text(file), file);
    }),
  );
  let classNames = options.classNames ?? VOC_CLASSES;
  if (classNames === 'infer') classNames = [...new Set(annotations.flatMap((a) => a.objects.map((o) => o.name)))].sort();
  return new VocDataset(options.root, ids, annotations, classNames, read, options);
}

export class VocDataset implements AsyncDataset {
  readonly length: number;
  private readonly targets: DetectionTarget[];

  constructor(
    readonly root: string,
    readonly ids: readonly string[],
    readonly annotations: readonly VocAnnotation[],
    readonly classNames: readonly string[],
    private readonly read: ByteReader,
    private readonly options: Pick<VocOptions, 'resize' | 'skipDifficult' | 'imageExtension'> = {},
  ) {
    this.length = ids.length;
    this.targets = annotations.map((a, i) => vocTarget(a, classNames, i, this.annotationPath(i)));
  }

  annotationPath(i: number): string {
    return joinPath(this.root, 'Annotations', `${this.ids[i]}.xml`);
  }

  imagePath(i: number): string {
    // Like the devkit, the image is named by its id: <filename> is often stale in converted sets.
    return joinPath(this.root, 'JPEGImages', `${this.ids[i]}${this.options.imageExtension ?? '.jpg'}`);
  }

  /** Annotations of image i in its original size, without decoding it. */
  target(i: number): DetectionTarget {
    return this.targets[i]!;
  }

  async get(i: number): Promise<DetectionSample> {
    const t = this.target(i);
    const path = this.imagePath(i);
    const img = decodeImage(await this.read(path), path);
    if (img.width !== t.width || img.height !== t.height) {
      throw new Error(`${this.annotationPath(i)}: size: ${t.width}x${t.height} but ${path} is ${img.width}x${img.height}`);
    }
    let sample: DetectionSample = { ...t, image: rgbToChw(img) };
    if (this.options.skipDifficult) sample = dropDifficult(sample);
    return this.options.resize ? applyResize(sample, this.options.resize) : sample;
  }
}

function dropDifficult(s: DetectionSample): DetectionSample {
  const keep = [...(s.difficult ?? [])].map((d, k) => (d ? -1 : k)).filter((k) => k >= 0);
  return {
    ...s,
    boxes: Float32Array.from(keep.flatMap((k) => [...s.boxes.subarray(4 * k, 4 * k + 4)])),
    labels: Int32Array.from(keep, (k) => s.labels[k]!),
    difficult: new Uint8Array(keep.length),
  };
}
