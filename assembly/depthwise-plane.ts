// What the depthwise kernels (depthwise.ts, depthwise-grad-input.ts, depthwise-grad-filter.ts)
// share: the parameters, small vector helpers, and the padded, phase-split copy of an input plane
// that the forward and the filter gradient read. Private to the module (index.ts does not
// re-export this file).
//
// The copy: the plane with its zero padding, split by column phase (phase q holds the padded
// columns q, q + sw, q + 2sw, …), so that the tap (ky, kx) of 4 neighbouring outputs is 4
// consecutive floats at any stride and dilation: the inner loops need no bounds checks and no
// shuffles. It costs O(h·w) against the O(outH·outW·kh·kw) multiply-adds it serves.

// ---- parameters: the 16 i32 of conv2d (n cIn h w cOut kh kw sh sw ph pw dh dw groups outH outW) ----
export let N: i32 = 0;
export let C: i32 = 0;
export let H: i32 = 0;
export let W: i32 = 0;
export let CO: i32 = 0;
export let KH: i32 = 0;
export let KW: i32 = 0;
export let SH: i32 = 0;
export let SW: i32 = 0;
export let PH: i32 = 0;
export let PW: i32 = 0;
export let DH: i32 = 0;
export let DW: i32 = 0;
export let OH: i32 = 0;
export let OW: i32 = 0;
/** Channel multiplier cOut / cIn. */
export let M: i32 = 0;
export let TAPS: i32 = 0;

export function readParams(p: usize): void {
  N = load<i32>(p);
  C = load<i32>(p, 4);
  H = load<i32>(p, 8);
  W = load<i32>(p, 12);
  CO = load<i32>(p, 16);
  KH = load<i32>(p, 20);
  KW = load<i32>(p, 24);
  SH = load<i32>(p, 28);
  SW = load<i32>(p, 32);
  PH = load<i32>(p, 36);
  PW = load<i32>(p, 40);
  DH = load<i32>(p, 44);
  DW = load<i32>(p, 48);
  OH = load<i32>(p, 56);
  OW = load<i32>(p, 60);
  M = CO / C;
  TAPS = KH * KW;
}

/**
 * Turns the parameters into those of the stride-1 input gradient seen as a forward convolution:
 * dy (outH × outW) padded by d·(k − 1) − p and correlated with the flipped filter gives dx (h × w).
 * Only for stride 1 and p ≤ d·(k − 1) (the padding must stay ≥ 0).
 */
export function transposeParams(): void {
  const h = H;
  const w = W;
  H = OH;
  W = OW;
  OH = h;
  OW = w;
  PH = DH * (KH - 1) - PH;
  PW = DW * (KW - 1) - PW;
}

// ---- helpers ----

// @ts-ignore: decorator
@inline export function roundUp(x: i32, m: i32): i32 {
  return (x + m - 1) / m * m;
}

// @ts-ignore: decorator
@inline export function align64(x: usize): usize {
  return (x + 63) & ~(<usize>63);
}

/** Address of float (or i32) i from base. */
// @ts-ignore: decorator
@inline export function at(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}

