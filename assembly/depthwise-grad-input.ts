// Depthwise convolution, input gradient:
//   dx[n, c, iy, ix] = Σ_{m, ky, kx} w[c·M + m, ky, kx] · dy[n, c·M + m, oy, ox]
// over the taps with iy = oy·sh − ph + ky·dh and ix = ox·sw − pw + kx·dw.
//
// At stride 1 with multiplier 1 (MobileNet's stride-1 layers) that is a forward convolution of dy
// with the flipped filter (transposeParams), run by the forward's own loops: on 480×20², 14
// GFLOP/s against the gather's 7.5 (fewer loop levels and no row interleave per output vector).
//
// Otherwise, a gather. Rows: for each iy the (m, ky) pairs that reach it are listed once.
// Columns: dx is computed per column phase q
// (ix = q + sw·j): tap kx reaches phase q only if sw divides q + pw − kx·dw, and then
// ox = (q + pw − kx·dw)/sw + j, consecutive in j, so 4 neighbouring j of a phase are one v128
// load of dy, at any stride. Each dy row is copied with zero columns on both sides, so every
// read is in range; the phase rows are interleaved into dx at the end of each row.
import { forwardBand } from './depthwise-forward';
import {
  BAND, C, CO, DH, DW, H, KH, KW, M, OH, OW, PH, PW, SH, SW, TAPS, W, align64, at, buildInputTaps, clearPrepared,
  copyFloats, inputGeometry, prepareBand, preparedBytes, readParams, roundUp, transposeParams,
} from './depthwise-plane';

/** Whether the parameters allow the forward path (see the top); after readParams. */
function asForward(): bool {
  return SH == 1 && SW == 1 && M == 1 && PH <= DH * (KH - 1) && PW <= DW * (KW - 1);
}

/** Zero columns left of each padded dy row. */
let DL: i32 = 0;
/** Floats per padded dy row. */
let DWD: i32 = 0;
/** Floats per phase row of the dx row scratch (phase 0 is the longest). */
let DJ: i32 = 0;

/** Bytes per phase entry of the tap table: count, then (kx·4, byte offset of j = 0) pairs. */
// @ts-ignore: decorator
@inline function phaseTableBytes(): usize {
  return <usize>(1 + 2 * KW) << 2;
}

/** Phase q's share of the dx row: ⌈(w − q)/sw⌉ pixels. */
// @ts-ignore: decorator
@inline function phaseLength(q: i32): i32 {
  return W > q ? (W - q + SW - 1) / SW : 0;
}

/**
 * Sets DL, DWD, DJ and, when tab ≠ 0, writes the per-phase tap tables there. Returns the scratch
 * bytes: [tap tables][(m, ky) row list][padded dy planes, M × OH × DWD][dx row, SW × DJ].
 */
function gradInputGeometry(tab: usize): usize {
  let minBase = 0;
  let maxEnd = OW;
  for (let pass = 0; pass < 2; pass++) {
    for (let q = 0; q < SW; q++) {
      // Phase rows are computed in whole vectors.
      const len = roundUp(phaseLength(q), 4);
      const e = tab + <usize>q * phaseTableBytes();
      let count = 0;
      for (let kx = 0; kx < KW; kx++) {
        const r = q + PW - kx * DW;
        if (r % SW != 0) continue;
        const base = r / SW;
        if (pass == 0) {
          minBase = min(minBase, base);
          maxEnd = max(maxEnd, base + len);
        } else if (tab != 0) {
          store<i32>(at(e, 1 + 2 * count), kx << 2);
          store<i32>(at(e, 2 + 2 * count), (DL + base) << 2);
        }
        count++;
      }
      if (pass == 1 && tab != 0) store<i32>(e, count);
    }
    if (pass == 0) {
      DL = -minBase;
      DWD = DL + maxEnd;
      DJ = roundUp(phaseLength(0), 4);
    }
  }
  return align64(<usize>SW * phaseTableBytes()) + align64(<usize>M * KH << 3) + align64(<usize>M * OH * DWD << 2) +
    (<usize>SW * DJ << 2);
}

