/**
 * The teacher cache for torchvision-family teachers (TvDistiller): every FPN level of the
 * teacher, per image, kept in float16, so that runs which show the teacher the same images (seeds,
 * recipes, the rows of a table) run its backbone and FPN once per image. The teacher's RPN head and
 * box head still run every step, on the cached levels: the box head pools the student's own ROIs.
 *
 * Why float16: a ResNet-FPN teacher's five levels at a 128² batch are 256 × (32² + 16² + 8² + 4² +
 * 2²) = 349,184 values per image, 0.67 MiB in float16 (1.3 in float32). The values are rounded to
 * float16 whether they come from the store or were just computed, so a run with a cold cache and one
 * with a warm cache give the same numbers; a run without a cache differs from both by that rounding
 * (relative 2⁻¹¹ on each feature). An image with a feature beyond float16's range (65504) is neither
 * rounded nor stored.
 *
 * Entries are keyed as kdet's own cache keys them (teacher-cache.ts): the teacher's weights and the
 * image's pixels as the teacher sees them (padded batch included), never a data-set index.
 */
import { tensor } from '../engine/ops/creation.js';
import { slice } from '../engine/ops/layout.js';
import { scope } from '../engine/scope.js';
import { noGrad } from '../engine/tape.js';
import type { Tensor } from '../engine/tensor.js';
import type { FeatureMaps } from '../detection/fpn.js';
import type { TvFasterRCNN } from '../detection/tv-faster-rcnn.js';
import { fromHalf, toHalf } from '../nn/safetensors.js';
import { imageKey, weightsKey, type CacheStats, type TeacherFeatureStore } from './teacher-cache.js';

/** The levels' names and sizes for one padded batch size, learnt from the first batch computed. */
interface Layout {
  names: string[];
  sizes: [number, number][];
  /** Floats per image over all levels. */
  per: number;
}

const HALF_MAX = 65504;

/** Rounds every value to the nearest float16 in place; false (and x unchanged) if one is out of range. */
export function roundToFloat16(x: Float32Array): boolean {
  for (let i = 0; i < x.length; i++) if (!(Math.abs(x[i]!) <= HALF_MAX)) return false;
  for (let i = 0; i < x.length; i++) x[i] = fromHalf(toHalf(x[i]!));
  return true;
}

export class TvTeacherCache {
  readonly stats: CacheStats = { hits: 0, misses: 0 };
  private teacherKey: string | null = null;
  private readonly layouts = new Map<string, Layout>();

  constructor(
    readonly teacher: TvFasterRCNN,
    readonly store: TeacherFeatureStore,
  ) {}

  /** The teacher's FPN levels of a batch of images [n, c, h, w] (normalised inside, as features() does). */
  async levels(images: Tensor): Promise<FeatureMaps> {
    const [n, c, h, w] = images.shape as [number, number, number, number];
    // Every tensor of the teacher (BatchNorm statistics are parameters here) and its normalisation.
    const norm = this.teacher.transform.config!;
    this.teacherKey ??= weightsKey([...(await Promise.all(this.teacher.parameters().map(async (p) => (await p.value.data()) as Float32Array))), Float32Array.from([...norm.mean, ...norm.std])]);
    const pixels = (await images.data()) as Float32Array;
    const plane = c * h * w;
    const keys = Array.from({ length: n }, (_, i) => `${this.teacherKey}/${imageKey(pixels.subarray(i * plane, (i + 1) * plane), [c, h, w])}`);
    const lay = this.layouts.get(`${h}x${w}`) ?? this.learnLayout(images);
    const found = await Promise.all(keys.map((k) => this.store.get(k, lay.per)));
    const missing = found.flatMap((f, i) => (f ? [] : [i]));
    this.stats.hits += n - missing.length;
    this.stats.misses += missing.length;
    if (missing.length) {
      const sub = new Float32Array(missing.length * plane);
      missing.forEach((i, j) => sub.set(pixels.subarray(i * plane, (i + 1) * plane), j * plane));
      const subImages = tensor(sub, [missing.length, c, h, w], { backend: images.backend });
      // The backbone's activations go with the scope; only the levels are kept, then read.
      const computed = noGrad(() => scope(() => this.teacher.features(subImages)));
      subImages.dispose();
      const values = await Promise.all(lay.names.map(async (k) => (await computed.get(k)!.data()) as Float32Array));
      for (const t of computed.values()) t.dispose();
      for (const [j, i] of missing.entries()) {
        const one = new Float32Array(lay.per);
        let at = 0;
        values.forEach((v, l) => {
          const len = v.length / missing.length;
          one.set(v.subarray(j * len, (j + 1) * len), at);
          at += len;
        });
        found[i] = one;
        if (roundToFloat16(one)) await this.store.put(keys[i]!, one);
      }
    }
    // Back to one tensor per level, the batch's images in order.
    const channels = lay.per / lay.sizes.reduce((s, [a, b]) => s + a * b, 0);
    const out: FeatureMaps = new Map();
    let offset = 0;
    lay.names.forEach((name, l) => {
      const [fh, fw] = lay.sizes[l]!;
      const len = channels * fh * fw;
      const all = new Float32Array(n * len);
      found.forEach((f, i) => all.set(f!.subarray(offset, offset + len), i * len));
      out.set(name, tensor(all, [n, channels, fh, fw], { backend: images.backend }));
      offset += len;
    });
    return out;
  }

  /**
   * The levels' names and sizes at this batch's padded size, from the teacher run on its first
   * image alone (once per size and run; the store's entries do not record them).
   */
  private learnLayout(images: Tensor): Layout {
    const [, c, h, w] = images.shape as [number, number, number, number];
    const shapes = noGrad(() =>
      scope(() => {
        const one = this.teacher.features(slice(images, [0, 0, 0, 0], [1, c, h, w]));
        const got = [...one].map(([name, t]) => ({ name, shape: [...t.shape] }));
        for (const t of one.values()) t.dispose();
        return got;
      }),
    );
    const sizes = shapes.map((x) => [x.shape[2]!, x.shape[3]!] as [number, number]);
    const layout = { names: shapes.map((x) => x.name), sizes, per: shapes[0]!.shape[1]! * sizes.reduce((s, [a, b]) => s + a * b, 0) };
    this.layouts.set(`${h}x${w}`, layout);
    return layout;
  }
}
