/**
 * PASCAL VOC data: Annotations/<id>.xml, JPEGImages/<image> and (optionally)
 * ImageSets/Main/<split>.txt under a root such as VOCdevkit/VOC2007, or what
 * labelImg, CVAT and Roboflow export (PNG images, no split lists, or XML
 * beside the images in one folder).
 *
 * Coordinates: VOC XML holds 1-based inclusive pixel indices. kdet boxes are
 * continuous, so pixel xmin..xmax becomes x1 = xmin - 1, x2 = xmax (width
 * xmax - xmin + 1, the devkit's width). With that conversion, IoU with no +1
 * on kdet boxes equals the devkit's +1 IoU on the XML numbers.
 */
import { baseName, fileAccess, mapLimit, tryList, utf8 } from './access.js';
import type { FileAccessOptions } from './access.js';
import { checkBoxes } from './boxes.js';
import type { BoxPolicyOptions } from './boxes.js';
import { DataError, readOrFail } from './errors.js';
import { decodeImage, rgbToChw } from './image.js';
import { joinPath } from './fs.js';
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
  /** 0 (with height) when the XML gives no size: the image's size is used. */
  width: number;
  height: number;
  depth?: number;
  objects: VocObject[];
}

/**
 * Parses one VOC XML annotation; errors are DataErrors naming the file, the
 * element path (`annotation/object[2]/bndbox/xmax`, 1-based as in XPath) and
 * its line. Without a `<size>` (or with a 0x0 one, as some tools write),
 * width and height are 0: the image's own size is used when it is read.
 * Box coordinates are read as written; inverted or out-of-image boxes are
 * the data set's business (see boxes.ts), not a parse error.
 */
export function parseVocAnnotation(xml: string, file: string): VocAnnotation {
  const root = parseXml(xml, file);
  const fail = (path: string, msg: string, line?: number): never => {
    throw new DataError(file, path, line === undefined ? msg : `${msg} (line ${line})`);
  };
  if (root.name !== 'annotation') fail(root.name, 'the root element must be <annotation>', root.line);

  const child = (el: XmlElement, tag: string, path: string, required: boolean): XmlElement | undefined => {
    const found = el.children.filter((c) => c.name === tag);
    if (found.length > 1) fail(`${path}/${tag}`, `appears ${found.length} times`, found[1]!.line);
    if (required && found.length === 0) fail(`${path}/${tag}`, 'missing', el.line);
    return found[0];
  };
  const number = (el: XmlElement, tag: string, path: string, kind: 'int' | 'nonnegative' | 'real'): number => {
    const c = child(el, tag, path, true)!;
    const text = c.text.trim();
    const v = Number(text);
    const ok = text !== '' && Number.isFinite(v) && (kind === 'real' || (Number.isInteger(v) && (kind !== 'nonnegative' || v >= 0)));
    if (!ok) {
      const want = kind === 'real' ? 'a number' : kind === 'nonnegative' ? 'a non-negative integer' : 'an integer';
      fail(`${path}/${tag}`, `expected ${want}, got ${JSON.stringify(text)}`, c.line);
    }
    return v;
  };
  const flag = (el: XmlElement, tag: string, path: string): boolean => {
    const c = child(el, tag, path, false);
    if (!c) return false;
    // Some tools write <difficult/> or <truncated></truncated>: empty means 0.
    if (c.text.trim() === '') return false;
    const v = number(el, tag, path, 'int');
    if (v !== 0 && v !== 1) fail(`${path}/${tag}`, `expected 0 or 1, got ${v}`, c.line);
    return v === 1;
  };

  const size = child(root, 'size', 'annotation', false);
  let width = 0;
  let height = 0;
  let depth: number | undefined;
  if (size) {
    width = number(size, 'width', 'annotation/size', 'nonnegative');
    height = number(size, 'height', 'annotation/size', 'nonnegative');
    if (width === 0 || height === 0) width = height = 0; // unknown: taken from the image
    if (child(size, 'depth', 'annotation/size', false)) depth = number(size, 'depth', 'annotation/size', 'int');
  }
  const filenameEl = child(root, 'filename', 'annotation', false);
  const objects = root.children
    .filter((c) => c.name === 'object')
    .map((obj, k): VocObject => {
      const path = `annotation/object[${k + 1}]`;
      const nameEl = child(obj, 'name', path, true)!;
      const name = nameEl.text.trim();
      if (name === '') fail(`${path}/name`, 'empty', nameEl.line);
      const bb = child(obj, 'bndbox', path, true)!;
      const p = `${path}/bndbox`;
      const bndbox: VocObject['bndbox'] = [
        number(bb, 'xmin', p, 'real'), number(bb, 'ymin', p, 'real'),
        number(bb, 'xmax', p, 'real'), number(bb, 'ymax', p, 'real'),
      ];
      return { name, bndbox, difficult: flag(obj, 'difficult', path), truncated: flag(obj, 'truncated', path) };
    });
  const ann: VocAnnotation = { width, height, objects };
  if (filenameEl && filenameEl.text.trim() !== '') ann.filename = filenameEl.text.trim();
  if (depth !== undefined) ann.depth = depth;
  return ann;
}

