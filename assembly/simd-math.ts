// Vectorised float32 transcendental functions shared by the kernel files. Private to the module:
// index.ts does not re-export this file (v128 values cannot cross into JavaScript).
//
// Each function keeps the error within about 2 ulp over the whole float32 range, including
// subnormal results, and propagates NaN. Polynomial coefficients were fitted (weighted least
// squares on Chebyshev nodes, relative error) for the reduced ranges noted at each function.

const LOG2E: f32 = 1.4426950408889634;
// ln 2 split so that n * LN2_HI is exact for |n| ≤ 2^15 (LN2_HI has 9 significant bits).
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;

// e^r = 1 + r + r² q(r) on |r| ≤ ln2 / 2 (relative error 4e-9 before rounding).
const EXP_Q0: f32 = 0.49999988079071045;
const EXP_Q1: f32 = 0.166665181517601;
const EXP_Q2: f32 = 0.04166953265666962;
const EXP_Q3: f32 = 0.008368921466171741;
const EXP_Q4: f32 = 0.00137514085508883;

/** 2^n for integer lanes n in [-126, 127], built directly in the exponent field. */
// @ts-ignore: decorator
@inline function pow2i(n: v128): v128 {
  return i32x4.shl(i32x4.add(n, i32x4.splat(127)), 23);
}

/** 1.5 · 2^23: adding it rounds a float of magnitude < 2^22 to an integer held in the low mantissa bits. */
const ROUNDER: f32 = 12582912.0;

/** e^x per lane. Overflows to +inf above ln(FLT_MAX), rounds subnormal results once. */
// @ts-ignore: decorator
@inline export function expV(x: v128): v128 {
  // Clamping keeps n within [-150, 129]; the true results there are already 0 or +inf. pmin/pmax
  // with x first return x when it is NaN, so NaN flows through (and they are single instructions,
  // unlike min/max).
  const xc = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-104.0)), f32x4.splat(89.0));
  // n = round(x / ln 2) both as a float and, from the same bits, as an integer.
  const t = f32x4.add(f32x4.mul(xc, f32x4.splat(LOG2E)), f32x4.splat(ROUNDER));
  const nf = f32x4.sub(t, f32x4.splat(ROUNDER));
  const n = i32x4.sub(t, f32x4.splat(ROUNDER));
  const r = f32x4.sub(f32x4.sub(xc, f32x4.mul(nf, f32x4.splat(LN2_HI))), f32x4.mul(nf, f32x4.splat(LN2_LO)));
  let q = f32x4.add(f32x4.mul(r, f32x4.splat(EXP_Q4)), f32x4.splat(EXP_Q3));
  q = f32x4.add(f32x4.mul(r, q), f32x4.splat(EXP_Q2));
  q = f32x4.add(f32x4.mul(r, q), f32x4.splat(EXP_Q1));
  q = f32x4.add(f32x4.mul(r, q), f32x4.splat(EXP_Q0));
  // 1 + (r + r² q): the small terms are summed first so that only the last addition rounds at
  // the scale of the result.
  const p = f32x4.add(f32x4.splat(1.0), f32x4.add(r, f32x4.mul(f32x4.mul(r, r), q)));
  // Scale by 2^n in two exact halves so that neither factor leaves the normal range: the single
  // rounding happens in the last multiply, which is what makes subnormal results correct.
  const n1 = i32x4.shr_s(n, 1);
  const n2 = i32x4.sub(n, n1);
  return f32x4.mul(f32x4.mul(p, pow2i(n1)), pow2i(n2));
}

const SQRT2: f32 = 1.4142135623730951;
const FLT_MIN: f32 = 1.17549435e-38;
const LN2_HI_LOG: f32 = 6.9313812256e-01; // 0x3f317180: 16 significant bits, e * hi exact
const LN2_LO_LOG: f32 = 9.0580006145e-06;
// 2 atanh(s) = 2s + s R(s²), R(z) = z (2/3 + 2/5 z + 2/7 z² + 2/9 z³) for |s| ≤ 0.1716.
const LG1: f32 = 0.6666666666666666;
const LG2: f32 = 0.4;
const LG3: f32 = 0.2857142857142857;
const LG4: f32 = 0.2222222222222222;

