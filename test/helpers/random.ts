/**
 * Seeded input generators for tests. Every value is rounded to float32 so that a float32 backend
 * and the float64 reference see exactly the same numbers; none is zero, and the `away`/`distinct`
 * generators keep inputs clear of the kinks of relu/abs/max so finite differences are valid.
 */
export class Rng {
  private state: number;

  /**
   * A string seed is salted with KDET_TEST_SEED when set, so that a run can draw other inputs
   * (fuzzing) while the default run stays reproducible.
   */
  constructor(seed: number | string) {
    this.state = typeof seed === 'number' ? seed >>> 0 : hashSeed(`${testSeedSalt()}${seed}`);
  }

  /** Uniform in [0, 1): mulberry32. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** Integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo));
  }

  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return xs;
  }
}

function testSeedSalt(): string {
  const env = typeof process === 'undefined' ? undefined : process.env.KDET_TEST_SEED;
  return env ? `${env}:` : '';
}

/** FNV-1a: a stable seed per test name, so each test draws its own fresh inputs. */
export function hashSeed(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function f32(values: number[]): Float64Array {
  return Float64Array.from(values, Math.fround);
}

/** Normal(0, scale²), magnitudes below 1e-3 pushed out to 1e-3 (never zero). */
export function randn(rng: Rng, n: number, scale = 1): Float64Array {
  return f32(Array.from({ length: n }, () => {
    const v = rng.normal() * scale;
    return Math.abs(v) < 1e-3 ? (v < 0 ? -1e-3 : 1e-3) : v;
  }));
}

/** Uniform in [lo, hi) (use lo > 0 for log/sqrt inputs). */
export function uniform(rng: Rng, n: number, lo: number, hi: number): Float64Array {
  return f32(Array.from({ length: n }, () => rng.uniform(lo, hi)));
}

/** |x| uniform in [min, max] with a random sign: clear of the kink at 0. */
export function away(rng: Rng, n: number, min = 0.1, max = 2): Float64Array {
  return f32(Array.from({ length: n }, () => (rng.next() < 0.5 ? -1 : 1) * rng.uniform(min, max)));
}

/**
 * n distinct values at least `spacing` apart, in random order, centred near 0: no ties for
 * max/argmax/max-pool, and a perturbation of 1e-6 cannot change which element wins.
 */
export function distinct(rng: Rng, n: number, spacing = 0.01): Float64Array {
  const ranks = rng.shuffle([...Array(n).keys()]);
  return f32(ranks.map((r) => (r - n / 2) * spacing + 0.0037 + rng.uniform(0, spacing / 4)));
}

/** Random 0/1 mask (a float32 condition for `where`), with both values present when n ≥ 2. */
export function mask01(rng: Rng, n: number): Float64Array {
  const m = Array.from({ length: n }, () => (rng.next() < 0.5 ? 1 : 0));
  if (n >= 2) {
    m[0] = 1;
    m[1] = 0;
  }
  return Float64Array.from(rng.shuffle(m));
}

/** Integers in [lo, hi). */
export function ints(rng: Rng, n: number, lo: number, hi: number): Int32Array {
  return Int32Array.from({ length: n }, () => rng.int(lo, hi));
}

/** Rows of probabilities (soft targets): positive, each row summing to 1. */
export function probabilities(rng: Rng, rows: number, cols: number): Float64Array {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    const e = Array.from({ length: cols }, () => Math.exp(rng.normal()));
    const s = e.reduce((a, b) => a + b, 0);
    out.push(...e.map((v) => v / s));
  }
  return f32(out);
}
