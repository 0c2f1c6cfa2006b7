// Depthwise convolution, filter gradient: dw[c·M + m, ky, kx] = Σ_n Σ_{oy, ox} dy[n, c·M + m, oy, ox]
// · x[n, c, oy·sh − ph + ky·dh, ox·sw − pw + kx·dw], for a range of input channels (each sums over
// the whole batch, so the result does not depend on how channels are split over threads). x is
// read through the prepared plane (depthwise-plane.ts); dy directly.
import {
  BAND, C, CO, DH, DW, H, KH, KW, M, N, OH, OW, PH, PW, SH, SW, TAPS, W, WQ, align64, at, buildInputTaps, clearPrepared,
  hsum, inputGeometry, loadLanes, prepareBand, readParams,
} from './depthwise-plane';

/** Output rows [lo, hi) whose tap row ky reads input rows (not padding). */
// @ts-ignore: decorator
@inline function rowLo(ky: i32): i32 {
  const t = PH - ky * DH;
  return t <= 0 ? 0 : min(OH, (t + SH - 1) / SH);
}

// @ts-ignore: decorator
@inline function rowHi(ky: i32): i32 {
  const t = H - 1 + PH - ky * DH;
  return t < 0 ? 0 : min(OH, t / SH + 1);
}

/** Output columns [lo, hi) whose tap column kx reads input columns (hi ≥ lo). */
// @ts-ignore: decorator
@inline function colLo(kx: i32): i32 {
  const t = PW - kx * DW;
  return t <= 0 ? 0 : min(OW, (t + SW - 1) / SW);
}

// @ts-ignore: decorator
@inline function colHi(kx: i32): i32 {
  const t = W - 1 + PW - kx * DW;
  return t < 0 ? colLo(kx) : max(colLo(kx), min(OW, t / SW + 1));
}

/** Lanes e … e + 3 that lie in [lo, hi), as an all-ones / zero mask. */
// @ts-ignore: decorator
@inline function laneMask(e: i32, lo: i32, hi: i32): v128 {
  const v = i32x4.add(i32x4.splat(e), i32x4(0, 1, 2, 3));
  return v128.and(i32x4.ge_s(v, i32x4.splat(lo)), i32x4.lt_s(v, i32x4.splat(hi)));
}

/** Taps per group: each kernel row goes 5 taps at a time (one group for 3×3 and 5×5). */
const GROUP: i32 = 5;

/** Bytes of one group's column plan: 4 i32 (A, U, left steps, steps), then 5 masks per step. */
// @ts-ignore: decorator
@inline function groupPlanBytes(): usize {
  return 64 + (<usize>(2 * ((OW + 3) >> 2) + 2) * GROUP << 4);
}

/** Bytes of the column plans: two per tap group (exact, then fast). */
export function planBytes(): usize {
  return <usize>(2 * ((KW + GROUP - 1) / GROUP)) * groupPlanBytes();
}

/** Output columns [0, BORDER_L) and [BORDER_R, outW) are those where some tap reads padding. */
let BORDER_L: i32 = 0;
let BORDER_R: i32 = 0;

/** Writes one plan: A, U, left steps, steps, and each step's lane masks for the nk taps from kx0. */
function writePlan(g: usize, kx0: i32, nk: i32, a: i32, u: i32, e: i32, exact: bool): void {
  const left = (a + 3) >> 2;
  const steps = left + (e > u ? (e - u + 3) >> 2 : 0);
  store<i32>(g, a);
  store<i32>(g, u, 4);
  store<i32>(g, left, 8);
  store<i32>(g, steps, 12);
  for (let s = 0; s < steps; s++) {
    const col = s < left ? s << 2 : u + ((s - left) << 2);
    const from = s < left ? 0 : u;
    const to = s < left ? a : e;
    for (let k = 0; k < GROUP; k++) {
      const kx = kx0 + k;
      const lo = exact ? max(colLo(kx), from) : from;
      const hi = exact ? min(colHi(kx), to) : to;
      v128.store(g + 64 + (<usize>(s * GROUP + k) << 4), k < nk ? laneMask(col, lo, hi) : f32x4.splat(0));
    }
  }
}

