/**
 * Streaming batch loader: an async iterator over DetectionBatch that holds at
 * most the current batch and (for I/O-bound data sets) the next one being
 * prefetched; only an index permutation covers the whole data set. Decoded
 * samples of file-backed data sets are kept in an LRU cache bounded in bytes
 * (`cacheBytes`), so memory stays flat however many images a folder holds.
 *
 * Shuffling and augmentation are seeded per (seed, epoch, sample index), so a
 * sample's augmentation does not depend on batch size, prefetching or order.
 */
import { hashSeed, Rng } from './rng.js';
import { applyResize, hflip, scaleJitter } from './transforms.js';
import type { Normalisation, ResizeSpec } from './transforms.js';
import type { AnyDataset, DetectionBatch, DetectionSample } from './types.js';

export interface LoaderOptions {
  batchSize: number;
  shuffle?: boolean;
  seed?: number;
  /** Drop a last batch smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Applied to every sample before augmentation. */
  resize?: ResizeSpec;
  /** Probability of a horizontal flip (training: 0.5; default 0). */
  hflip?: number;
  /** Resize by a factor drawn from [lo, hi] (default: none). */
  scaleJitter?: [number, number];
  /** Per-channel normalisation (default none: values stay in [0,1]). */
  normalise?: Normalisation;
  /**
   * Batch spatial shape: 'max' pads to the largest image in the batch;
   * [h, w] pads every batch to that shape (an image larger than it is an error).
   */
  pad?: 'max' | [number, number];
  /** Round padded height and width up to a multiple of this (e.g. 32). */
  sizeDivisor?: number;
  /**
   * Batches prepared ahead while the consumer works (default 1): with an
   * AsyncDataset, batch k+1's files are read while batch k trains.
   */
  prefetch?: number;
  /**
   * Bytes of decoded (and resized) samples kept in an LRU cache across
   * epochs, for data sets whose get() is asynchronous (files: VOC, COCO).
   * Default 256 MiB; 0 turns it off. Synchronous data sets (generated scenes)
   * are never cached. Memory stays bounded whatever the data set's size.
   */
  cacheBytes?: number;
}

export const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;

/** Least-recently-used map bounded by the total size of its values. */
export class ByteLru<K, V> {
  private readonly map = new Map<K, { value: V; bytes: number }>();
  private total = 0;
  hits = 0;
  misses = 0;

  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const e = this.map.get(key);
    if (!e) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  set(key: K, value: V, bytes: number): void {
    const old = this.map.get(key);
    if (old) {
      this.total -= old.bytes;
      this.map.delete(key);
    }
    if (bytes > this.maxBytes) return;
    this.map.set(key, { value, bytes });
    this.total += bytes;
    for (const [k, e] of this.map) {
      if (this.total <= this.maxBytes) break;
      this.map.delete(k);
      this.total -= e.bytes;
    }
  }

  clear(): void {
    this.map.clear();
    this.total = 0;
  }
}

/** Approximate memory of a sample: its typed arrays plus a small fixed overhead. */
export function sampleBytes(s: DetectionSample): number {
  return s.image.byteLength + s.boxes.byteLength + s.labels.byteLength + (s.difficult?.byteLength ?? 0) + (s.iscrowd?.byteLength ?? 0) + 256;
}

export class BatchLoader {
  /** Decoded samples of an asynchronous data set, before augmentation (see LoaderOptions.cacheBytes). */
  readonly cache: ByteLru<number, DetectionSample>;
  /** Whether the data set's get() returns promises; known after the first sample. */
  private asyncData: boolean | undefined;

  constructor(
    readonly dataset: AnyDataset,
    readonly options: LoaderOptions,
  ) {
    if (!(options.batchSize >= 1)) throw new Error('BatchLoader: batchSize must be >= 1');
    const cacheBytes = options.cacheBytes ?? DEFAULT_CACHE_BYTES;
    if (!(cacheBytes >= 0)) throw new Error('BatchLoader: cacheBytes must be >= 0');
    this.cache = new ByteLru(cacheBytes);
  }

