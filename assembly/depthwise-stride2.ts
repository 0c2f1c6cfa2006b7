// The forward at stride 2 without the prepared copy (depthwise-plane.ts): the taps read the input
// plane itself. At stride 2 a layer reads four input pixels per output, and copying them into the
// phase-split band first cost more than all the multiply-adds (MobileNetV3's 240×40² layer: 24
// GFLOP/s with the copy left out, 10 with it), because the copy's reads and the arithmetic ran in
// separate turns. Here both are in the same loop, so the core overlaps them.
//
// Four neighbouring outputs (a v128) at output column o read input columns 2o − p + kx. Two loads
// of 8 consecutive columns, c0 … c0 + 7 with c0 = 2o, split into the even columns E and the odd
// ones O (one shuffle each); the other taps are E or O shifted by one lane, their missing lane
// taken from the previous 4 columns (P: c0 − 4 … c0 − 1) or the next ones (N: c0 + 8 …):
//   k = 3, p = 1: kx 0 … 2 read O₋₁ = (P₃ O₀ O₁ O₂), E, O
//   k = 5, p = 2: kx 0 … 4 read E₋₁ = (P₂ E₀ E₁ E₂), O₋₁, E, O, E₊₁ = (E₁ E₂ E₃ N₀)
// P and N are zero past the row's ends (the padding); rows above and below the plane read a zero
// row. The taps are added in the prepared path's order (ky, then kx; multiply, then add), so both
// paths give the same bits.
import { H, KH, KW, OH, OW, PH, PW, DH, DW, SH, SW, W, at } from './depthwise-plane';

/** Whether the current parameters (readParams) take this path. */
export function directStride2(): bool {
  // W a multiple of 8: every output vector's 8 columns lie inside the row (OW = W / 2, a multiple
  // of 4), so only P at the first vector and N at the last one touch the padding.
  // Planes up to 128² (64 KiB): on MobileNetV3's 64×160² layer (100 KiB planes, 6.5 MB read from
  // L3) this path ran at half the prepared path's speed (6.9 against 13 GFLOP/s): there the
  // prepared path's copy, a tight stream of loads, keeps more reads in flight than loads spread
  // among the arithmetic. On 40² and 80² planes it is 1.3–1.7× faster (bench/DEPTHWISE.md).
  return SH == 2 && SW == 2 && DH == 1 && DW == 1 && KH == KW && (KH == 3 || KH == 5) &&
    PH == KH >> 1 && PW == KW >> 1 && (W & 7) == 0 && W >= 8 && OW == W >> 1 && H * W <= 128 * 128;
}

/**
 * One output vector at input column pointer s: v plus the k taps of one kernel row (weights
 * w0 … w4). `pZero` / `nZero`: P / N lie in the padding (the row's first / last vector).
 */
// @ts-ignore: decorator
@inline function vectorTaps(k: i32, v: v128, s: usize, pZero: bool, nZero: bool,
  w0: v128, w1: v128, w2: v128, w3: v128, w4: v128): v128 {
  const zero = f32x4.splat(0);
  const a = v128.load(s);
  const b = v128.load(s, 16);
  const p = pZero ? zero : v128.load(s - 16);
  const e = i32x4.shuffle(a, b, 0, 2, 4, 6);
  const o = i32x4.shuffle(a, b, 1, 3, 5, 7);
  if (k == 3) {
    v = f32x4.add(v, f32x4.mul(w0, i32x4.shuffle(p, o, 3, 4, 5, 6)));
    v = f32x4.add(v, f32x4.mul(w1, e));
    return f32x4.add(v, f32x4.mul(w2, o));
  }
  const n = nZero ? zero : v128.load(s, 32);
  v = f32x4.add(v, f32x4.mul(w0, i32x4.shuffle(p, e, 2, 4, 5, 6)));
  v = f32x4.add(v, f32x4.mul(w1, i32x4.shuffle(p, o, 3, 4, 5, 6)));
  v = f32x4.add(v, f32x4.mul(w2, e));
  v = f32x4.add(v, f32x4.mul(w3, o));
  return f32x4.add(v, f32x4.mul(w4, i32x4.shuffle(e, n, 1, 2, 3, 4)));
}

/**
 * nv output vectors (4·nv outputs from column ox0) of one output row: bias plus every tap, the
 * kernel rows' input rows at the pointers in `rows`. k and nv are constants at every call site.
 */
// @ts-ignore: decorator
@inline function outputPass(k: i32, nv: i32, rows: usize, ox0: i32, wp: usize, bias: v128, y: usize): void {
  const first = ox0 == 0;
  const last = ox0 + 4 * nv == OW;
  const zero = f32x4.splat(0);
  let a0 = bias, a1 = bias, a2 = bias, a3 = bias;
  for (let ky = 0; ky < k; ky++) {
    const r = load<usize>(rows + (<usize>ky << 2)) + (<usize>ox0 << 3);
    const wk = wp + (<usize>(ky * k) << 2);
    const w0 = v128.load32_splat(wk);
    const w1 = v128.load32_splat(wk, 4);
    const w2 = v128.load32_splat(wk, 8);
    const w3 = k == 5 ? v128.load32_splat(wk, 12) : zero;
    const w4 = k == 5 ? v128.load32_splat(wk, 16) : zero;
    a0 = vectorTaps(k, a0, r, first, last && nv == 1, w0, w1, w2, w3, w4);
    if (nv > 1) a1 = vectorTaps(k, a1, r + 32, false, last && nv == 2, w0, w1, w2, w3, w4);
    if (nv > 2) a2 = vectorTaps(k, a2, r + 64, false, last && nv == 3, w0, w1, w2, w3, w4);
    if (nv > 3) a3 = vectorTaps(k, a3, r + 96, false, last && nv == 4, w0, w1, w2, w3, w4);
  }
  const yo = at(y, ox0);
  v128.store(yo, a0);
  if (nv > 1) v128.store(yo, a1, 16);
  if (nv > 2) v128.store(yo, a2, 32);
  if (nv > 3) v128.store(yo, a3, 48);
}

/** One output row: passes of 4 vectors, then the 1 … 3 left. */
// @ts-ignore: decorator
@inline function outputRow(k: i32, rows: usize, wp: usize, bias: v128, y: usize): void {
  let ox0 = 0;
  for (; ox0 + 16 <= OW; ox0 += 16) outputPass(k, 4, rows, ox0, wp, bias, y);
  switch ((OW - ox0) >> 2) {
    case 3: outputPass(k, 3, rows, ox0, wp, bias, y); break;
    case 2: outputPass(k, 2, rows, ox0, wp, bias, y); break;
    case 1: outputPass(k, 1, rows, ox0, wp, bias, y); break;
    default: break;
  }
}

/**
 * Output plane y (OH × OW) from input plane xp (H × W) and the plane's KH·KW weights at wp.
 * rows: scratch for KH row pointers; zeroRow: W zero floats, read where a kernel row is padding.
 */
export function forwardPlaneStride2(xp: usize, wp: usize, bias: f32, y: usize, rows: usize, zeroRow: usize): void {
  const bv = f32x4.splat(bias);
  for (let oy = 0; oy < OH; oy++) {
    for (let ky = 0; ky < KH; ky++) {
      const iy = 2 * oy - PH + ky;
      store<usize>(rows + (<usize>ky << 2), iy >= 0 && iy < H ? at(xp, iy * W) : zeroRow);
    }
    const yr = at(y, oy * OW);
    if (KH == 3) outputRow(3, rows, wp, bv, yr);
    else outputRow(5, rows, wp, bv, yr);
  }
}