/**
 * The column plans of each group of taps kx0 … kx0 + nk − 1 (see filterTaps), the same for every
 * kernel row, plane and band, so made once per call. Exact: the outputs that every tap of the
 * group reads ([A, B)) run unmasked in whole vectors up to U ≤ B; the columns left of A and from
 * U to the last one read go in masked steps (at 0, 4, … < A, then U, U + 4, …) that keep, per
 * tap, only the outputs whose tap reads an input pixel. Fast, for dy rows that are finite in the
 * border columns (where 0 · dy is exactly 0): every column, unmasked but for the last partial
 * vector.
 */
function planColumns(plans: usize): void {
  BORDER_L = 0;
  BORDER_R = OW;
  const groups = (KW + GROUP - 1) / GROUP;
  for (let kx0 = 0; kx0 < KW; kx0 += GROUP) {
    const g = plans + <usize>(kx0 / GROUP) * groupPlanBytes();
    const nk = min(GROUP, KW - kx0);
    let a = 0;
    let b = OW;
    let e = 0;
    for (let k = 0; k < nk; k++) {
      a = max(a, colLo(kx0 + k));
      b = min(b, colHi(kx0 + k));
      e = max(e, colHi(kx0 + k));
    }
    BORDER_L = max(BORDER_L, a);
    BORDER_R = min(BORDER_R, b);
    writePlan(g, kx0, nk, a, a < b ? a + ((b - a) & ~3) : a, e, true);
    writePlan(g + <usize>groups * groupPlanBytes(), kx0, nk, 0, OW & ~3, OW, false);
  }
  BORDER_R = max(BORDER_R, BORDER_L);
}

/**
 * Whether dy rows [oy0, oy1) are finite in the border columns (then the fast plans are exact
 * too): a NaN or an infinity has all exponent bits set. Borders up to 4 columns wide are checked
 * as the first and last vector of each row (a few more columns than needed: never wrong, only
 * sometimes the exact plan where the fast one would do).
 */
function bordersFinite(dyp: usize, oy0: i32, oy1: i32): bool {
  const exp = i32x4.splat(0x7f800000);
  if (OW >= 4 && BORDER_L <= 4 && OW - BORDER_R <= 4) {
    let bad = i32x4.splat(0);
    for (let oy = oy0; oy < oy1; oy++) {
      const r = at(dyp, oy * OW);
      bad = v128.or(bad, i32x4.eq(v128.and(v128.load(r), exp), exp));
      bad = v128.or(bad, i32x4.eq(v128.and(v128.load(at(r, OW - 4)), exp), exp));
    }
    return !v128.any_true(bad);
  }
  for (let oy = oy0; oy < oy1; oy++) {
    const r = at(dyp, oy * OW);
    for (let ox = 0; ox < BORDER_L; ox++) if ((load<u32>(at(r, ox)) & 0x7f800000) == 0x7f800000) return false;
    for (let ox = BORDER_R; ox < OW; ox++) if ((load<u32>(at(r, ox)) & 0x7f800000) == 0x7f800000) return false;
  }
  return true;
}

/**
 * Adds Σ_{oy, ox} dy[oy, ox] · x(tap) over the output rows [oy0, oy1) of the prepared band, for
 * the nk ≤ 5 taps kx0 … kx0 + nk − 1 of kernel row ky, to their v128 accumulators at acc.
 *
 * Only the outputs whose tap reads an input pixel are summed, never padding: PyTorch's depthwise
 * kernel skips those products, so a NaN or infinite dy next to the border must not meet a padded
 * zero (0 · NaN = NaN). Rows: the range of oy is cut to each kernel row's. Columns: as the
 * group's plan (planColumns) says; the unmasked part two vectors per step with an accumulator
 * pair per tap (2·nk independent addition chains hide the add latency; each dy vector is loaded
 * once for nk taps), then the masked steps.
 */