  get batchesPerEpoch(): number {
    const n = this.dataset.length / this.options.batchSize;
    return this.options.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** Sample order of an epoch: a seeded permutation, or 0..n-1 without shuffling. */
  order(epoch: number): Uint32Array {
    const idx = new Uint32Array(this.dataset.length);
    for (let i = 0; i < idx.length; i++) idx[i] = i;
    if (this.options.shuffle ?? true) new Rng(hashSeed(this.options.seed ?? 0, 0x5eed, epoch)).shuffle(idx);
    return idx;
  }

  [Symbol.asyncIterator](): AsyncIterator<DetectionBatch> {
    return this.epoch(0);
  }

  async *epoch(epoch: number): AsyncGenerator<DetectionBatch> {
    const order = this.order(epoch);
    const bs = this.options.batchSize;
    const count = this.batchesPerEpoch;
    const ahead = Math.max(0, this.options.prefetch ?? 1);
    const pending: Promise<DetectionBatch>[] = [];
    const start = (b: number): Promise<DetectionBatch> => {
      const ids = Array.from(order.subarray(b * bs, Math.min(order.length, (b + 1) * bs)));
      const p = Promise.all(ids.map((i) => this.sample(i, epoch))).then((samples) => this.collate(samples));
      // A prefetched batch may fail after the consumer stopped: don't let that crash the process.
      p.catch(() => undefined);
      return p;
    };
    // While the consumer holds batch k, batches k+1..k+ahead are being prepared.
    let next = 0;
    for (;;) {
      while (next < count && pending.length <= ahead) pending.push(start(next++));
      const batch = pending.shift();
      if (!batch) return;
      yield await batch;
    }
  }

  /** Sample i of the data set after resize and augmentation for `epoch`. */
  async sample(i: number, epoch: number): Promise<DetectionSample> {
    const o = this.options;
    const caching = this.cache.maxBytes > 0 && this.asyncData !== false;
    let s = caching ? this.cache.get(i) : undefined;
    if (!s) {
      const got = this.dataset.get(i);
      const isAsync = (this.asyncData = got instanceof Promise);
      s = await got;
      if (o.resize) s = applyResize(s, o.resize);
      // Transforms return new samples, so a cached one is never modified.
      if (isAsync && this.cache.maxBytes > 0) this.cache.set(i, s, sampleBytes(s));
    }
    const rng = new Rng(hashSeed(o.seed ?? 0, 0xa09, epoch, i));
    if (o.scaleJitter) s = scaleJitter(s, rng, o.scaleJitter[0], o.scaleJitter[1]);
    if (o.hflip && rng.next() < o.hflip) s = hflip(s);
    return s;
  }

  /** Pads to a common shape and normalises into one NCHW buffer. */
  collate(samples: DetectionSample[]): DetectionBatch {
    const o = this.options;
    const c = samples[0]!.image.length / (samples[0]!.height * samples[0]!.width);
    let [h, w] = o.pad && o.pad !== 'max' ? o.pad : [0, 0];
    if (!o.pad || o.pad === 'max') {
      for (const s of samples) (h = Math.max(h, s.height)), (w = Math.max(w, s.width));
    }
    const div = o.sizeDivisor ?? 1;
    h = Math.ceil(h / div) * div;
    w = Math.ceil(w / div) * div;
    const images = new Float32Array(samples.length * c * h * w);
    samples.forEach((s, n) => {
      if (s.height > h || s.width > w) throw new Error(`BatchLoader: image ${s.id} is ${s.height}x${s.width}, larger than pad ${h}x${w}`);
      const hw = s.height * s.width;
      for (let ch = 0; ch < c; ch++) {
        const mean = o.normalise?.mean[ch] ?? 0;
        const inv = o.normalise ? 1 / o.normalise.std[ch]! : 1;
        for (let y = 0; y < s.height; y++) {
          const src = ch * hw + y * s.width;
          const dst = ((n * c + ch) * h + y) * w;
          for (let x = 0; x < s.width; x++) images[dst + x] = (s.image[src + x]! - mean) * inv;
        }
      }
    });
    return {
      images,
      shape: [samples.length, c, h, w],
      boxes: samples.map((s) => s.boxes),
      labels: samples.map((s) => s.labels),
      ids: samples.map((s) => s.id),
      sizes: samples.map((s): [number, number] => [s.height, s.width]),
      difficult: samples.map((s) => s.difficult),
      iscrowd: samples.map((s) => s.iscrowd),
    };
  }
}