/** Natural logarithm per lane: -inf at ±0, NaN below 0, +inf at +inf. */
// @ts-ignore: decorator
@inline export function logV(x: v128): v128 {
  // Subnormals are scaled into the normal range first so their exponent field is meaningful.
  const tiny = f32x4.lt(x, f32x4.splat(FLT_MIN));
  const xs = v128.bitselect(f32x4.mul(x, f32x4.splat(8388608.0)), x, tiny);
  let e = i32x4.sub(i32x4.shr_u(xs, 23), i32x4.splat(127));
  e = i32x4.sub(e, v128.and(tiny, i32x4.splat(23)));
  // Mantissa m in [1, 2), then folded into [√½, √2) so that f = m − 1 is small either way.
  let m = v128.or(v128.and(xs, i32x4.splat(0x007fffff)), i32x4.splat(0x3f800000));
  const big = f32x4.gt(m, f32x4.splat(SQRT2));
  m = v128.bitselect(f32x4.mul(m, f32x4.splat(0.5)), m, big);
  e = i32x4.sub(e, big); // a true lane is -1: e + 1
  const f = f32x4.sub(m, f32x4.splat(1.0));
  const s = f32x4.div(f, f32x4.add(f32x4.splat(2.0), f));
  const z = f32x4.mul(s, s);
  let r = f32x4.add(f32x4.mul(z, f32x4.splat(LG4)), f32x4.splat(LG3));
  r = f32x4.add(f32x4.mul(z, r), f32x4.splat(LG2));
  r = f32x4.add(f32x4.mul(z, r), f32x4.splat(LG1));
  r = f32x4.mul(z, r);
  // log1p(f) = f − hfsq + s (hfsq + R): f is exact, so the rounding error stays in small terms.
  const hfsq = f32x4.mul(f32x4.mul(f32x4.splat(0.5), f), f);
  const ef = f32x4.convert_i32x4_s(e);
  const small = f32x4.add(f32x4.mul(s, f32x4.add(hfsq, r)), f32x4.mul(ef, f32x4.splat(LN2_LO_LOG)));
  let y = f32x4.add(f32x4.mul(ef, f32x4.splat(LN2_HI_LOG)), f32x4.sub(f, f32x4.sub(hfsq, small)));
  // Special values, last so they override whatever the reduction produced.
  y = v128.bitselect(f32x4.splat(-Infinity), y, f32x4.eq(x, f32x4.splat(0.0)));
  y = v128.bitselect(f32x4.splat(NaN), y, f32x4.lt(x, f32x4.splat(0.0)));
  y = v128.bitselect(x, y, v128.or(f32x4.ne(x, x), f32x4.eq(x, f32x4.splat(Infinity))));
  return y;
}

// tanh(x) = x + x z P(z), z = x², for |x| < 0.55 (relative error 3e-9 before rounding).
const TANH_SMALL: f32 = 0.55;
const TANH_P0: f32 = -0.33333319425582886;
const TANH_P1: f32 = 0.13332617282867432;
const TANH_P2: f32 = -0.053855109959840775;
const TANH_P3: f32 = 0.021082019433379173;
const TANH_P4: f32 = -0.0062876008450984955;

/** tanh per lane: a polynomial near 0, 1 − 2 / (e^{2|x|} + 1) elsewhere (no cancellation there). */
// @ts-ignore: decorator
@inline export function tanhV(x: v128): v128 {
  const ax = f32x4.abs(x);
  const z = f32x4.mul(x, x);
  let p = f32x4.add(f32x4.mul(z, f32x4.splat(TANH_P4)), f32x4.splat(TANH_P3));
  p = f32x4.add(f32x4.mul(z, p), f32x4.splat(TANH_P2));
  p = f32x4.add(f32x4.mul(z, p), f32x4.splat(TANH_P1));
  p = f32x4.add(f32x4.mul(z, p), f32x4.splat(TANH_P0));
  const near = f32x4.add(x, f32x4.mul(f32x4.mul(x, z), p));
  const e = expV(f32x4.add(ax, ax));
  const farAbs = f32x4.sub(f32x4.splat(1.0), f32x4.div(f32x4.splat(2.0), f32x4.add(e, f32x4.splat(1.0))));
  // Copy x's sign onto the far branch (NaN lanes take it too and stay NaN through expV).
  const far = v128.or(farAbs, v128.and(x, i32x4.splat(0x80000000)));
  return v128.bitselect(near, far, f32x4.lt(ax, f32x4.splat(TANH_SMALL)));
}

/**
 * 1 / (1 + e^{-x}) per lane. With e = e^{-|x|} ≤ 1 this is 1 / (1 + e) for x ≥ 0 and e / (1 + e)
 * for x < 0, so neither side overflows and tiny results keep their relative accuracy. The
 * rounding error of s = 1 + e is recovered exactly (Fast2Sum, as 1 ≥ e) and corrected for:
 * num / (s + err) ≈ q − q · err / s with q = num / s.
 */
// @ts-ignore: decorator
@inline export function sigmoidV(x: v128): v128 {
  const e = expV(f32x4.neg(f32x4.abs(x)));
  const one = f32x4.splat(1.0);
  const s = f32x4.add(one, e);
  const err = f32x4.add(f32x4.sub(one, s), e);
  const num = v128.bitselect(e, one, f32x4.lt(x, f32x4.splat(0.0)));
  const q = f32x4.div(num, s);
  return f32x4.sub(q, f32x4.div(f32x4.mul(q, err), s));
}

/** Lane 0. As lane0(f(splat(x))) a scalar gets exactly what a full vector's lane gets from f. */
// @ts-ignore: decorator
@inline export function lane0(v: v128): f32 {
  return f32x4.extract_lane(v, 0);
}

/** The last `count` (1..3) elements at p in the low lanes of a vector, the rest `fill`. */
// @ts-ignore: decorator
@inline export function loadTail(p: usize, count: i32, fill: v128): v128 {
  let v = f32x4.replace_lane(fill, 0, load<f32>(p));
  if (count > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (count > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** Stores the low `count` (1..3) lanes of v at p. */
// @ts-ignore: decorator
@inline export function storeTail(p: usize, count: i32, v: v128): void {
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (count > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (count > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}
