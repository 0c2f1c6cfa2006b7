// The wasm SGEMM (assembly/gemm*.ts) against a naive float64 product, on the raw module.
import { beforeAll, describe, expect, it } from 'vitest';
import { RawHeap, instantiateKdet, type KdetExports } from '../../bench/wasm-raw.js';
import { Rng, hashSeed, randn } from '../helpers/random.js';

let ex: KdetExports;
let heap: RawHeap;

beforeAll(() => {
  ex = instantiateKdet();
  heap = new RawHeap(ex);
});

interface Case {
  batchA: number;
  batchB: number;
  m: number;
  k: number;
  n: number;
  transA: boolean;
  transB: boolean;
}

/** Float64 reference and, per element, Σ|a·b| (the scale a float32 sum's error is relative to). */
function reference(c: Case, a: Float64Array, b: Float64Array): { y: Float64Array; mag: Float64Array } {
  const { batchA, batchB, m, k, n, transA, transB } = c;
  const batch = Math.max(batchA, batchB);
  const y = new Float64Array(batch * m * n);
  const mag = new Float64Array(batch * m * n);
  for (let bi = 0; bi < batch; bi++) {
    const ao = (batchA === 1 ? 0 : bi) * m * k;
    const bo = (batchB === 1 ? 0 : bi) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        let s1 = 0;
        for (let p = 0; p < k; p++) {
          const av = a[ao + (transA ? p * m + i : i * k + p)]!;
          const bv = b[bo + (transB ? j * k + p : p * n + j)]!;
          s += av * bv;
          s1 += Math.abs(av * bv);
        }
        y[(bi * m + i) * n + j] = s;
        mag[(bi * m + i) * n + j] = s1;
      }
    }
  }
  return { y, mag };
}

const GUARD = 64; // floats of sentinel on each side of y: catches writes past the edges

/** Runs matmul (optionally split into column ranges) and returns y plus the guard check. */
function run(c: Case, a: Float64Array, b: Float64Array, splits: number[] = []): { y: Float32Array; guardsIntact: boolean } {
  heap.reset();
  const batch = Math.max(c.batchA, c.batchB);
  const pa = heap.upload(a);
  const pb = heap.upload(b);
  const ySize = batch * c.m * c.n;
  const pyGuarded = heap.alloc((ySize + 2 * GUARD) * 4);
  const py = pyGuarded + GUARD * 4;
  heap.f32(pyGuarded, ySize + 2 * GUARD).fill(-12345.5);
  heap.f32(py, ySize).fill(NaN); // y must be overwritten, never read
  const scratchBytes = ex.matmulScratchBytes(c.m, c.k, c.n, +c.transA, +c.transB);
  const ps = heap.alloc(scratchBytes);
  heap.f32(ps, Math.floor(scratchBytes / 4)).fill(NaN); // scratch content must not matter
  const bounds = [0, ...splits, c.n];
  for (let i = 0; i + 1 < bounds.length; i++) {
    ex.matmulRange(pa, pb, py, c.batchA, c.batchB, c.m, c.k, c.n, +c.transA, +c.transB, ps, bounds[i]!, bounds[i + 1]!);
  }
  const guards = [...heap.f32(pyGuarded, GUARD), ...heap.f32(py + ySize * 4, GUARD)];
  return { y: heap.f32(py, ySize).slice(), guardsIntact: guards.every((v) => v === -12345.5) };
}