// @ts-ignore: decorator
@inline function filterTaps(nk: i32, prep: usize, tab: usize, dyp: usize, acc: usize, ky: i32, kx0: i32, oy0: i32, oy1: i32, plans: usize): void {
  const t0 = ky * KW + kx0;
  const o0 = <usize>load<i32>(at(tab, t0));
  const o1 = nk > 1 ? <usize>load<i32>(at(tab, t0 + 1)) : 0;
  const o2 = nk > 2 ? <usize>load<i32>(at(tab, t0 + 2)) : 0;
  const o3 = nk > 3 ? <usize>load<i32>(at(tab, t0 + 3)) : 0;
  const o4 = nk > 4 ? <usize>load<i32>(at(tab, t0 + 4)) : 0;
  const plan = plans + <usize>(kx0 / GROUP) * groupPlanBytes();
  const a = load<i32>(plan);
  const u = load<i32>(plan, 4);
  const left = load<i32>(plan, 8);
  const steps = load<i32>(plan, 12);
  const masks = plan + 64;
  const z = f32x4.splat(0);
  let a0 = z, a1 = z, a2 = z, a3 = z, a4 = z;
  let b0 = z, b1 = z, b2 = z, b3 = z, b4 = z;
  const rowBytes = <usize>SH * WQ << 2;
  const r0 = max(oy0, rowLo(ky));
  const r1 = min(oy1, rowHi(ky));
  for (let oy = r0; oy < r1; oy++) {
    const xr = prep + <usize>(oy - oy0) * rowBytes;
    const dr = at(dyp, oy * OW);
    let ox = a;
    for (; ox + 8 <= u; ox += 8) {
      const d0 = v128.load(at(dr, ox));
      const d1 = v128.load(at(dr, ox), 16);
      const xb = at(xr, ox);
      a0 = f32x4.add(a0, f32x4.mul(d0, v128.load(xb + o0)));
      b0 = f32x4.add(b0, f32x4.mul(d1, v128.load(xb + o0, 16)));
      if (nk > 1) {
        a1 = f32x4.add(a1, f32x4.mul(d0, v128.load(xb + o1)));
        b1 = f32x4.add(b1, f32x4.mul(d1, v128.load(xb + o1, 16)));
      }
      if (nk > 2) {
        a2 = f32x4.add(a2, f32x4.mul(d0, v128.load(xb + o2)));
        b2 = f32x4.add(b2, f32x4.mul(d1, v128.load(xb + o2, 16)));
      }
      if (nk > 3) {
        a3 = f32x4.add(a3, f32x4.mul(d0, v128.load(xb + o3)));
        b3 = f32x4.add(b3, f32x4.mul(d1, v128.load(xb + o3, 16)));
      }
      if (nk > 4) {
        a4 = f32x4.add(a4, f32x4.mul(d0, v128.load(xb + o4)));
        b4 = f32x4.add(b4, f32x4.mul(d1, v128.load(xb + o4, 16)));
      }
    }
    if (ox < u) {
      const d0 = v128.load(at(dr, ox));
      const xb = at(xr, ox);
      a0 = f32x4.add(a0, f32x4.mul(d0, v128.load(xb + o0)));
      if (nk > 1) a1 = f32x4.add(a1, f32x4.mul(d0, v128.load(xb + o1)));
      if (nk > 2) a2 = f32x4.add(a2, f32x4.mul(d0, v128.load(xb + o2)));
      if (nk > 3) a3 = f32x4.add(a3, f32x4.mul(d0, v128.load(xb + o3)));
      if (nk > 4) a4 = f32x4.add(a4, f32x4.mul(d0, v128.load(xb + o4)));
    }
    for (let s = 0; s < steps; s++) {
      const col = s < left ? s << 2 : u + ((s - left) << 2);
      // Lanes past the row's end are masked; only the plane's last row must not read them (the
      // last plane may end the buffer).
      const d0 = col + 4 <= OW || oy + 1 < OH ? v128.load(at(dr, col)) : loadLanes(at(dr, col), OW - col);
      const xb = at(xr, col);
      const mk = masks + (<usize>(s * GROUP) << 4);
      b0 = f32x4.add(b0, v128.and(f32x4.mul(d0, v128.load(xb + o0)), v128.load(mk)));
      if (nk > 1) b1 = f32x4.add(b1, v128.and(f32x4.mul(d0, v128.load(xb + o1)), v128.load(mk, 16)));
      if (nk > 2) b2 = f32x4.add(b2, v128.and(f32x4.mul(d0, v128.load(xb + o2)), v128.load(mk, 32)));
      if (nk > 3) b3 = f32x4.add(b3, v128.and(f32x4.mul(d0, v128.load(xb + o3)), v128.load(mk, 48)));
      if (nk > 4) b4 = f32x4.add(b4, v128.and(f32x4.mul(d0, v128.load(xb + o4)), v128.load(mk, 64)));
    }
  }
  const p = acc + (<usize>t0 << 4);
  v128.store(p, f32x4.add(v128.load(p), f32x4.add(a0, b0)));
  if (nk > 1) v128.store(p, f32x4.add(v128.load(p, 16), f32x4.add(a1, b1)), 16);
  if (nk > 2) v128.store(p, f32x4.add(v128.load(p, 32), f32x4.add(a2, b2)), 32);
  if (nk > 3) v128.store(p, f32x4.add(v128.load(p, 48), f32x4.add(a3, b3)), 48);
  if (nk > 4) v128.store(p, f32x4.add(v128.load(p, 64), f32x4.add(a4, b4)), 64);
}

