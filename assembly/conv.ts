// 2-D convolution (PyTorch semantics: NCHW, weights [cOut, cIn/groups, kh, kw], stride, padding,
// dilation, groups): forward, input gradient and filter gradient, all on the blocked GEMM.
//
// Strategy (measurements in bench/RESULTS.md):
// - forward: implicit GEMM per (sample, group): Y_g[cOut/g, P] = W_g[cOut/g, K] · im2col(X_g)[K, P]
//   with K = cIn/g·kh·kw and P = outH·outW; the im2col panels are packed straight from a padded,
//   phase-split copy of the image (conv-pack.ts), so no K×P buffer ever exists. A 1×1 stride-1
//   unpadded convolution is thus a plain GEMM on the input, with no copy.
// - input gradient, stride 1 and ≥ 32 input channels per group: a forward convolution of dY with
//   the filter transposed over channels and flipped (padding d·(k−1) − p, possibly negative = a
//   crop): again no buffer and no scatter. Otherwise (fewer channels: that GEMM would have too
//   few rows; or stride > 1): dcol = W_gᵀ·dY_g in chunks of output rows, then col2im (add).
// - filter gradient: dW_g[cOut/g, K] = Σ_samples dY_g[cOut/g, P] · im2col(X_g)ᵀ[P, K], the im2col
//   panels packed transposed (4×4 register transposes) from the same prepared copy; or, when that
//   fills the 2×16 tiles better (few input channels: the first layer), transposed as
//   dW_gᵀ = im2col(X_g)·dY_gᵀ into scratch, then copied into dW's layout.
// Outer loops run over [start, end) ranges of (sample, group) pairs (groups for the filter
// gradient, which reduces over samples), and the *Split variants also over rows and columns of
// each GEMM (output channels / pixels; for the filter gradient its output channels or taps), so
// that the thread pool can split even one image of one group; every output element is produced
// by one range with a fixed summation order, so results are identical for any thread count.
import { MODE_ACC, MODE_BIAS, MODE_STORE, MR, NR } from './gemm-kernel';
import {
  A_CONV_FLIPPED, A_IM2COL, A_NORMAL, A_TRANS, B_IM2COL, B_IM2COL_T, B_NORMAL, B_TRANS, gemm, gemmScratchBytes,
} from './gemm-driver';
import { buildTapTable, preparePadded, setConvSource, setFlippedWeights } from './conv-pack';

// ---- parameters (16 i32 at `params`), read into module globals ----
let N: i32 = 0;
let C_IN: i32 = 0;
let H: i32 = 0;
let W: i32 = 0;
let C_OUT: i32 = 0;
let KH: i32 = 0;
let KW: i32 = 0;
let SH: i32 = 0;
let SW: i32 = 0;
let PH: i32 = 0;
let PW: i32 = 0;
let DH: i32 = 0;
let DW: i32 = 0;
let GROUPS: i32 = 0;
let OH: i32 = 0;
let OW: i32 = 0;

function readParams(p: usize): void {
  N = load<i32>(p);
  C_IN = load<i32>(p, 4);
  H = load<i32>(p, 8);
  W = load<i32>(p, 12);
  C_OUT = load<i32>(p, 16);
  KH = load<i32>(p, 20);
  KW = load<i32>(p, 24);
  SH = load<i32>(p, 28);
  SW = load<i32>(p, 32);
  PH = load<i32>(p, 36);
  PW = load<i32>(p, 40);
  DH = load<i32>(p, 44);
  DW = load<i32>(p, 48);
  GROUPS = load<i32>(p, 52);
  OH = load<i32>(p, 56);
  OW = load<i32>(p, 60);
}

/** Output-row chunk of the col2im path: at most this many floats of dcol at once (1 MB). */
const COL_CHUNK_FLOATS: i32 = 1 << 18;

/**
 * Path of the stride-1 input gradient: 0 chooses (see useTransposedConv), 1 forces GEMM + col2im,
 * 2 forces the transposed convolution. For tests and tuning; stride > 1 always takes col2im.
 */
let gradInputPath: i32 = 0;
export function conv2dSetGradInputPath(path: i32): void {
  gradInputPath = path;
}

/** Orientation of the filter gradient: 0 chooses (gradFilterTransposed), 1 dW = dY·im2colᵀ, 2 transposed. */
let gradFilterPath: i32 = 0;
export function conv2dSetGradFilterPath(path: i32): void {
  gradFilterPath = path;
}