/**
 * Converts an annotation to kdet targets (continuous boxes, labels 1..C), as
 * written: neither clipped nor checked against the image (VocDataset does
 * that). An object whose name is not in `classNames` is a DataError naming
 * the file, the object and the known names.
 */
export function vocTarget(ann: VocAnnotation, classNames: readonly string[], id: number, file = 'annotation'): DetectionTarget {
  const n = ann.objects.length;
  const boxes = new Float32Array(4 * n);
  const labels = new Int32Array(n);
  const difficult = new Uint8Array(n);
  const index = new Map(classNames.map((c, k) => [c, k + 1]));
  ann.objects.forEach((o, k) => {
    const label = index.get(o.name);
    if (label === undefined) {
      const known = classNames.length > 25 ? `${classNames.slice(0, 25).join(', ')}, ... (${classNames.length})` : classNames.join(', ');
      throw new DataError(
        file,
        `annotation/object[${k + 1}]/name`,
        `unknown class ${JSON.stringify(o.name)}; the classes are: ${known} (classNames: 'infer' takes the names found in the annotations)`,
      );
    }
    const [xmin, ymin, xmax, ymax] = o.bndbox;
    boxes.set([xmin - 1, ymin - 1, xmax, ymax], 4 * k);
    labels[k] = label;
    difficult[k] = o.difficult ? 1 : 0;
  });
  return { height: ann.height, width: ann.width, boxes, labels, difficult, id };
}

export interface VocOptions extends FileAccessOptions, BoxPolicyOptions {
  /**
   * Directory holding Annotations/, JPEGImages/ and (optionally)
   * ImageSets/Main/; or a flat folder of XML files beside their images, as
   * labelImg and some exporters write.
   */
  root: string;
  /**
   * ImageSets/Main/<split>.txt; ignored when `ids` is given. When absent,
   * trainval.txt if it exists, else every Annotations/*.xml sorted by name. A
   * split named here whose file does not exist is an error.
   */
  split?: string;
  ids?: string[];
  /**
   * Default: the 20 VOC classes; 'infer' takes the sorted set of names found;
   * a list refuses objects of other names.
   */
  classNames?: readonly string[] | 'infer';
  resize?: ResizeSpec;
  /** Drop `difficult` objects from samples (they stay in `target`). */
  skipDifficult?: boolean;
  /** An extension to try first for `<id>` images (before .jpg, .jpeg, .png). */
  imageExtension?: string;
  /** Check at open time that every image exists (default true; existence only, nothing decoded). */
  checkImages?: boolean;
}

/** Files of a VOC folder: where annotations and images live, and which ids. */
export interface VocLayout {
  annotationDir: string;
  imageDir: string;
  ids: string[];
  /** Where the ids came from: a split list, the XML files found, or the caller. */
  source: string;
}

const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.JPG', '.JPEG', '.PNG'];
const IO_CONCURRENCY = 32;

/**
 * Finds the ids and folders of a VOC data set: ImageSets/Main/<split>.txt
 * when present, otherwise every Annotations/*.xml (or every *.xml of a flat
 * folder), sorted.
 */
