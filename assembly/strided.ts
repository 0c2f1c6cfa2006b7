// Walks the rows of a strided n-d iteration space for up to three operands. Private to the
// module (index.ts does not re-export it); used by the broadcasting and layout kernels.
//
// Parameter block (i32 slots), written by src/backends/wasm/strided.ts:
//   0 rank (1..6) | 1..6 shape | 7..12 strides of operand 0 | 13..18 operand 1 | 19..24 operand 2
//   | 25..30 scratch: the row counter | 31..33 scratch: each operand's offset (elements) in the row.
// A "row" is one run along the last axis; rows are numbered in row-major order of the others.
// The scratch slots make the block per call (per thread, once there is a pool).
export const SHAPE = 1;
export const STRIDES = 7;
const COUNTER = 25;
const OFFSETS = 31;
const MAX_OPERANDS = 3;

// @ts-ignore: decorator
@inline export function slot(params: usize, i: i32): i32 {
  return load<i32>(params + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function slotAt(params: usize, i: i32): usize {
  return params + (<usize>i << 2);
}

/** Length of the last axis. */
// @ts-ignore: decorator
@inline export function rowLength(params: usize): i32 {
  return slot(params, SHAPE + slot(params, 0) - 1);
}

/** Stride of operand k along the last axis. */
// @ts-ignore: decorator
@inline export function rowStep(params: usize, k: i32): i32 {
  return slot(params, STRIDES + 6 * k + slot(params, 0) - 1);
}

/** Offset (elements) of operand k at the current row. */
// @ts-ignore: decorator
@inline export function rowOffset(params: usize, k: i32): i32 {
  return slot(params, OFFSETS + k);
}

/** Points the row counter and the operand offsets at row `r`. */
// @ts-ignore: decorator
@inline export function startRows(params: usize, r: i32): void {
  const outer = slot(params, 0) - 1;
  for (let k = 0; k < MAX_OPERANDS; k++) store<i32>(slotAt(params, OFFSETS + k), 0);
  let rem = r;
  for (let d = outer - 1; d >= 0; d--) {
    const n = slot(params, SHAPE + d);
    const idx = rem % n;
    rem /= n;
    store<i32>(slotAt(params, COUNTER + d), idx);
    for (let k = 0; k < MAX_OPERANDS; k++) {
      const o = slotAt(params, OFFSETS + k);
      store<i32>(o, load<i32>(o) + idx * slot(params, STRIDES + 6 * k + d));
    }
  }
}

/** Advances the counter and the offsets to the next row. */
// @ts-ignore: decorator
@inline export function nextRow(params: usize): void {
  for (let d = slot(params, 0) - 2; d >= 0; d--) {
    const n = slot(params, SHAPE + d);
    const c = slotAt(params, COUNTER + d);
    const idx = load<i32>(c) + 1;
    const wrap = idx == n;
    store<i32>(c, wrap ? 0 : idx);
    for (let k = 0; k < MAX_OPERANDS; k++) {
      const s = slot(params, STRIDES + 6 * k + d);
      const o = slotAt(params, OFFSETS + k);
      store<i32>(o, load<i32>(o) + (wrap ? s * (1 - n) : s));
    }
    if (!wrap) return;
  }
}