/**
 * Below this many input channels per group the transposed convolution's GEMM has too few rows
 * (M = cIn/groups) to amortise packing its B panels (im2col of dY), while GEMM + col2im
 * (M = cIn/groups·kh·kw) keeps the tiles full. Measured (bench/tune/tune.ts gradinput, GFLOP/s
 * transposed vs col2im): 3→32 19 vs 34, 8→64 32 vs 38, 16→64 38 vs 42, 32→64 41 vs 40,
 * 64→128 43 vs 42; at 32 channels and up they tie and the transposed path needs no dcol buffer.
 */
const TRANSPOSED_MIN_CHANNELS: i32 = 32;

// @ts-ignore: decorator
@inline
function align64(x: usize): usize {
  return (x + 63) & ~(<usize>63);
}

// ---- geometry of the implicit GEMM's prepared input ----
// Forward and filter gradient read X; the stride-1 input gradient reads dY (see the top).
let prepNeeded: bool = false;
let prepHq: i32 = 0;
let prepWq: i32 = 0;

function forwardGeometry(): void {
  prepNeeded = !(SH == 1 && SW == 1 && PH == 0 && PW == 0);
  // Rows/columns of each phase plane that any output pixel reads.
  prepHq = prepNeeded ? OH + (KH - 1) * DH / SH : H;
  prepWq = prepNeeded ? OW + (KW - 1) * DW / SW : W;
}

function transposedGeometry(): void {
  const pT = DH * (KH - 1) - PH;
  const pL = DW * (KW - 1) - PW;
  prepNeeded = !(pT == 0 && pL == 0);
  prepHq = prepNeeded ? H + (KH - 1) * DH : OH;
  prepWq = prepNeeded ? W + (KW - 1) * DW : OW;
}

function useTransposedConv(): bool {
  if (SH != 1 || SW != 1 || gradInputPath == 1) return false;
  return gradInputPath == 2 || C_IN / GROUPS >= TRANSPOSED_MIN_CHANNELS;
}

/** Scratch of the implicit-GEMM paths: [tap table][16 column offsets][prepared input][GEMM]. */
function implicitScratch(channels: i32, sH: i32, sW: i32, gm: i32, gn: i32, gk: i32): usize {
  const taps = channels * KH * KW;
  const prep = prepNeeded ? <usize>channels * sH * sW * prepHq * prepWq * 4 : 0;
  return 64 + align64(<usize>taps * 4) + 64 + align64(prep) + gemmScratchBytes(gm, gn, gk);
}

// @ts-ignore: decorator
@inline
function col2imRows(): i32 {
  const k = (C_IN / GROUPS) * KH * KW;
  return min(OH, max(1, COL_CHUNK_FLOATS / (k * OW)));
}

/** Bytes of scratch for kind 0 (forward), 1 (input gradient) or 2 (filter gradient). */
export function conv2dScratchBytes(kind: i32, params: usize): usize {
  readParams(params);
  const cg = C_IN / GROUPS;
  const cog = C_OUT / GROUPS;
  const taps = KH * KW;
  const p = OH * OW;
  if (kind == 0) {
    forwardGeometry();
    return implicitScratch(cg, SH, SW, cog, p, cg * taps);
  }
  if (kind == 1) {
    if (useTransposedConv()) {
      transposedGeometry();
      return implicitScratch(cog, 1, 1, cg, H * W, cog * taps);
    }
    const rows = col2imRows();
    const k = cg * taps;
    return 64 + align64(<usize>k * rows * OW * 4) + gemmScratchBytes(k, rows * OW, cog);
  }
  forwardGeometry();
  if (gradFilterTransposed()) {
    return align64(<usize>cg * taps * cog * 4) + implicitScratch(cg, SH, SW, cg * taps, cog, p);
  }
  return implicitScratch(cg, SH, SW, cog, cg * taps, p);
}

/** Lays out the implicit-GEMM scratch and points the packers at a prepared (or raw) source. */
function implicitSource(scratch: usize, channels: i32, src: usize, srcH: i32, srcW: i32, padT: i32, padL: i32,
  sH: i32, sW: i32, outW: i32): usize {
  const tab = align64(scratch);
  const colOff = tab + align64(<usize>channels * KH * KW * 4);
  const prep = colOff + 64;
  const prepBytes = prepNeeded ? <usize>channels * sH * sW * prepHq * prepWq * 4 : 0;
  if (prepNeeded) preparePadded(prep, src, channels, srcH, srcW, padT, padL, sH, sW, prepHq, prepWq);
  setConvSource(prepNeeded ? prep : src, prepWq, outW, tab, colOff);
  return prep + align64(prepBytes);
}

function tapTable(scratch: usize, channels: i32, sH: i32, sW: i32): void {
  buildTapTable(align64(scratch), channels, KH, KW, DH, DW, sH, sW, prepHq, prepWq);
}