export async function vocLayout(options: VocOptions, access = fileAccess(options)): Promise<VocLayout> {
  const { root } = options;
  const standard = { annotationDir: joinPath(root, 'Annotations'), imageDir: joinPath(root, 'JPEGImages') };
  const annotationFiles = await tryList(access, standard.annotationDir);
  let layout = standard;
  let xmlNames = annotationFiles?.filter((f) => f.toLowerCase().endsWith('.xml'));
  if (!annotationFiles && access.list) {
    const flat = await tryList(access, root);
    if (!flat) throw new DataError(root, undefined, 'cannot list this folder: it does not exist or is not a folder');
    xmlNames = flat.filter((f) => f.toLowerCase().endsWith('.xml'));
    if (xmlNames.length === 0) {
      throw new DataError(root, undefined, 'not a PASCAL VOC folder: no Annotations/ folder and no .xml files (expected Annotations/*.xml beside JPEGImages/)');
    }
    layout = { annotationDir: root, imageDir: root };
  }
  const stripXml = (f: string): string => f.slice(0, -4);
  if (options.ids) return { ...layout, ids: [...options.ids], source: 'ids' };

  const mainDir = joinPath(root, 'ImageSets', 'Main');
  const split = options.split ?? 'trainval';
  const listFile = joinPath(mainDir, `${split}.txt`);
  if (await access.exists(listFile)) {
    const text = utf8(await readOrFail(access.read, listFile, 'split list'), listFile);
    // The main lists hold one id a line; per-class lists add a 1/-1/0 column.
    const ids = text.split(/\r?\n/).map((l) => l.trim().split(/\s+/)[0]!).filter((l) => l !== '');
    if (ids.length === 0) throw new DataError(listFile, undefined, 'lists no images');
    return { ...layout, ids, source: listFile };
  }
  if (options.split !== undefined) {
    const splits = ((await tryList(access, mainDir)) ?? []).filter((f) => f.endsWith('.txt') && !f.includes('_')).map((f) => f.slice(0, -4));
    const hint = splits.length > 0 ? `the splits here are: ${splits.sort().join(', ')}` : 'there is no ImageSets/Main/ list';
    throw new DataError(listFile, undefined, `no such split list (${hint}; leave the split out to use every annotation)`);
  }
  if (!xmlNames) {
    throw new DataError(
      standard.annotationDir,
      undefined,
      access.list ? 'no such folder (and no ImageSets/Main/trainval.txt)' : `cannot list the annotations with a custom reader: pass ids, or list, or write ${listFile}`,
    );
  }
  if (xmlNames.length === 0) throw new DataError(layout.annotationDir, undefined, 'holds no .xml annotations');
  return { ...layout, ids: xmlNames.map(stripXml).sort(), source: `${layout.annotationDir}/*.xml` };
}

/** The image files tried for annotation `ann` of `id`, in order: its <filename>, then <id> with each image extension. */
export function vocImageCandidates(imageDir: string, id: string, ann: VocAnnotation, imageExtension?: string): string[] {
  const names: string[] = [];
  if (ann.filename) names.push(baseName(ann.filename));
  if (imageExtension) names.push(id + imageExtension);
  for (const ext of IMAGE_EXTENSIONS) names.push(id + ext);
  return [...new Set(names.filter((n) => n !== '' && n !== '.' && n !== '..'))].map((n) => joinPath(imageDir, n));
}

/**
 * Opens a VOC data set: reads the split and every annotation up front, and
 * checks that every image exists (without decoding any), so that bad data
 * fails before any training step. Images are decoded only in get().
 */
export async function openVoc(options: VocOptions): Promise<VocDataset> {
  const access = fileAccess(options);
  const layout = await vocLayout(options, access);
  const annotationPaths = layout.ids.map((id) => joinPath(layout.annotationDir, `${id}.xml`));
  const fromList = layout.source !== 'ids' && layout.source.endsWith('.txt');
  const annotations = await mapLimit(layout.ids, IO_CONCURRENCY, async (id, i) => {
    const file = annotationPaths[i]!;
    let bytes: Uint8Array;
    try {
      bytes = await readOrFail(access.read, file, 'annotation');
    } catch (e) {
      if (fromList && e instanceof DataError) throw new DataError(file, undefined, `${e.what} (listed in ${layout.source})`, { cause: e });
      throw e;
    }
    return parseVocAnnotation(utf8(bytes, file), file);
  });

  let classNames = options.classNames ?? VOC_CLASSES;
  if (classNames === 'infer') {
    classNames = [...new Set(annotations.flatMap((a) => a.objects.map((o) => o.name)))].sort();
    if (classNames.length === 0) throw new DataError(layout.source, undefined, 'no objects in any annotation: cannot infer class names');
  }

  let imagePaths: string[];
  if (options.checkImages ?? true) {
    // One listing of the image folder answers for every image; fall back on one test per file.
    const listed = await tryList(access, layout.imageDir);
    const present = listed ? new Set(listed.map((n) => joinPath(layout.imageDir, n))) : undefined;
    const missing: number[] = [];
    imagePaths = await mapLimit(layout.ids, IO_CONCURRENCY, async (id, i) => {
      const tried = vocImageCandidates(layout.imageDir, id, annotations[i]!, options.imageExtension);
      for (const path of tried) if (present ? present.has(path) : await access.exists(path)) return path;
      missing.push(i);
      return '';
    });
    if (missing.length > 0) {
      const i = Math.min(...missing);
      const tried = vocImageCandidates(layout.imageDir, layout.ids[i]!, annotations[i]!, options.imageExtension);
      const more = missing.length > 1 ? ` (and ${missing.length - 1} more of ${layout.ids.length} annotations have no image)` : '';
      throw new DataError(annotationPaths[i]!, undefined, `no image found for this annotation; tried ${tried.join(', ')}${more}`);
    }
  } else {
    imagePaths = layout.ids.map((id, i) => vocImageCandidates(layout.imageDir, id, annotations[i]!, options.imageExtension)[0]!);
  }
  return new VocDataset(options.root, layout.ids, annotations, classNames, access.read, { ...options, annotationPaths, imagePaths });
}