/** Scratch bytes of depthwiseGradInput; after readParams (which it may change). */
export function gradInputScratchBytes(): usize {
  if (!asForward()) return gradInputGeometry(0);
  transposeParams();
  inputGeometry();
  // [tap table][flipped filter][prepared dy plane]
  return 2 * align64(<usize>TAPS << 2) + preparedBytes();
}

/** The forward path: planes [start, end) of dy (n·C of them, as M = 1) into dx. */
function gradInputAsForward(dy: usize, w: usize, dx: usize, scratch: usize, start: i32, end: i32): void {
  transposeParams();
  inputGeometry();
  const tab = scratch;
  buildInputTaps(tab);
  const flipped = tab + align64(<usize>TAPS << 2);
  const prep = flipped + align64(<usize>TAPS << 2);
  clearPrepared(prep);
  for (let plane = start; plane < end; plane++) {
    const c = plane % C;
    for (let t = 0; t < TAPS; t++) store<f32>(at(flipped, t), load<f32>(at(w, c * TAPS + TAPS - 1 - t)));
    // After transposeParams, H × W is dy's plane and OH × OW is dx's.
    for (let oy0 = 0; oy0 < OH; oy0 += BAND) {
      prepareBand(at(dy, plane * H * W), prep, oy0);
      forwardBand(prep, tab, flipped, 0, at(dx, plane * OH * OW), oy0);
    }
  }
}

/**
 * nv vectors of one phase row of dx from j: Σ over the listed (dy row, w row) pairs and the
 * phase's taps (qtab). nv is a constant at every call site. The row scratch has room for whole
 * vectors, so all nv are stored.
 */
// @ts-ignore: decorator
@inline function gradInputBlock(nv: i32, rows: usize, nrows: i32, qtab: usize, j: i32, out: usize): void {
  const z = f32x4.splat(0);
  let a0 = z, a1 = z, a2 = z, a3 = z, a4 = z, a5 = z, a6 = z, a7 = z;
  const nt = load<i32>(qtab);
  for (let r = 0; r < nrows; r++) {
    const d = at(<usize>load<u32>(rows + (<usize>r << 3)), j);
    const wr = <usize>load<u32>(rows + (<usize>r << 3), 4);
    for (let t = 0; t < nt; t++) {
      const e = qtab + (<usize>t << 3);
      const wv = v128.load32_splat(wr + <usize>load<i32>(e, 4));
      const s = d + <usize>load<i32>(e, 8);
      a0 = f32x4.add(a0, f32x4.mul(wv, v128.load(s)));
      if (nv > 1) a1 = f32x4.add(a1, f32x4.mul(wv, v128.load(s, 16)));
      if (nv > 2) a2 = f32x4.add(a2, f32x4.mul(wv, v128.load(s, 32)));
      if (nv > 3) a3 = f32x4.add(a3, f32x4.mul(wv, v128.load(s, 48)));
      if (nv > 4) a4 = f32x4.add(a4, f32x4.mul(wv, v128.load(s, 64)));
      if (nv > 5) a5 = f32x4.add(a5, f32x4.mul(wv, v128.load(s, 80)));
      if (nv > 6) a6 = f32x4.add(a6, f32x4.mul(wv, v128.load(s, 96)));
      if (nv > 7) a7 = f32x4.add(a7, f32x4.mul(wv, v128.load(s, 112)));
    }
  }
  const o = at(out, j);
  v128.store(o, a0);
  if (nv > 1) v128.store(o, a1, 16);
  if (nv > 2) v128.store(o, a2, 32);
  if (nv > 3) v128.store(o, a3, 48);
  if (nv > 4) v128.store(o, a4, 64);
  if (nv > 5) v128.store(o, a5, 80);
  if (nv > 6) v128.store(o, a6, 96);
  if (nv > 7) v128.store(o, a7, 112);
}

