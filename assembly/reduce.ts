// Reductions over the middle axis of [outer, n, inner], arg-reductions and row softmax.
//
// Sums run in a fixed blocked order that depends only on n (never on threads or alignment), so
// results are reproducible bit for bit; the blocks bound the rounding error by roughly
// (64 + 64 + n / 4096) ulp instead of n ulp for a plain running sum.
// Kernels take an [start, end) range of `outer` so that a worker pool can split them later.
import { expV, lane0, loadTail, logV, storeTail } from './simd-math';

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}

// @ts-ignore: decorator
@inline function row(base: usize, r: i32, len: i32): usize {
  return base + (<usize>r * <usize>len << 2);
}

/** Vectors per level-0 block and level-0 blocks per level-1 block of a contiguous sum. */
const GROUPS_PER_BLOCK = 32; // 32 groups of 16 floats
const BLOCKS_PER_SUPER = 64;

/** Sum of p[0..n) in the fixed blocked order described above (16 interleaved lanes). */
export function sumContiguous(p: usize, n: i32): f32 {
  const groups = n >> 4;
  let t0 = f32x4.splat(0), t1 = t0, t2 = t0, t3 = t0;
  let g = 0;
  while (g < groups) {
    let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
    for (let b = 0; b < BLOCKS_PER_SUPER && g < groups; b++) {
      let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
      const stop = min(g + GROUPS_PER_BLOCK, groups);
      for (; g < stop; g++) {
        const q = p + (<usize>g << 6);
        a0 = f32x4.add(a0, v128.load(q));
        a1 = f32x4.add(a1, v128.load(q, 16));
        a2 = f32x4.add(a2, v128.load(q, 32));
        a3 = f32x4.add(a3, v128.load(q, 48));
      }
      s0 = f32x4.add(s0, a0); s1 = f32x4.add(s1, a1); s2 = f32x4.add(s2, a2); s3 = f32x4.add(s3, a3);
    }
    t0 = f32x4.add(t0, s0); t1 = f32x4.add(t1, s1); t2 = f32x4.add(t2, s2); t3 = f32x4.add(t3, s3);
  }
  // Combine the 16 lanes pairwise, then the < 16 leftover elements.
  const v = f32x4.add(f32x4.add(t0, t1), f32x4.add(t2, t3));
  let total = (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
  let tail: f32 = 0;
  for (let i = groups << 4; i < n; i++) tail += load<f32>(at(p, i));
  return total + tail;
}

/** dst[0..len) += src[0..len). */
// @ts-ignore: decorator
@inline function addRow(dst: usize, src: usize, len: i32): void {
  let i = 0;
  for (; i + 4 <= len; i += 4) v128.store(at(dst, i), f32x4.add(v128.load(at(dst, i)), v128.load(at(src, i))));
  for (; i < len; i++) store<f32>(at(dst, i), load<f32>(at(dst, i)) + load<f32>(at(src, i)));
}

const ROWS_PER_BLOCK = 64;

/** dst = Σ of `count` consecutive rows of length len starting at src (plain order). */
function sumRowsInto(dst: usize, src: usize, count: i32, len: i32): void {
  memory.copy(dst, src, <usize>len << 2);
  for (let j = 1; j < count; j++) addRow(dst, row(src, j, len), len);
}

/**
 * y[o, i] = Σ_j x[o, j, i] for o in [start, end). When inner > 1 the rows are summed in blocks of
 * 64 (and blocks of blocks) through `scratch`, 2 · inner floats, so every x row is read once.
 */
export function reduceSum(x: usize, y: usize, n: i32, inner: i32, scratch: usize, start: i32, end: i32): void {
  for (let o = start; o < end; o++) {
    const xo = row(x, o, n * inner);
    if (inner == 1) {
      store<f32>(at(y, o), sumContiguous(xo, n));
      continue;
    }
    const yo = row(y, o, inner);
    if (n == 0) {
      memory.fill(yo, 0, <usize>inner << 2);
      continue;
    }
    const level0 = scratch;
    const level1 = row(scratch, 1, inner);
    const superRows = ROWS_PER_BLOCK * ROWS_PER_BLOCK;
    for (let j2 = 0; j2 < n; j2 += superRows) {
      const superEnd = min(j2 + superRows, n);
      for (let j1 = j2; j1 < superEnd; j1 += ROWS_PER_BLOCK) {
        const count = min(ROWS_PER_BLOCK, superEnd - j1);
        if (j1 == j2) sumRowsInto(level1, row(xo, j1, inner), count, inner);
        else {
          sumRowsInto(level0, row(xo, j1, inner), count, inner);
          addRow(level1, level0, inner);
        }
      }
      if (j2 == 0) memory.copy(yo, level1, <usize>inner << 2);
      else addRow(yo, level1, inner);
    }
  }
}

// NaN-propagating max / min of an accumulator and a new value: pmax(acc, x) keeps a NaN acc
// (acc < x is false), and a NaN x is selected explicitly. Three cheap instructions where
// f32x4.max's exact IEEE semantics cost V8 about eight on x64; ±0 ties may keep either zero.
@final class Max {
  @inline v(acc: v128, x: v128): v128 { return v128.bitselect(x, f32x4.pmax(acc, x), f32x4.ne(x, x)); }
}
@final class Min {
  @inline v(acc: v128, x: v128): v128 { return v128.bitselect(x, f32x4.pmin(acc, x), f32x4.ne(x, x)); }
}

/** max or min of p[0..n), n ≥ 1; NaN propagates. */
function extremeContiguous<Op>(p: usize, n: i32): f32 {
  const op = changetype<Op>(0);
  let a0 = f32x4.splat(load<f32>(p)), a1 = a0, a2 = a0, a3 = a0;
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const q = at(p, i);
    a0 = op.v(a0, v128.load(q));
    a1 = op.v(a1, v128.load(q, 16));
    a2 = op.v(a2, v128.load(q, 32));
    a3 = op.v(a3, v128.load(q, 48));
  }
  for (; i + 4 <= n; i += 4) a1 = op.v(a1, v128.load(at(p, i)));
  // The last n % 4 elements, padded with p[0] (which cannot change a max or min).
  if (i < n) a2 = op.v(a2, loadTail(at(p, i), n - i, f32x4.splat(load<f32>(p))));
  const v = op.v(op.v(a0, a1), op.v(a2, a3));
  const pairs = op.v(v, f32x4.shuffle(v, v, 1, 0, 3, 2)); // lanes: 01 01 23 23
  return lane0(op.v(pairs, f32x4.shuffle(pairs, pairs, 2, 3, 0, 1)));
}