export interface VocDatasetOptions extends BoxPolicyOptions {
  resize?: ResizeSpec;
  skipDifficult?: boolean;
  imageExtension?: string;
  /** Path of each annotation (default Annotations/<id>.xml under root). */
  annotationPaths?: readonly string[];
  /** Path of each image (default JPEGImages/<id><imageExtension or .jpg> under root). */
  imagePaths?: readonly string[];
}

export class VocDataset implements AsyncDataset {
  readonly length: number;
  private readonly targets: DetectionTarget[];
  /** Per image, the kept objects' indices into its annotation (after dropping invalid boxes). */
  private readonly kept: (number[] | undefined)[];

  constructor(
    readonly root: string,
    readonly ids: readonly string[],
    readonly annotations: readonly VocAnnotation[],
    readonly classNames: readonly string[],
    private readonly read: ByteReader,
    private readonly options: VocDatasetOptions = {},
  ) {
    this.length = ids.length;
    this.kept = new Array(ids.length);
    this.targets = annotations.map((a, i) => {
      const t = vocTarget(a, classNames, i, this.annotationPath(i));
      return a.width > 0 ? this.checked(i, t) : t;
    });
  }

  annotationPath(i: number): string {
    return this.options.annotationPaths?.[i] ?? joinPath(this.root, 'Annotations', `${this.ids[i]}.xml`);
  }

  imagePath(i: number): string {
    return this.options.imagePaths?.[i] ?? joinPath(this.root, 'JPEGImages', `${this.ids[i]}${this.options.imageExtension ?? '.jpg'}`);
  }

  /**
   * Annotations of image i in its original size, without decoding it: boxes
   * clipped to the image, those with no area dropped. When the XML has no
   * `<size>`, width and height are 0 and the boxes unclipped until get(i)
   * has read the image.
   */
  target(i: number): DetectionTarget {
    return this.targets[i]!;
  }

  /** Indices into `annotations[i].objects` of the objects in target(i) (undefined: all of them). */
  keptObjects(i: number): readonly number[] | undefined {
    return this.kept[i];
  }

  async get(i: number): Promise<DetectionSample> {
    let t = this.target(i);
    const path = this.imagePath(i);
    const img = decodeImage(await readOrFail(this.read, path, 'image'), path);
    if (t.width === 0) {
      // No <size> in the XML: the image says, once.
      t = this.targets[i] = this.checked(i, { ...t, width: img.width, height: img.height });
    } else if (img.width !== t.width || img.height !== t.height) {
      throw new DataError(this.annotationPath(i), 'annotation/size', `${t.width}x${t.height} but ${path} is ${img.width}x${img.height}`);
    }
    let sample: DetectionSample = { ...t, image: rgbToChw(img) };
    if (this.options.skipDifficult) sample = dropDifficult(sample);
    return this.options.resize ? applyResize(sample, this.options.resize) : sample;
  }

  /** Clips t's boxes to its image and drops those with no area, per the box policy. */
  private checked(i: number, t: DetectionTarget): DetectionTarget {
    const objects = this.annotations[i]!.objects;
    const c = checkBoxes(
      t.boxes, t.width, t.height, this.annotationPath(i),
      (k) => `annotation/object[${k + 1}]/bndbox`,
      (k) => {
        const [xmin, ymin, xmax, ymax] = objects[k]!.bndbox;
        return `xmin ${xmin} ymin ${ymin} xmax ${xmax} ymax ${ymax}`;
      },
      this.options,
    );
    if (c.keep.length === objects.length) return { ...t, boxes: c.boxes };
    this.kept[i] = c.keep;
    return {
      ...t,
      boxes: c.boxes,
      labels: Int32Array.from(c.keep, (k) => t.labels[k]!),
      difficult: Uint8Array.from(c.keep, (k) => t.difficult![k]!),
    };
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