/** One phase row of dx (len pixels) into out: blocks of 32, then the rest in as few vectors as it needs. */
function gradInputPhase(rows: usize, nrows: i32, qtab: usize, len: i32, out: usize): void {
  let j = 0;
  for (; j + 32 <= len; j += 32) gradInputBlock(8, rows, nrows, qtab, j, out);
  switch ((len - j + 3) >> 2) {
    case 8: gradInputBlock(8, rows, nrows, qtab, j, out); break;
    case 7: gradInputBlock(7, rows, nrows, qtab, j, out); break;
    case 6: gradInputBlock(6, rows, nrows, qtab, j, out); break;
    case 5: gradInputBlock(5, rows, nrows, qtab, j, out); break;
    case 4: gradInputBlock(4, rows, nrows, qtab, j, out); break;
    case 3: gradInputBlock(3, rows, nrows, qtab, j, out); break;
    case 2: gradInputBlock(2, rows, nrows, qtab, j, out); break;
    case 1: gradInputBlock(1, rows, nrows, qtab, j, out); break;
    default: break;
  }
}

/** dx row = the SW phase rows at rowScr interleaved (dx[q + sw·j] = phase q's [j]). */
function interleaveRow(rowScr: usize, dxr: usize): void {
  if (SW == 1) {
    copyFloats(dxr, rowScr, W);
    return;
  }
  let ix = 0;
  if (SW == 2) {
    const r1 = at(rowScr, DJ);
    for (; ix + 8 <= W; ix += 8) {
      const e = v128.load(at(rowScr, ix >> 1));
      const o = v128.load(at(r1, ix >> 1));
      v128.store(at(dxr, ix), i32x4.shuffle(e, o, 0, 4, 1, 5));
      v128.store(at(dxr, ix), i32x4.shuffle(e, o, 2, 6, 3, 7), 16);
    }
  }
  let q = ix % SW;
  let j = ix / SW;
  for (; ix < W; ix++) {
    store<f32>(at(dxr, ix), load<f32>(at(rowScr, q * DJ + j)));
    if (++q == SW) {
      q = 0;
      j++;
    }
  }
}

/** dx[n, c] = Σ_m corrᵀ(dy[n, c·M + m], w[c·M + m]) for input planes [start, end). */
export function depthwiseGradInput(dy: usize, w: usize, dx: usize, params: usize, scratch: usize, start: i32, end: i32): void {
  readParams(params);
  if (asForward()) {
    gradInputAsForward(dy, w, dx, scratch, start, end);
    return;
  }
  const tab = scratch;
  gradInputGeometry(tab);
  const rows = tab + align64(<usize>SW * phaseTableBytes());
  const dyPad = rows + align64(<usize>M * KH << 3);
  const rowScr = dyPad + align64(<usize>M * OH * DWD << 2);
  // The zero columns beside each dy row are the same for every plane: cleared once.
  memory.fill(dyPad, 0, <usize>M * OH * DWD << 2);
  const outPlane = OH * OW;
  for (let plane = start; plane < end; plane++) {
    const n = plane / C;
    const c = plane - n * C;
    for (let m = 0; m < M; m++) {
      const src = at(dy, (n * CO + c * M + m) * outPlane);
      for (let oy = 0; oy < OH; oy++) copyFloats(at(dyPad, (m * OH + oy) * DWD + DL), at(src, oy * OW), OW);
    }
    const dxp = at(dx, plane * H * W);
    for (let iy = 0; iy < H; iy++) {
      // The (dy row, w row) pairs that reach row iy: oy = (iy + ph − ky·dh)/sh where that divides.
      let nrows = 0;
      for (let m = 0; m < M; m++) {
        for (let ky = 0; ky < KH; ky++) {
          const t = iy + PH - ky * DH;
          if (t < 0) break;
          const oy = SH == 1 ? t : t / SH;
          if (oy >= OH || oy * SH != t) continue;
          const e = rows + (<usize>nrows << 3);
          store<u32>(e, <u32>at(dyPad, (m * OH + oy) * DWD));
          store<u32>(e, <u32>at(w, ((c * M + m) * KH + ky) * KW), 4);
          nrows++;
        }
      }
      for (let q = 0; q < SW; q++) {
        gradInputPhase(rows, nrows, tab + <usize>q * phaseTableBytes(), phaseLength(q), at(rowScr, q * DJ));
      }
      interleaveRow(rowScr, at(dxp, iy * W));
    }
  }
}