function extremeRows<Op>(x: usize, y: usize, n: i32, inner: i32, start: i32, end: i32): void {
  const op = changetype<Op>(0);
  for (let o = start; o < end; o++) {
    const xo = row(x, o, n * inner);
    if (inner == 1) {
      store<f32>(at(y, o), extremeContiguous<Op>(xo, n));
      continue;
    }
    const yo = row(y, o, inner);
    memory.copy(yo, xo, <usize>inner << 2);
    for (let j = 1; j < n; j++) {
      const xj = row(xo, j, inner);
      let i = 0;
      for (; i + 4 <= inner; i += 4) v128.store(at(yo, i), op.v(v128.load(at(yo, i)), v128.load(at(xj, i))));
      for (; i < inner; i++) store<f32>(at(yo, i), lane0(op.v(f32x4.splat(load<f32>(at(yo, i))), f32x4.splat(load<f32>(at(xj, i))))));
    }
  }
}

/** y[o, i] = max_j x[o, j, i] (n ≥ 1), NaN propagating. */
export function reduceMax(x: usize, y: usize, n: i32, inner: i32, start: i32, end: i32): void {
  extremeRows<Max>(x, y, n, inner, start, end);
}

export function reduceMin(x: usize, y: usize, n: i32, inner: i32, start: i32, end: i32): void {
  extremeRows<Min>(x, y, n, inner, start, end);
}

/**
 * int32 index of the first maximum (wantMax) or minimum along the middle axis, n ≥ 1. As in
 * PyTorch a NaN beats every number and the first NaN wins. `best` is scratch for inner floats.
 */
export function argReduce(x: usize, y: usize, n: i32, inner: i32, wantMax: bool, best: usize, start: i32, end: i32): void {
  for (let o = start; o < end; o++) {
    const xo = row(x, o, n * inner);
    const yo = row(y, o, inner);
    memory.copy(best, xo, <usize>inner << 2);
    memory.fill(yo, 0, <usize>inner << 2);
    for (let j = 1; j < n; j++) {
      const xj = row(xo, j, inner);
      for (let i = 0; i < inner; i++) {
        const v = load<f32>(at(xj, i));
        const b = load<f32>(at(best, i));
        const better = wantMax ? v > b : v < b;
        if (b == b && (better || v != v)) {
          store<f32>(at(best, i), v);
          store<i32>(at(yo, i), j);
        }
      }
    }
  }
}

/**
 * Rows [start, end) of softmax (or log-softmax) over the last axis of [rows, cols], stabilised by
 * the row maximum: y = e^{x−m} / Σ e^{x−m}, or x − m − log Σ e^{x−m}. A row's last cols % 4
 * elements go through one partial vector, so short rows cost one exp call per four elements.
 */
export function softmax(x: usize, y: usize, cols: i32, log: bool, start: i32, end: i32): void {
  if (cols == 0) return;
  const body = cols & ~3;
  const tail = cols - body;
  for (let r = start; r < end; r++) {
    const xr = row(x, r, cols);
    const yr = row(y, r, cols);
    const m = f32x4.splat(extremeContiguous<Max>(xr, cols));
    for (let i = 0; i < body; i += 4) v128.store(at(yr, i), expV(f32x4.sub(v128.load(at(xr, i)), m)));
    if (tail > 0) storeTail(at(yr, body), tail, expV(f32x4.sub(loadTail(at(xr, body), tail, m), m)));
    const s = f32x4.splat(sumContiguous(yr, cols));
    if (log) {
      const ls = logV(s);
      for (let i = 0; i < body; i += 4) v128.store(at(yr, i), f32x4.sub(f32x4.sub(v128.load(at(xr, i)), m), ls));
      if (tail > 0) storeTail(at(yr, body), tail, f32x4.sub(f32x4.sub(loadTail(at(xr, body), tail, m), m), ls));
    } else {
      for (let i = 0; i < body; i += 4) v128.store(at(yr, i), f32x4.div(v128.load(at(yr, i)), s));
      if (tail > 0) storeTail(at(yr, body), tail, f32x4.div(loadTail(at(yr, body), tail, s), s));
    }
  }
}