// ---- forward ----

export function conv2dForward(x: usize, w: usize, bias: usize, y: usize, params: usize, scratch: usize): void {
  readParams(params);
  conv2dForwardRange(x, w, bias, y, params, scratch, 0, N * GROUPS);
}

/** Forward restricted to (sample, group) pairs [start, end), pair = sample·groups + group. */
export function conv2dForwardRange(
  x: usize, w: usize, bias: usize, y: usize, params: usize, scratch: usize, start: i32, end: i32,
): void {
  conv2dForwardSplit(x, w, bias, y, params, scratch, start, end, 0, I32.MAX_VALUE, 0, I32.MAX_VALUE);
}

/**
 * Forward restricted to the pairs [start, end) and, within each pair's GEMM Y_g[cOut/g, P], to
 * the output channels [iStart, iEnd) and pixels [jStart, jEnd) (clipped): the thread pool's split.
 * Any split gives bit-identical outputs (each element sums over K in one fixed order).
 */
export function conv2dForwardSplit(
  x: usize, w: usize, bias: usize, y: usize, params: usize, scratch: usize, start: i32, end: i32,
  iStart: i32, iEnd: i32, jStart: i32, jEnd: i32,
): void {
  readParams(params);
  forwardGeometry();
  const cg = C_IN / GROUPS;
  const cog = C_OUT / GROUPS;
  const k = cg * KH * KW;
  const p = OH * OW;
  const i0 = max(iStart, 0);
  const i1 = min(iEnd, cog);
  const j0 = max(jStart, 0);
  const j1 = min(jEnd, p);
  if (i1 <= i0 || j1 <= j0) return;
  tapTable(scratch, cg, SH, SW);
  for (let idx = start; idx < end; idx++) {
    const img = idx / GROUPS;
    const g = idx - img * GROUPS;
    const src = x + (<usize>(img * C_IN + g * cg) * H * W << 2);
    const gemmScratch = implicitSource(scratch, cg, src, H, W, PH, PW, SH, SW, OW);
    const yg = y + (<usize>(img * C_OUT + g * cog) * p << 2);
    gemm(cog, p, k, A_NORMAL, w + (<usize>g * cog * k << 2), k, B_IM2COL, 0, 0,
      yg, p, bias != 0 ? MODE_BIAS : MODE_STORE, bias + (<usize>g * cog << 2), gemmScratch, i0, i1, j0, j1);
  }
}

// ---- input gradient ----

export function conv2dGradInput(dy: usize, w: usize, dx: usize, params: usize, scratch: usize): void {
  readParams(params);
  conv2dGradInputRange(dy, w, dx, params, scratch, 0, N * GROUPS);
}

/** Input gradient restricted to (sample, group) pairs [start, end). */
export function conv2dGradInputRange(
  dy: usize, w: usize, dx: usize, params: usize, scratch: usize, start: i32, end: i32,
): void {
  conv2dGradInputSplit(dy, w, dx, params, scratch, start, end, 0, I32.MAX_VALUE, 0, I32.MAX_VALUE);
}

/** 1 when the input gradient takes the transposed convolution (else GEMM + col2im). */
export function conv2dGradInputTransposed(params: usize): i32 {
  readParams(params);
  return useTransposedConv() ? 1 : 0;
}

/**
 * Input gradient restricted to the pairs [start, end) and to the input channels [iStart, iEnd)
 * (of the group); on the transposed-convolution path also to the input pixels [jStart, jEnd)
 * (the col2im path always covers every pixel of its channels: its scatter overlaps pixels).
 * Each dx element is written by one range with the serial summation order (bit-identical).
 */
