/**
 * The frozen teacher's backbone features, kept per image so that runs which show the teacher the
 * same images (an ablation's variants and seeds, a sweep over distillation settings) compute
 * them once. A 1500-step run sees each (scene, flip) about once, so within one run the cache
 * saves little; across the ablation's runs it removes most of the teacher's backbone, its
 * largest cost (1.39 of the 1.90 GFLOPs of its forward per 128² image, results/distill-step/flops.md).
 *
 * Entries are keyed by the image's content (its pixels after augmentation and its shape) and by
 * the teacher, never by a data-set index: a flipped, jittered or re-ordered image can never be
 * served another image's features. Values are copied exactly, so a run gives the same numbers
 * with or without a cache (the backbone's output for an image does not depend on the other
 * images in its batch; test/distillation/teacher-cache.test.ts checks both).
 */

/** Where cached features live: in memory (any runtime) or a folder (Node's CLI). */
export interface TeacherFeatureStore {
  /** The stored features, or null if absent (or unusable: a store never returns wrong-sized data). */
  get(key: string, length: number): Promise<Float32Array | null>;
  put(key: string, features: Float32Array): Promise<void>;
}

/** Hit and miss counts of a store, for the logs. */
export interface CacheStats {
  hits: number;
  misses: number;
}

/** Two independent 32-bit hashes of the same words: 64 bits, so 10⁴–10⁶ entries never collide. */
export function hashWords(words: Uint32Array, seed = 0): string {
  let a = 0x811c9dc5 ^ seed;
  let b = 0x9747b28c ^ Math.imul(seed, 0x85ebca6b);
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    a = Math.imul(a ^ w, 0x01000193);
    b = Math.imul(b ^ Math.imul(w, 0xcc9e2d51), 0x1b873593);
    b = (b << 13) | (b >>> 19);
  }
  a = Math.imul(a ^ (a >>> 16), 0x85ebca6b);
  b = Math.imul(b ^ (b >>> 15), 0xc2b2ae35);
  return (a >>> 0).toString(16).padStart(8, '0') + ((b ^ (b >>> 13)) >>> 0).toString(16).padStart(8, '0');
}

/** The key of one image [C, H, W] (float pixels as given to the teacher). */
export function imageKey(pixels: Float32Array, shape: readonly [number, number, number]): string {
  const words = new Uint32Array(pixels.buffer, pixels.byteOffset, pixels.length);
  return `${shape.join('x')}-${hashWords(words)}`;
}

/** A fingerprint of a teacher's weights: caches made for another teacher are never read. */
export function weightsKey(weights: readonly Float32Array[]): string {
  let h = '';
  for (const w of weights) h = hashWords(new Uint32Array(w.buffer, w.byteOffset, w.length), parseInt(h.slice(0, 8) || '0', 16));
  return `${weights.length}-${h}`;
}

/**
 * An in-memory store with a byte budget: once full it keeps what it has (the first images of an
 * epoch are as likely to return as the last, so evicting buys nothing).
 */
export class MemoryFeatureStore implements TeacherFeatureStore {
  private readonly entries = new Map<string, Float32Array>();
  private bytes = 0;

  constructor(readonly budgetBytes = 256 * 2 ** 20) {}

  async get(key: string, length: number): Promise<Float32Array | null> {
    const e = this.entries.get(key);
    return e && e.length === length ? e : null;
  }

  async put(key: string, features: Float32Array): Promise<void> {
    if (this.entries.has(key) || this.bytes + features.byteLength > this.budgetBytes) return;
    this.entries.set(key, features.slice());
    this.bytes += features.byteLength;
  }

  get size(): number {
    return this.entries.size;
  }
}
