// Layout kernels: strided copy (transpose, slice, pad), blocked 2-D transpose, row copies
// (concat), gather (index_select) and scatterAdd (index_add). They move 32-bit elements, so
// they serve float32 and int32 alike.
import { nextRow, rowLength, rowOffset, rowStep, startRows } from './strided';

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}

// @ts-ignore: decorator
@inline function row(base: usize, r: i32, len: i32): usize {
  return base + (<usize>r * <usize>len << 2);
}

/**
 * dst[...] = src[...] over rows [start, end) of the iteration space in `params` (strided.ts):
 * operand 0 is the source, operand 1 the destination, strides in elements.
 */
export function copyStrided(src: usize, dst: usize, params: usize, start: i32, end: i32): void {
  const len = rowLength(params);
  const sStep = rowStep(params, 0);
  const dStep = rowStep(params, 1);
  startRows(params, start);
  for (let r = start; r < end; r++) {
    const s = at(src, rowOffset(params, 0));
    const d = at(dst, rowOffset(params, 1));
    if (sStep == 1 && dStep == 1) {
      memory.copy(d, s, <usize>len << 2);
    } else {
      for (let i = 0; i < len; i++) store<i32>(at(d, i * dStep), load<i32>(at(s, i * sStep)));
    }
    nextRow(params);
  }
}

/** Transposes one 4×4 block: rows of src (stride ss) become columns of dst (stride ds), in bytes. */
// @ts-ignore: decorator
@inline function block4(s: usize, d: usize, ss: usize, ds: usize): void {
  const r0 = v128.load(s);
  const r1 = v128.load(s + ss);
  const r2 = v128.load(s + 2 * ss);
  const r3 = v128.load(s + 3 * ss);
  const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(d, i64x2.shuffle(t0, t2, 0, 2));
  v128.store(d + ds, i64x2.shuffle(t0, t2, 1, 3));
  v128.store(d + 2 * ds, i64x2.shuffle(t1, t3, 0, 2));
  v128.store(d + 3 * ds, i64x2.shuffle(t1, t3, 1, 3));
}

const TILE = 32;

/**
 * dst[b][j][i] = src[b][i][j] for b in [start, end): src rows have `rows` × `cols` with row
 * stride srcStride, dst has `cols` rows of stride dstStride (≥ rows; padding is left alone).
 * Works in 32×32 tiles of 4×4 SIMD blocks so both sides stay in cache. A worker pool can split
 * one matrix by rows: rows [r0, r1) of src are dst columns [r0, r1).
 */
export function transpose2d(
  src: usize, dst: usize, rows: i32, cols: i32, srcStride: i32, dstStride: i32,
  srcBatchStride: i32, dstBatchStride: i32, start: i32, end: i32,
): void {
  const ss = <usize>srcStride << 2;
  const ds = <usize>dstStride << 2;
  for (let b = start; b < end; b++) {
    const sb = row(src, b, srcBatchStride);
    const db = row(dst, b, dstBatchStride);
    for (let i0 = 0; i0 < rows; i0 += TILE) {
      const i1 = min(i0 + TILE, rows);
      for (let j0 = 0; j0 < cols; j0 += TILE) {
        const j1 = min(j0 + TILE, cols);
        // Destination rows a multiple of 4 KB apart all fall in one L1 set: walking a tile source
        // row by source row touches 32 of them per pass, more than the set holds, so each line is
        // fetched again for every 4 source rows (3-5× slower on [1024, 12544] → [12544, 1024]).
        // Going down the source's columns instead keeps 4 destination rows live at a time.
        if ((dstStride & 1023) == 0 && i1 - i0 == TILE && j1 - j0 == TILE) {
          for (let j = j0; j < j1; j += 4) {
            for (let i = i0; i < i1; i += 4) block4(at(row(sb, i, srcStride), j), at(row(db, j, dstStride), i), ss, ds);
          }
          continue;
        }
        let i = i0;
        for (; i + 4 <= i1; i += 4) {
          let j = j0;
          for (; j + 4 <= j1; j += 4) block4(at(row(sb, i, srcStride), j), at(row(db, j, dstStride), i), ss, ds);
          for (; j < j1; j++) {
            for (let k = i; k < i + 4; k++) store<i32>(at(row(db, j, dstStride), k), load<i32>(at(row(sb, k, srcStride), j)));
          }
        }
        for (; i < i1; i++) {
          for (let j = j0; j < j1; j++) store<i32>(at(row(db, j, dstStride), i), load<i32>(at(row(sb, i, srcStride), j)));
        }
      }
    }
  }
}

/** Rows [start, end): dst + r·dstStride ← src + r·srcStride, `len` elements each (concat). */
export function copyRows(src: usize, dst: usize, len: i32, srcStride: i32, dstStride: i32, start: i32, end: i32): void {
  for (let r = start; r < end; r++) memory.copy(row(dst, r, dstStride), row(src, r, srcStride), <usize>len << 2);
}

/**
 * index_select over the middle axis of x [outer, n, inner] into y [outer, nIndex, inner] for
 * outer rows [start, end). An index outside [0, n) yields a zero row; returns how many there were
 * so that the caller can report them.
 */
export function gather(x: usize, indices: usize, y: usize, n: i32, inner: i32, nIndex: i32, start: i32, end: i32): i32 {
  const bytes = <usize>inner << 2;
  let bad = 0;
  for (let o = start; o < end; o++) {
    const xo = row(x, o, n * inner);
    const yo = row(y, o, nIndex * inner);
    for (let j = 0; j < nIndex; j++) {
      const k = load<i32>(at(indices, j));
      if (k >= 0 && k < n) memory.copy(row(yo, j, inner), row(xo, k, inner), bytes);
      else {
        memory.fill(row(yo, j, inner), 0, bytes);
        bad++;
      }
    }
  }
  return bad;
}

/**
 * index_add into zeros: y [outer, axisSize, inner], y[o, idx[j], :] += src[o, j, :] in increasing
 * j (a fixed order, so repeated indices sum deterministically), for outer rows [start, end).
 * Indices outside [0, axisSize) are skipped and counted.
 */
export function scatterAdd(src: usize, indices: usize, y: usize, nIndex: i32, axisSize: i32, inner: i32, start: i32, end: i32): i32 {
  let bad = 0;
  for (let o = start; o < end; o++) {
    const so = row(src, o, nIndex * inner);
    const yo = row(y, o, axisSize * inner);
    memory.fill(yo, 0, <usize>axisSize * <usize>inner << 2);
    for (let j = 0; j < nIndex; j++) {
      const k = load<i32>(at(indices, j));
      if (k < 0 || k >= axisSize) {
        bad++;
        continue;
      }
      const d = row(yo, k, inner);
      const s = row(so, j, inner);
      let i = 0;
      for (; i + 4 <= inner; i += 4) v128.store(at(d, i), f32x4.add(v128.load(at(d, i)), v128.load(at(s, i))));
      for (; i < inner; i++) store<f32>(at(d, i), load<f32>(at(d, i)) + load<f32>(at(s, i)));
    }
  }
  return bad;
}