/** Stores the first `count` lanes of v at p (all four when count ≥ 4). */
// @ts-ignore: decorator
@inline export function storeLanes(p: usize, v: v128, count: i32): void {
  if (count >= 4) {
    v128.store(p, v);
    return;
  }
  if (count > 0) store<f32>(p, f32x4.extract_lane(v, 0));
  if (count > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (count > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/** Lanes 0 … count−1 of src (1 ≤ count < 4) with zeros above, reading nothing past them. */
// @ts-ignore: decorator
@inline export function loadLanes(src: usize, count: i32): v128 {
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, load<f32>(src));
  if (count > 1) v = f32x4.replace_lane(v, 1, load<f32>(src, 4));
  if (count > 2) v = f32x4.replace_lane(v, 2, load<f32>(src, 8));
  return v;
}

/** Horizontal sum in a fixed order. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/**
 * Copies count floats, v128 at a time (unaligned, not overlapping); a last partial vector is
 * copied as the count's last 4 floats, overlapping the previous one. memory.copy and memory.fill
 * are calls out of the compiled code, slow for rows this short.
 */
export function copyFloats(dst: usize, src: usize, count: i32): void {
  let i = 0;
  for (; i + 4 <= count; i += 4) v128.store(at(dst, i), v128.load(at(src, i)));
  if (i == count) return;
  if (count >= 4) {
    v128.store(at(dst, count - 4), v128.load(at(src, count - 4)));
    return;
  }
  for (; i < count; i++) store<f32>(at(dst, i), load<f32>(at(src, i)));
}

// ---- the prepared input plane, a band of rows at a time ----

/**
 * Output rows per band. A plane is prepared and consumed one band of rows at a time, so that the
 * prepared rows are still in the L1 cache when the taps read them (kh·kw times over), and so that
 * reading the input (from L3 or memory: a whole layer rarely fits L2) alternates with arithmetic
 * in short turns. Against 64 KiB bands, 12 KiB ones measured +5–8 % forward and +16–19 % filter
 * gradient on MobileNetV3's 64×160² stride-2 layer, the smaller layers within the ±5 % noise.
 */
export let BAND: i32 = 0;
/** Padded rows of one band. */
export let HP: i32 = 0;
/**
 * Floats per phase row (a multiple of 4): whole vectors of outputs from any column below outW
 * (the filter gradient's masked steps start anywhere) plus the widest tap shift, and room for
 * every input column (input column ix lands in phase (ix + pw) mod sw at j = ⌊(ix + pw) / sw⌋), so
 * that rows are copied whole, in vectors, even where the outputs do not read their last columns.
 */
export let WQ: i32 = 0;
/** Bytes of one phase plane of a band (HP × WQ floats). */
export let PHASE_BYTES: usize = 0;

/** What a band's prepared rows may take: well inside a 32 KiB L1 data cache. */
const BAND_BYTES: i32 = 12 << 10;

/** Sets the geometry of the prepared plane; after readParams. */
export function inputGeometry(): void {
  WQ = roundUp(max(roundUp(OW + 3, 4) + (KW - 1) * DW / SW, (W - 1 + PW) / SW + 1), 4);
  BAND = min(OH, max(1, BAND_BYTES / (SW * WQ * SH * 4)));
  HP = (BAND - 1) * SH + (KH - 1) * DH + 1;
  PHASE_BYTES = <usize>HP * WQ << 2;
}

/** Bytes of the prepared band. */
export function preparedBytes(): usize {
  return <usize>SW * PHASE_BYTES;
}

/**
 * Clears the prepared band. Only the input's pixels are written per band (prepareBand): the zero
 * columns beside them are at the same places in every band, so a call clears once.
 */
export function clearPrepared(dst: usize): void {
  memory.fill(dst, 0, preparedBytes());
}

/** Input row src into padded row `dst` of phase 0 (phase q at dst + q·PHASE_BYTES). */
function prepareRow(src: usize, dst: usize): void {
  if (SW == 1) {
    copyFloats(at(dst, PW), src, W);
    return;
  }
  if (SW == 2) {
    // Columns with ix + pw even go to phase 0, odd ones to phase 1, both at j = (ix + pw) >> 1:
    // one pair of loads feeds both phases. The steps start where ix + pw is even; the last one
    // ends at the row's end or one before it (rewriting some columns with the same values).
    const d1 = dst + PHASE_BYTES;
    const odd = PW & 1;
    let ix = 0;
    if (W >= 9) {
      if (odd != 0) store<f32>(at(d1, PW >> 1), load<f32>(src));
      for (ix = odd; ix + 8 <= W; ix += 8) prepareStep2(src, dst, d1, ix);
      if (ix < W) {
        ix = W - 8 - ((W - 8 - odd) & 1);
        prepareStep2(src, dst, d1, ix);
        ix += 8;
      }
    }
    for (; ix < W; ix++) store<f32>(at((ix + PW) & 1 ? d1 : dst, (ix + PW) >> 1), load<f32>(at(src, ix)));
    return;
  }
  let q = PW % SW;
  let j = PW / SW;
  for (let ix = 0; ix < W; ix++) {
    store<f32>(at(dst + <usize>q * PHASE_BYTES, j), load<f32>(at(src, ix)));
    if (++q == SW) {
      q = 0;
      j++;
    }
  }
}

/** Stride 2: input columns ix … ix + 7 (ix + pw even) to both phases from j = (ix + pw) >> 1. */
// @ts-ignore: decorator
@inline function prepareStep2(src: usize, d0: usize, d1: usize, ix: i32): void {
  const j = (ix + PW) >> 1;
  const a = v128.load(at(src, ix));
  const b = v128.load(at(src, ix), 16);
  v128.store(at(d0, j), i32x4.shuffle(a, b, 0, 2, 4, 6));
  v128.store(at(d1, j), i32x4.shuffle(a, b, 1, 3, 5, 7));
}

/**
 * The padded rows that output rows [oy0, oy0 + BAND) read, from plane xp (h × w), into the
 * prepared band dst; rows of the zero padding are cleared.
 */
export function prepareBand(xp: usize, dst: usize, oy0: i32): void {
  const first = oy0 * SH;
  const rows = (min(OH - oy0, BAND) - 1) * SH + (KH - 1) * DH + 1;
  const rowBytes = <usize>WQ << 2;
  for (let r = 0; r < rows; r++) {
    const pr = first + r;
    const row = dst + <usize>r * rowBytes;
    if (pr >= PH && pr < H + PH) {
      prepareRow(at(xp, (pr - PH) * W), row);
      continue;
    }
    for (let q = 0; q < SW; q++) {
      const p = row + <usize>q * PHASE_BYTES;
      for (let j = 0; j < WQ; j += 4) v128.store(at(p, j), f32x4.splat(0));
    }
  }
}

/** Byte offset of tap column kx in the prepared plane: phase (kx·dw) mod sw, shift ⌊kx·dw / sw⌋. */
export function columnOffset(kx: i32): usize {
  return kx < KW ? <usize>(kx * DW % SW) * PHASE_BYTES + (<usize>(kx * DW / SW) << 2) : 0;
}

/** Byte offset of every tap (ky, kx) from output pixel (0, 0) in the prepared plane, as i32 at tab. */
export function buildInputTaps(tab: usize): void {
  for (let ky = 0; ky < KH; ky++) {
    for (let kx = 0; kx < KW; kx++) {
      store<i32>(at(tab, ky * KW + kx), <i32>(columnOffset(kx) + (<usize>(ky * DH) * WQ << 2)));
    }
  }
}
