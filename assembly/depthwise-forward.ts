// The forward's inner loops (also the stride-1 input gradient's, see depthwise-grad-input.ts):
// a band of output rows from a prepared band of input rows (depthwise-plane.ts), 32 outputs (8 v128
// accumulators) per pass over the taps where the row allows, the rest in as few vectors as it
// needs. Each tap costs one weight broadcast and, per vector, one load, multiply and add.
import { BAND, OH, OW, SH, TAPS, WQ, at, storeLanes } from './depthwise-plane';

/**
 * nv vectors (4·nv outputs from `base`'s pixel) of one output row: bias plus every tap (byte
 * offsets at tab, weights at wp), then the first `count` outputs stored at y. nv is a constant at
 * every call site, so the unused accumulators vanish.
 */
// @ts-ignore: decorator
@inline function forwardBlock(nv: i32, base: usize, tab: usize, wp: usize, bias: v128, y: usize, count: i32): void {
  let a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias, a7 = bias;
  for (let t = 0; t < TAPS; t++) {
    const s = base + <usize>load<i32>(at(tab, t));
    const wv = v128.load32_splat(at(wp, t));
    a0 = f32x4.add(a0, f32x4.mul(wv, v128.load(s)));
    if (nv > 1) a1 = f32x4.add(a1, f32x4.mul(wv, v128.load(s, 16)));
    if (nv > 2) a2 = f32x4.add(a2, f32x4.mul(wv, v128.load(s, 32)));
    if (nv > 3) a3 = f32x4.add(a3, f32x4.mul(wv, v128.load(s, 48)));
    if (nv > 4) a4 = f32x4.add(a4, f32x4.mul(wv, v128.load(s, 64)));
    if (nv > 5) a5 = f32x4.add(a5, f32x4.mul(wv, v128.load(s, 80)));
    if (nv > 6) a6 = f32x4.add(a6, f32x4.mul(wv, v128.load(s, 96)));
    if (nv > 7) a7 = f32x4.add(a7, f32x4.mul(wv, v128.load(s, 112)));
  }
  storeLanes(y, a0, count);
  if (nv > 1) storeLanes(y + 16, a1, count - 4);
  if (nv > 2) storeLanes(y + 32, a2, count - 8);
  if (nv > 3) storeLanes(y + 48, a3, count - 12);
  if (nv > 4) storeLanes(y + 64, a4, count - 16);
  if (nv > 5) storeLanes(y + 80, a5, count - 20);
  if (nv > 6) storeLanes(y + 96, a6, count - 24);
  if (nv > 7) storeLanes(y + 112, a7, count - 28);
}

/** Rows [oy0, oy0 + BAND) of output plane y from the prepared band (depthwise-plane.ts). */
export function forwardBand(prep: usize, tab: usize, wp: usize, bias: f32, y: usize, oy0: i32): void {
  const bv = f32x4.splat(bias);
  const rowBytes = <usize>SH * WQ << 2;
  const oy1 = min(OH, oy0 + BAND);
  for (let oy = oy0; oy < oy1; oy++) {
    const base = prep + <usize>(oy - oy0) * rowBytes;
    const yr = at(y, oy * OW);
    let ox = 0;
    for (; ox + 32 <= OW; ox += 32) forwardBlock(8, at(base, ox), tab, wp, bv, at(yr, ox), 32);
    const rem = OW - ox;
    const b = at(base, ox);
    const o = at(yr, ox);
    // The last 1 … 31 outputs in as few vectors as they need.
    switch ((rem + 3) >> 2) {
      case 8: forwardBlock(8, b, tab, wp, bv, o, rem); break;
      case 7: forwardBlock(7, b, tab, wp, bv, o, rem); break;
      case 6: forwardBlock(6, b, tab, wp, bv, o, rem); break;
      case 5: forwardBlock(5, b, tab, wp, bv, o, rem); break;
      case 4: forwardBlock(4, b, tab, wp, bv, o, rem); break;
      case 3: forwardBlock(3, b, tab, wp, bv, o, rem); break;
      case 2: forwardBlock(2, b, tab, wp, bv, o, rem); break;
      case 1: forwardBlock(1, b, tab, wp, bv, o, rem); break;
      default: break;
    }
  }
}