export function conv2dGradInputSplit(
  dy: usize, w: usize, dx: usize, params: usize, scratch: usize, start: i32, end: i32,
  iStart: i32, iEnd: i32, jStart: i32, jEnd: i32,
): void {
  readParams(params);
  const cg = C_IN / GROUPS;
  const cog = C_OUT / GROUPS;
  const taps = KH * KW;
  const p = OH * OW;
  const hw = H * W;
  const c0 = max(iStart, 0);
  const c1 = min(iEnd, cg);
  if (c1 <= c0) return;
  if (useTransposedConv()) {
    const j0 = max(jStart, 0);
    const j1 = min(jEnd, hw);
    if (j1 <= j0) return;
    transposedGeometry();
    tapTable(scratch, cog, 1, 1);
    for (let idx = start; idx < end; idx++) {
      const img = idx / GROUPS;
      const g = idx - img * GROUPS;
      const src = dy + (<usize>(img * C_OUT + g * cog) * p << 2);
      const gemmScratch = implicitSource(scratch, cog, src, OH, OW, DH * (KH - 1) - PH, DW * (KW - 1) - PW, 1, 1, W);
      setFlippedWeights(w + (<usize>g * cog * cg * taps << 2), cg, taps);
      gemm(cg, hw, cog * taps, A_CONV_FLIPPED, 0, 0, B_IM2COL, 0, 0,
        dx + (<usize>(img * C_IN + g * cg) * hw << 2), hw, MODE_STORE, 0, gemmScratch, c0, c1, j0, j1);
    }
    return;
  }
  // GEMM + col2im, a chunk of output rows at a time, for the channels [c0, c1): dcol's rows are
  // (channel, ky, kx), so those channels are the rows [c0·taps, c1·taps) of Wᵀ.
  const k = cg * taps;
  const kk = (c1 - c0) * taps;
  const rows = col2imRows();
  const dcol = align64(scratch);
  const gemmScratch = dcol + align64(<usize>k * rows * OW * 4);
  for (let idx = start; idx < end; idx++) {
    const img = idx / GROUPS;
    const g = idx - img * GROUPS;
    const dyg = dy + (<usize>(img * C_OUT + g * cog) * p << 2);
    const dxg = dx + (<usize>(img * C_IN + g * cg + c0) * hw << 2);
    memory.fill(dxg, 0, <usize>(c1 - c0) * hw * 4);
    for (let oy0 = 0; oy0 < OH; oy0 += rows) {
      const r = min(rows, OH - oy0);
      const cols = r * OW;
      gemm(kk, cols, cog, A_TRANS, w + (<usize>(g * cog * k + c0 * taps) << 2), k, B_NORMAL, dyg + (<usize>oy0 * OW << 2), p,
        dcol, cols, MODE_STORE, 0, gemmScratch, 0, kk, 0, cols);
      col2imAdd(dcol, dxg, c1 - c0, oy0, r);
    }
  }
}

/** dx[c, iy, ix] += dcol[(c, ky, kx), (oy − oy0)·outW + ox] for the rows [oy0, oy0 + rows). */
function col2imAdd(dcol: usize, dx: usize, cg: i32, oy0: i32, rows: i32): void {
  const cols = rows * OW;
  let row = dcol;
  for (let c = 0; c < cg; c++) {
    const dxc = dx + (<usize>c * H * W << 2);
    for (let ky = 0; ky < KH; ky++) {
      for (let kx = 0; kx < KW; kx++) {
        // Output columns whose input column ix = ox·sW − pW + kx·dW falls inside [0, W).
        const lo = PW - kx * DW;
        const hi = W - 1 + PW - kx * DW;
        const ox0 = lo <= 0 ? 0 : (lo + SW - 1) / SW;
        const ox1 = hi < 0 ? 0 : min(OW, hi / SW + 1);
        for (let r = 0; r < rows; r++) {
          const iy = (oy0 + r) * SH - PH + ky * DH;
          if (iy < 0 || iy >= H) continue;
          const dst = dxc + (<usize>iy * W << 2);
          const src = row + (<usize>r * OW << 2);
          let ox = ox0;
          if (SW == 1) {
            // Unit stride: source and destination runs are both contiguous.
            const shift = dst + (<usize>(kx * DW - PW) << 2);
            for (; ox + 4 <= ox1; ox += 4) {
              const at = shift + (<usize>ox << 2);
              v128.store(at, f32x4.add(v128.load(at), v128.load(src + (<usize>ox << 2))));
            }
          }
          for (; ox < ox1; ox++) {
            const at = dst + (<usize>(ox * SW - PW + kx * DW) << 2);
            store<f32>(at, load<f32>(at) + load<f32>(src + (<usize>ox << 2)));
          }
        }
        row += <usize>cols << 2;
      }
    }
  }
}

// ---- filter gradient ----

export function conv2dGradFilter(x: usize, dy: usize, dw: usize, params: usize, scratch: usize): void {
  readParams(params);
  conv2dGradFilterRange(x, dy, dw, params, scratch, 0, GROUPS);
}

// @ts-ignore: decorator
@inline
function roundUp(x: i32, to: i32): i64 {
  return <i64>((x + to - 1) / to * to);
}

/**
 * Whether the filter gradient is better computed transposed, dW_gᵀ[K, cOut/g] = im2col·dY_gᵀ:
 * when that fills more of the 2×16 tiles. The first layer is the case: 3 (or 1) input channels
 * give K = 27 (9) taps, which as the N of dW = dY·im2colᵀ leaves 5 (7) of 16 columns empty.
 */