/** Adds a band's (prepared x rows, dy rows) contribution to the TAPS accumulators at acc. */
function filterBand(prep: usize, tab: usize, dyp: usize, acc: usize, oy0: i32, exactPlans: usize): void {
  const oy1 = min(OH, oy0 + BAND);
  const plans = bordersFinite(dyp, oy0, oy1) ? exactPlans + <usize>((KW + GROUP - 1) / GROUP) * groupPlanBytes() : exactPlans;
  for (let ky = 0; ky < KH; ky++) {
    // The common widths get straight-line code of their own; others go five taps at a time.
    if (KW == 3) filterTaps(3, prep, tab, dyp, acc, ky, 0, oy0, oy1, plans);
    else if (KW == 5) filterTaps(5, prep, tab, dyp, acc, ky, 0, oy0, oy1, plans);
    else {
      let kx = 0;
      for (; kx + 5 <= KW; kx += 5) filterTaps(5, prep, tab, dyp, acc, ky, kx, oy0, oy1, plans);
      const r = KW - kx;
      if (r == 4) filterTaps(4, prep, tab, dyp, acc, ky, kx, oy0, oy1, plans);
      else if (r == 3) filterTaps(3, prep, tab, dyp, acc, ky, kx, oy0, oy1, plans);
      else if (r == 2) filterTaps(2, prep, tab, dyp, acc, ky, kx, oy0, oy1, plans);
      else if (r == 1) filterTaps(1, prep, tab, dyp, acc, ky, kx, oy0, oy1, plans);
    }
  }
}

/** dw[c·M + m] = Σ_n corr(x[n, c], dy[n, c·M + m]) for input channels [start, end). */
export function depthwiseGradFilter(x: usize, dy: usize, dw: usize, params: usize, scratch: usize, start: i32, end: i32): void {
  readParams(params);
  inputGeometry();
  const tab = scratch;
  buildInputTaps(tab);
  const acc = tab + align64(<usize>TAPS << 2);
  const plans = acc + align64(<usize>M * TAPS << 4);
  planColumns(plans);
  const prep = plans + planBytes();
  clearPrepared(prep);
  const outPlane = OH * OW;
  const accs = M * TAPS;
  for (let c = start; c < end; c++) {
    for (let i = 0; i < accs; i++) v128.store(acc + (<usize>i << 4), f32x4.splat(0));
    for (let n = 0; n < N; n++) {
      for (let oy0 = 0; oy0 < OH; oy0 += BAND) {
        prepareBand(at(x, (n * C + c) * H * W), prep, oy0);
        for (let m = 0; m < M; m++) {
          filterBand(prep, tab, at(dy, (n * CO + c * M + m) * outPlane), acc + (<usize>(m * TAPS) << 4), oy0, plans);
        }
      }
    }
    for (let i = 0; i < accs; i++) store<f32>(at(dw, c * accs + i), hsum(v128.load(acc + (<usize>i << 4))));
  }
}
