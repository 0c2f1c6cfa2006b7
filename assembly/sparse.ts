// Sparse (CSR) × dense: out[r, :] = Σ values[j] · x[colIdx[j], :] over row r's entries.
//
// Why column blocks of 32 outermost: the dense operand is read once per entry, a whole row of it
// for a whole-width pass. RoIAlign's bilinear weights (src/detection/roi-align-linear.ts) touch
// each row of x hundreds of times; walking 32 columns (128 bytes) at a time keeps the slice of x
// that a block reads small enough for L2 (9800 rows × 128 B = 1.25 MB in MobileNetV3-FPN's box
// head) and the block's eight v128 accumulators in registers. Each output element is summed by one
// call in j order, so any split of rows or columns gives the same bits.

// @ts-ignore: decorator
@inline
function axpyBlock32(
  rowPtr: usize, colIdx: usize, values: usize, x: usize, out: usize, rowBytes: usize, r: i32, c: i32,
): void {
  let a0 = f32x4.splat(0);
  let a1 = a0;
  let a2 = a0;
  let a3 = a0;
  let a4 = a0;
  let a5 = a0;
  let a6 = a0;
  let a7 = a0;
  const j1 = load<i32>(rowPtr + (<usize>(r + 1) << 2));
  for (let j = load<i32>(rowPtr + (<usize>r << 2)); j < j1; j++) {
    const v = v128.load32_splat(values + (<usize>j << 2));
    const src = x + <usize>load<i32>(colIdx + (<usize>j << 2)) * rowBytes + (<usize>c << 2);
    a0 = f32x4.add(a0, f32x4.mul(v, v128.load(src)));
    a1 = f32x4.add(a1, f32x4.mul(v, v128.load(src, 16)));
    a2 = f32x4.add(a2, f32x4.mul(v, v128.load(src, 32)));
    a3 = f32x4.add(a3, f32x4.mul(v, v128.load(src, 48)));
    a4 = f32x4.add(a4, f32x4.mul(v, v128.load(src, 64)));
    a5 = f32x4.add(a5, f32x4.mul(v, v128.load(src, 80)));
    a6 = f32x4.add(a6, f32x4.mul(v, v128.load(src, 96)));
    a7 = f32x4.add(a7, f32x4.mul(v, v128.load(src, 112)));
  }
  const dst = out + <usize>r * rowBytes + (<usize>c << 2);
  v128.store(dst, a0);
  v128.store(dst, a1, 16);
  v128.store(dst, a2, 32);
  v128.store(dst, a3, 48);
  v128.store(dst, a4, 64);
  v128.store(dst, a5, 80);
  v128.store(dst, a6, 96);
  v128.store(dst, a7, 112);
}

/**
 * Rows [rStart, rEnd) and columns [cStart, cEnd) of out [rows, width] (row stride = width, as x's).
 * rowPtr/colIdx int32, values/x/out float32; indices are trusted (checked by the engine).
 */
export function spmm(
  rowPtr: usize, colIdx: usize, values: usize, x: usize, out: usize, width: i32,
  rStart: i32, rEnd: i32, cStart: i32, cEnd: i32,
): void {
  const rowBytes = <usize>width << 2;
  let c = cStart;
  for (; c + 32 <= cEnd; c += 32) {
    for (let r = rStart; r < rEnd; r++) axpyBlock32(rowPtr, colIdx, values, x, out, rowBytes, r, c);
  }
  // The last < 32 columns: four at a time, then one.
  for (let r = rStart; r < rEnd; r++) {
    const j0 = load<i32>(rowPtr + (<usize>r << 2));
    const j1 = load<i32>(rowPtr + (<usize>(r + 1) << 2));
    const dst = out + <usize>r * rowBytes;
    let cc = c;
    for (; cc + 4 <= cEnd; cc += 4) {
      let acc = f32x4.splat(0);
      for (let j = j0; j < j1; j++) {
        const v = v128.load32_splat(values + (<usize>j << 2));
        const src = x + <usize>load<i32>(colIdx + (<usize>j << 2)) * rowBytes + (<usize>cc << 2);
        acc = f32x4.add(acc, f32x4.mul(v, v128.load(src)));
      }
      v128.store(dst + (<usize>cc << 2), acc);
    }
    for (; cc < cEnd; cc++) {
      let acc: f32 = 0;
      for (let j = j0; j < j1; j++) {
        const v = load<f32>(values + (<usize>j << 2));
        acc += v * load<f32>(x + <usize>load<i32>(colIdx + (<usize>j << 2)) * rowBytes + (<usize>cc << 2));
      }
      store<f32>(dst + (<usize>cc << 2), acc);
    }
  }
}