function check(c: Case, seed: string): void {
  const rng = new Rng(hashSeed(seed));
  const a = randn(rng, c.batchA * c.m * c.k);
  const b = randn(rng, c.batchB * c.k * c.n);
  const { y: want, mag } = reference(c, a, b);
  heap.reset();
  const pa = heap.upload(a);
  const pb = heap.upload(b);
  const ySize = want.length;
  const pyGuarded = heap.alloc((ySize + 2 * GUARD) * 4);
  const py = pyGuarded + GUARD * 4;
  heap.f32(pyGuarded, ySize + 2 * GUARD).fill(-12345.5);
  heap.f32(py, ySize).fill(NaN);
  const scratchBytes = ex.matmulScratchBytes(c.m, c.k, c.n, +c.transA, +c.transB);
  const ps = heap.alloc(scratchBytes);
  heap.f32(ps, Math.floor(scratchBytes / 4)).fill(NaN);
  ex.matmul(pa, pb, py, c.batchA, c.batchB, c.m, c.k, c.n, +c.transA, +c.transB, ps);
  const got = heap.f32(py, ySize);
  let worst = 0;
  for (let i = 0; i < ySize; i++) {
    const err = Math.abs(got[i]! - want[i]!) / Math.max(mag[i]!, 1e-30);
    if (!(err <= 1e-4)) throw new Error(`${seed}: y[${i}] = ${got[i]}, want ${want[i]} (rel. err ${err})`);
    worst = Math.max(worst, err);
  }
  expect(worst).toBeLessThanOrEqual(1e-4);
  const guards = [...heap.f32(pyGuarded, GUARD), ...heap.f32(py + ySize * 4, GUARD)];
  expect(guards.every((v) => v === -12345.5), 'wrote outside y').toBe(true);
}

const TRANS: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];

describe('wasm matmul', () => {
  // m, k, n: ones, odd sizes, primes, multiples and non-multiples of the 2×16 tile, and sizes past
  // the cache blocks (k > KC = 256, m > MC = 128, n > NC = 512) so every edge path runs.
  const shapes: [number, number, number][] = [
    [1, 1, 1], [1, 7, 1], [2, 3, 5], [3, 5, 7], [1, 13, 16], [2, 16, 16], [16, 16, 16], [17, 13, 31],
    [5, 300, 33], [130, 67, 129], [31, 257, 47], [3, 9, 2100], [64, 64, 64], [7, 1, 19],
  ];
  for (const [m, k, n] of shapes) {
    for (const [transA, transB] of TRANS) {
      it(`m=${m} k=${k} n=${n} transA=${transA} transB=${transB}`, () => {
        check({ batchA: 1, batchB: 1, m, k, n, transA, transB }, `mm ${m} ${k} ${n} ${transA} ${transB}`);
      });
    }
  }

  const batches: [number, number][] = [[3, 3], [1, 4], [4, 1]];
  for (const [batchA, batchB] of batches) {
    for (const [transA, transB] of TRANS) {
      it(`batch ${batchA}×${batchB} (m=5 k=11 n=19) transA=${transA} transB=${transB}`, () => {
        check({ batchA, batchB, m: 5, k: 11, n: 19, transA, transB }, `bmm ${batchA} ${batchB} ${transA} ${transB}`);
      });
    }
  }

  it('k = 0 gives zeros', () => {
    heap.reset();
    const py = heap.alloc(6 * 4);
    heap.f32(py, 6).fill(NaN);
    const ps = heap.alloc(ex.matmulScratchBytes(2, 0, 3, 0, 0));
    ex.matmul(0, 0, py, 1, 1, 2, 0, 3, 0, 0, ps);
    expect([...heap.f32(py, 6)]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('is deterministic and independent of how the columns are split', () => {
    const c: Case = { batchA: 2, batchB: 2, m: 37, k: 300, n: 150, transA: false, transB: true };
    const rng = new Rng(hashSeed('split'));
    const a = randn(rng, 2 * 37 * 300);
    const b = randn(rng, 2 * 300 * 150);
    const whole = run(c, a, b);
    const again = run(c, a, b);
    const split = run(c, a, b, [16, 19, 100]);
    expect(whole.guardsIntact && split.guardsIntact).toBe(true);
    expect(Buffer.from(again.y.buffer).equals(Buffer.from(whole.y.buffer))).toBe(true);
    expect(Buffer.from(split.y.buffer).equals(Buffer.from(whole.y.buffer))).toBe(true);
  });
});
