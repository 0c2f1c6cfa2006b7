/**
 * The data layer's contract with the engine: plain typed arrays, never engine
 * tensors, so that data code runs (and is tested) without the engine.
 */

/** One image with its boxes. */
export interface DetectionSample {
  /** CHW, RGB, values in [0,1] before normalisation. */
  image: Float32Array;
  height: number;
  width: number;
  /** [n,4] x1,y1,x2,y2 in pixels (continuous coordinates, x2 > x1). */
  boxes: Float32Array;
  /** [n], 1..C; 0 is background and never a label. */
  labels: Int32Array;
  /** [n], 1 where the box is PASCAL VOC "difficult" (ignored by VOC AP). */
  difficult?: Uint8Array;
  /** [n], 1 where the box is a COCO crowd region (ignored by COCO AP). */
  iscrowd?: Uint8Array;
  /** Stable identifier of the image within its data set. */
  id: number;
}

/** A batch as the engine wants it; the engine wraps `images` into a tensor. */
export interface DetectionBatch {
  /** NCHW, images padded at the bottom/right to the largest in the batch. */
  images: Float32Array;
  shape: [n: number, c: number, h: number, w: number];
  boxes: Float32Array[];
  labels: Int32Array[];
  ids: number[];
  /** Per image, the un-padded [height, width] after augmentation. */
  sizes: [h: number, w: number][];
  difficult: (Uint8Array | undefined)[];
  iscrowd: (Uint8Array | undefined)[];
}

/** A random-access data set whose samples are computed synchronously. */
export interface Dataset {
  readonly length: number;
  /** Class names without background: label k names classNames[k - 1]. */
  readonly classNames: readonly string[];
  get(i: number): DetectionSample;
}

/** A data set whose samples need I/O (files on disk, fetches in a browser). */
export interface AsyncDataset {
  readonly length: number;
  readonly classNames: readonly string[];
  get(i: number): Promise<DetectionSample>;
}

export type AnyDataset = Dataset | AsyncDataset;

/** Reads a file's bytes: Node's fs by default, `fetch` or a Map in a browser. */
export type ByteReader = (path: string) => Promise<Uint8Array>;

/** A sample's annotations without its pixels (for evaluation without decoding). */
export type DetectionTarget = Omit<DetectionSample, 'image'>;