function gradFilterTransposed(): bool {
  if (gradFilterPath != 0) return gradFilterPath == 2;
  const cog = C_OUT / GROUPS;
  const k = (C_IN / GROUPS) * KH * KW;
  // The thread pool splits a product's rows (or columns) only in parts of at least 16 rows (64
  // columns), never its sum: when one orientation has rows enough for two parts and the other has
  // not (a first layer: k = 27, cog = 32), take the one that splits. A rule of the shape alone,
  // so every thread count computes the same product.
  const splitsT = k >= 32;
  const splitsN = cog >= 32;
  if (splitsT != splitsN) return splitsT;
  // Both products have the same useful work k·cog; compare the padded tile areas.
  return roundUp(k, MR) * roundUp(cog, NR) < roundUp(cog, MR) * roundUp(k, NR);
}

/** Filter gradient restricted to groups [start, end) (each reduces over all samples in order). */
export function conv2dGradFilterRange(
  x: usize, dy: usize, dw: usize, params: usize, scratch: usize, start: i32, end: i32,
): void {
  conv2dGradFilterSplit(x, dy, dw, params, scratch, start, end, 0, I32.MAX_VALUE, 0, I32.MAX_VALUE);
}

/** 1 when the filter gradient is computed transposed (dW_gᵀ[K, cOut/g] = im2col·dY_gᵀ). */
export function conv2dGradFilterIsTransposed(params: usize): i32 {
  readParams(params);
  return gradFilterTransposed() ? 1 : 0;
}

/**
 * Filter gradient restricted to groups [start, end) and to the rows [iStart, iEnd) and columns
 * [jStart, jEnd) of the product it computes: dW_g[cOut/g, K] (rows = output channels), or
 * dW_gᵀ[K, cOut/g] when transposed (rows = taps). Every element still sums over the samples in
 * order and over the pixels in the GEMM's fixed K order, so any split is bit-identical.
 */
export function conv2dGradFilterSplit(
  x: usize, dy: usize, dw: usize, params: usize, scratch: usize, start: i32, end: i32,
  iStart: i32, iEnd: i32, jStart: i32, jEnd: i32,
): void {
  readParams(params);
  forwardGeometry();
  const cg = C_IN / GROUPS;
  const cog = C_OUT / GROUPS;
  const k = cg * KH * KW;
  const p = OH * OW;
  const transposed = gradFilterTransposed();
  const rowsAll = transposed ? k : cog;
  const colsAll = transposed ? cog : k;
  const i0 = max(iStart, 0);
  const i1 = min(iEnd, rowsAll);
  const j0 = max(jStart, 0);
  const j1 = min(jEnd, colsAll);
  if (i1 <= i0 || j1 <= j0) return;
  // The transposed product accumulates into dwT [k, cog], copied into dW's layout per group.
  const dwT = align64(scratch);
  const implicit = transposed ? dwT + align64(<usize>k * cog * 4) : scratch;
  tapTable(implicit, cg, SH, SW);
  for (let g = start; g < end; g++) {
    const dwg = dw + (<usize>g * cog * k << 2);
    if (N == 0) {
      // dW = 0: the block [i0, i1) × [j0, j1) of dW_g (or of its transpose).
      for (let i = i0; i < i1; i++) {
        for (let j = j0; j < j1; j++) {
          const at = transposed ? j * k + i : i * k + j;
          store<f32>(dwg + (<usize>at << 2), 0);
        }
      }
      continue;
    }
    for (let img = 0; img < N; img++) {
      const src = x + (<usize>(img * C_IN + g * cg) * H * W << 2);
      const gemmScratch = implicitSource(implicit, cg, src, H, W, PH, PW, SH, SW, OW);
      const dyg = dy + (<usize>(img * C_OUT + g * cog) * p << 2);
      const mode = img == 0 ? MODE_STORE : MODE_ACC;
      if (transposed) {
        gemm(k, cog, p, A_IM2COL, 0, 0, B_TRANS, dyg, p, dwT, cog, mode, 0, gemmScratch, i0, i1, j0, j1);
      } else {
        gemm(cog, k, p, A_NORMAL, dyg, p, B_IM2COL_T, 0, 0, dwg, k, mode, 0, gemmScratch, i0, i1, j0, j1);
      }
    }
    if (transposed) {
      for (let o = j0; o < j1; o++) {
        for (let t = i0; t < i1; t++) {
          store<f32>(dwg + (<usize>(o * k + t) << 2), load<f32>(dwT + (<usize>(t * cog + o) << 2)));
        }
      }
    }
  }
}
