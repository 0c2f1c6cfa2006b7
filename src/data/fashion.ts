/**
 * Fashion-MNIST items (28x28 greyscale garments, 10 classes) from one of three
 * sources. The choice is explicit and recorded on the result, because scenes
 * built from different item pools differ:
 *  - 'embedded' (the default): a class-balanced subset shipped inside kdet
 *    (200 train + 60 t10k items per class). Every machine, CI included, gets
 *    byte-identical scenes from it, so training experiments should use it.
 *  - 'debian': the full set installed by Debian's `dataset-fashion-mnist`
 *    package in /usr/share/datasets/fashion-mnist/.
 *  - { path }: a directory holding the four standard `*-ubyte.gz` files.
 *  - { bytes }: the four files' bytes, for browsers.
 *  - 'auto': 'debian' when installed, else 'embedded' (not reproducible across
 *    machines; the resolved source is recorded in `FashionItems.source`).
 */
import { base64ToBytes } from '../engine/base64.js';
import { fileExists, joinPath, readFileBytes } from './fs.js';
import { parseIdx } from './idx.js';

export const FASHION_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

export const DEBIAN_FASHION_DIR = '/usr/share/datasets/fashion-mnist';

export type Split = 'train' | 'test';

export interface FashionFiles {
  trainImages: Uint8Array;
  trainLabels: Uint8Array;
  testImages: Uint8Array;
  testLabels: Uint8Array;
}

export type FashionSource = 'embedded' | 'debian' | 'auto' | { path: string } | { bytes: FashionFiles };

/** The resolved source, as recorded for reproducibility. */
export type ResolvedFashionSource = 'embedded' | 'debian' | { path: string } | 'bytes';

/** Items of one split: `pixels` holds count*28*28 bytes, row-major per item. */
export interface FashionSplit {
  count: number;
  pixels: Uint8Array;
  /** 0..9, index into FASHION_CLASSES. */
  classes: Uint8Array;
}

export interface FashionItems {
  source: ResolvedFashionSource;
  train: FashionSplit;
  test: FashionSplit;
}

const FILES = {
  trainImages: 'train-images-idx3-ubyte.gz',
  trainLabels: 'train-labels-idx1-ubyte.gz',
  testImages: 't10k-images-idx3-ubyte.gz',
  testLabels: 't10k-labels-idx1-ubyte.gz',
} as const;

const cache = new Map<string, Promise<FashionItems>>();

/** Loads Fashion-MNIST items; repeated loads of the same source share one copy. */
export function loadFashionItems(source: FashionSource = 'embedded'): Promise<FashionItems> {
  if (typeof source === 'object' && 'bytes' in source) {
    const files = source.bytes;
    return Promise.resolve().then(() => fromFiles(files, 'bytes'));
  }
  const key = typeof source === 'string' ? source : `path:${source.path}`;
  let p = cache.get(key);
  if (!p) {
    p = resolve(source);
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

async function resolve(source: Exclude<FashionSource, { bytes: FashionFiles }>): Promise<FashionItems> {
  if (source === 'embedded') return embedded();
  if (source === 'auto') {
    const present = await fileExists(joinPath(DEBIAN_FASHION_DIR, FILES.trainImages)).catch(() => false);
    // Share the cached copy of whichever source 'auto' resolves to.
    return loadFashionItems(present ? 'debian' : 'embedded');
  }
  if (source === 'debian') return fromDir(DEBIAN_FASHION_DIR, 'debian');
  return fromDir(source.path, { path: source.path });
}

async function embedded(): Promise<FashionItems> {
  // Loaded lazily: 1.5 MB of base64 that users of other data sets never pay for.
  const m = await import('./assets/fashion-subset.js');
  const files: FashionFiles = {
    trainImages: base64ToBytes(m.trainImages),
    trainLabels: base64ToBytes(m.trainLabels),
    testImages: base64ToBytes(m.testImages),
    testLabels: base64ToBytes(m.testLabels),
  };
  return fromFiles(files, 'embedded');
}

async function fromDir(dir: string, source: ResolvedFashionSource): Promise<FashionItems> {
  const read = async (name: string): Promise<Uint8Array> => {
    const path = joinPath(dir, name);
    if (!(await fileExists(path))) {
      throw new Error(
        `Fashion-MNIST file ${path} not found. The full set comes with Debian's package ` +
          `dataset-fashion-mnist (apt-get install dataset-fashion-mnist, files in ${DEBIAN_FASHION_DIR}); ` +
          `or pass source: { path } naming a directory with ${Object.values(FILES).join(', ')}; ` +
          `or use source: 'embedded', the subset shipped with kdet`,
      );
    }
    return readFileBytes(path);
  };
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all([
    read(FILES.trainImages),
    read(FILES.trainLabels),
    read(FILES.testImages),
    read(FILES.testLabels),
  ]);
  return fromFiles({ trainImages, trainLabels, testImages, testLabels }, source);
}

function fromFiles(f: FashionFiles, source: ResolvedFashionSource): FashionItems {
  return {
    source,
    train: split(f.trainImages, f.trainLabels, FILES.trainImages, FILES.trainLabels),
    test: split(f.testImages, f.testLabels, FILES.testImages, FILES.testLabels),
  };
}

function split(imageBytes: Uint8Array, labelBytes: Uint8Array, imageName: string, labelName: string): FashionSplit {
  const images = parseIdx(imageBytes, imageName);
  const labels = parseIdx(labelBytes, labelName);
  const [count, h, w] = images.shape;
  if (images.shape.length !== 3 || h !== 28 || w !== 28) {
    throw new Error(`${imageName}: expected shape [n,28,28], got [${images.shape.join(',')}]`);
  }
  if (labels.shape.length !== 1 || labels.shape[0] !== count) {
    throw new Error(`${labelName}: expected ${count} labels, got shape [${labels.shape.join(',')}]`);
  }
  for (let i = 0; i < labels.data.length; i++) {
    if (labels.data[i]! > 9) throw new Error(`${labelName}: label ${labels.data[i]} at item ${i} is not 0..9`);
  }
  return { count: count!, pixels: images.data, classes: labels.data };
}
