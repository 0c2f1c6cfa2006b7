// Prelude prepended to every kernel module (src/backends/webgpu/modules.ts lists the order).
//
// WGSL lets implementations assume that float math never meets NaN or infinity, and a constant
// expression that evaluates to one is a shader-creation error. So NaN tests look at the bits,
// and special values are built from a `var`, which keeps them out of constant evaluation.

fn is_nan(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

fn nan_f32() -> f32 {
  var bits = 0x7fc00000u;
  return bitcast<f32>(bits);
}

fn pos_inf() -> f32 {
  var bits = 0x7f800000u;
  return bitcast<f32>(bits);
}

fn neg_inf() -> f32 {
  var bits = 0xff800000u;
  return bitcast<f32>(bits);
}

// max / min that propagate NaN, as torch.maximum and torch.amax do (WGSL's builtins may not).
fn max_nan(a: f32, b: f32) -> f32 {
  return select(max(a, b), a + b, is_nan(a) || is_nan(b));
}

fn min_nan(a: f32, b: f32) -> f32 {
  return select(min(a, b), a + b, is_nan(a) || is_nan(b));
}

// Dispatches larger than 65535 workgroups are split over x and y (src/backends/webgpu/params.ts
// `grid`); these give the flat invocation and workgroup indices back.
fn flat_index(gid: vec3<u32>, nwg: vec3<u32>, wg: u32) -> u32 {
  return gid.x + gid.y * nwg.x * wg;
}

fn flat_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}

// log with PyTorch's edge values; near 1 WGSL's log may have an absolute (not relative) error of
// 2^-21, so there log(x) = 2·atanh(u), u = (x−1)/(x+1), whose series converges fast.
fn log_precise(x: f32) -> f32 {
  if (is_nan(x) || x < 0.0) {
    return nan_f32();
  }
  if (x == 0.0) {
    return neg_inf();
  }
  if (abs(x - 1.0) < 0.0625) {
    let u = (x - 1.0) / (x + 1.0);
    let u2 = u * u;
    return 2.0 * u * (1.0 + u2 * (1.0 / 3.0 + u2 * (0.2 + u2 * (1.0 / 7.0 + u2 / 9.0))));
  }
  return log(x);
}

// x / d rounded as IEEE float32 division rounds (to nearest, ties to even), for an integer
// 1 ≤ d < 2^31. WGSL allows division an error of 2.5 ulp and GPUs use that (NVIDIA's Vulkan
// driver does). Where a quotient is floored or ceiled (roi bins, sample counts) that error moves
// bin edges, so such quotients are computed exactly, by long division of the mantissa.
fn div_exact(x: f32, d: u32) -> f32 {
  let ax = abs(x);
  if (!(ax > 1e-30) || ax > 1e38) {
    return x / f32(d);  // zero, NaN, tiny or huge: no bin arithmetic happens there
  }
  let fe = frexp(ax);
  let m = u32(fe.fract * 16777216.0);  // ax = m · 2^(exp − 24), m ∈ [2^23, 2^24)
  var q = m / d;
  var r = m - q * d;
  var s = 0;
  while (q < 0x800000u) {
    r = r * 2u;
    q = q * 2u;
    if (r >= d) {
      q += 1u;
      r -= d;
    }
    s += 1;
  }
  // q holds 24 significant bits; the next bit and the remainder decide the rounding.
  r = r * 2u;
  let next = r >= d;
  if (next) {
    r -= d;
  }
  if (next && (r != 0u || (q & 1u) == 1u)) {
    q += 1u;
  }
  let v = ldexp(f32(q), fe.exp - 24 - s);
  return select(v, -v, x < 0.0);
}

// Whether the IEEE float32 quotient fl(a / b) exceeds t, for a ≥ 0, b > 0, t > 0 normal
// floats (other inputs use the device's division). The approximate quotient decides unless it
// lies within a few ulp of t; then the exact comparison a / b ⋛ midpoint(t, next float) is done
// on integer mantissas (products split into 12-bit limbs to stay within u32).
fn quotient_gt(a: f32, b: f32, t: f32) -> bool {
  let q = a / b;
  if (!(a > 1e-30 && b > 1e-30 && t > 1e-30) || a > 1e38 || b > 1e38 || t > 1e38 || abs(q - t) > t * 1e-6) {
    return q > t;
  }
  let fa = frexp(a);
  let fb = frexp(b);
  let ft = frexp(t);
  let ma = u32(fa.fract * 16777216.0);
  let mb = u32(fb.fract * 16777216.0);
  let mt = u32(ft.fract * 16777216.0);
  // a / b > (2·mt + 1) · 2^(et − 25)  ⇔  ma · 2^k > (2·mt + 1) · mb, with k as below.
  let k = fa.exp - fb.exp - ft.exp + 25;
  let x = 2u * mt + 1u;
  let x1 = x >> 12u;
  let x0 = x & 0xfffu;
  let b1 = mb >> 12u;
  let b0 = mb & 0xfffu;
  let mid = x1 * b0 + x0 * b1;
  var low = x0 * b0 + ((mid & 0xfffu) << 12u);
  let high = x1 * b1 + (mid >> 12u) + (low >> 24u);
  low = low & 0xffffffu;
  // P = high · 2^24 + low ∈ [2^47, 2^49); ma · 2^k ∈ [2^(23+k), 2^(24+k)).
  if (k >= 26) {
    return true;
  }
  if (k <= 23) {
    return false;
  }
  let lhs_high = ma << u32(k - 24);  // ma · 2^k = lhs_high · 2^24 + 0
  if (lhs_high != high) {
    return lhs_high > high;
  }
  if (low != 0u) {
    return false;
  }
  return (mt & 1u) == 1u;  // exactly the midpoint: ties to even round up from an odd mantissa
}
