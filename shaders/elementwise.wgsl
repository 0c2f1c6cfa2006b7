// Elementwise kernels: unary, clamp, cast, fill, oneHot, and binary / where with broadcasting.
// One invocation per output element over a flat grid. `OP` is an override constant, so every
// op gets its own pipeline and the switch folds away at pipeline creation.
//
// Broadcasting: the host collapses the output shape to at most 12 dims and gives each operand a
// stride per dim (0 where it is broadcast); an invocation decomposes its flat index once.

override WG: u32 = 256u;
override OP: u32 = 0u;

struct Scalars {
  size: u32,
  p0: u32,
  p1: u32,
  p2: u32,
}

struct Bcast {
  size: u32,
  rank: u32,
  _pad0: u32,
  _pad1: u32,
  dims: array<vec4<u32>, 3>,
  s0: array<vec4<u32>, 3>,
  s1: array<vec4<u32>, 3>,
  s2: array<vec4<u32>, 3>,
}

@group(0) @binding(0) var<uniform> sc: Scalars;
@group(0) @binding(0) var<uniform> bc: Bcast;

@group(0) @binding(1) var<storage, read> in0: array<f32>;
@group(0) @binding(1) var<storage, read> in0_u: array<u32>;
@group(0) @binding(1) var<storage, read> in0_i: array<i32>;
@group(0) @binding(1) var<storage, read_write> fill_out: array<u32>;
@group(0) @binding(2) var<storage, read> in1: array<f32>;
@group(0) @binding(2) var<storage, read_write> out2: array<f32>;
@group(0) @binding(2) var<storage, read_write> out2_u: array<u32>;
@group(0) @binding(3) var<storage, read> in2: array<f32>;
@group(0) @binding(3) var<storage, read_write> out3: array<f32>;
@group(0) @binding(4) var<storage, read_write> out4: array<f32>;

// ---- unary ----

fn sqrt_f(x: f32) -> f32 {
  return select(sqrt(x), nan_f32(), x < 0.0);
}

// tanh through exp(−2|x|), which cannot overflow; near 0 that form cancels, so a Taylor series.
fn tanh_f(x: f32) -> f32 {
  let ax = abs(x);
  if (ax < 0.25) {
    let x2 = x * x;
    return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0 + x2 * (62.0 / 2835.0)))));
  }
  let e = exp(-2.0 * ax);
  let t = (1.0 - e) / (1.0 + e);
  return select(t, -t, x < 0.0);
}

// 1 / (1 + e^−x) without overflow on either side.
fn sigmoid_f(x: f32) -> f32 {
  let e = exp(-abs(x));
  let s = 1.0 / (1.0 + e);
  return select(s, e * s, x < 0.0);
}

fn unary_op(x: f32) -> f32 {
  // NaN in, NaN out (sign and step give 0, as torch.sign and x > 0): builtins such as exp do
  // not reliably propagate NaN on every implementation (SwiftShader's exp(NaN) is +∞).
  if (is_nan(x)) {
    return select(x, 0.0, OP == 9u || OP == 11u);
  }
  switch OP {
    case 0u: { return -x; }
    case 1u: { return exp(x); }
    case 2u: { return log_precise(x); }
    case 3u: { return sqrt_f(x); }
    case 4u: { return abs(x); }
    case 5u: { return select(x, 0.0, x < 0.0); }          // relu keeps NaN, as PyTorch
    case 6u: { return sigmoid_f(x); }
    case 7u: { return tanh_f(x); }
    case 8u: { return x * x; }
    case 9u: { return select(0.0, 1.0, x > 0.0) - select(0.0, 1.0, x < 0.0); } // sign(NaN) = 0, as torch.sign
    case 10u: { return 1.0 / x; }
    case 11u: { return select(0.0, 1.0, x > 0.0); }       // step: relu's derivative
    default: { return nan_f32(); }
  }
}

@compute @workgroup_size(WG)
fn unary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= sc.size) {
    return;
  }
  out2[i] = unary_op(in0[i]);
}

// clamp(x, lo, hi) = min(max(x, lo), hi) with NaN kept; lo / hi are f32 bits (may be ±∞).
@compute @workgroup_size(WG)
fn clamp_values(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= sc.size) {
    return;
  }
  let v = in0[i];
  let lo = bitcast<f32>(sc.p0);
  let hi = bitcast<f32>(sc.p1);
  out2[i] = select(min(max(v, lo), hi), v, is_nan(v));
}

// OP 0: float32 → int32 (truncation toward zero, saturating); OP 1: int32 → float32; else a copy.
@compute @workgroup_size(WG)
fn cast_values(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= sc.size) {
    return;
  }
  let bits = in0_u[i];
  var r = bits;
  if (OP == 0u) {
    r = bitcast<u32>(i32(bitcast<f32>(bits)));
  } else if (OP == 1u) {
    r = bitcast<u32>(f32(bitcast<i32>(bits)));
  }
  out2_u[i] = r;
}

// Writes the 32-bit pattern p0 (a float32 or an int32) everywhere.
@compute @workgroup_size(WG)
fn fill_values(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= sc.size) {
    return;
  }
  fill_out[i] = sc.p0;
}

// labels int32 [n] → float32 [n, classes] (size = n·classes, p0 = classes).
@compute @workgroup_size(WG)
fn one_hot(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= sc.size) {
    return;
  }
  let row = i / sc.p0;
  let col = i - row * sc.p0;
  out2[i] = select(0.0, 1.0, in0_i[row] == i32(col));
}

// ---- binary ----

// a^b as C's pow (torch.pow of two tensors): integer exponents by repeated squaring (exact
// signs and better accuracy), others through exp2(b·log2|a|), NaN for a finite negative base.
fn pow_f(a: f32, b: f32) -> f32 {
  if (b == 0.0 || a == 1.0) {
    return 1.0;
  }
  if (is_nan(a) || is_nan(b)) {
    return a + b;
  }
  if (abs(a) == 1.0 && (bitcast<u32>(b) & 0x7fffffffu) == 0x7f800000u) {
    return 1.0;  // (−1)^±∞ = 1, as C
  }
  if (floor(b) == b && abs(b) <= 64.0) {
    var e = u32(abs(b));
    var base = a;
    var acc = 1.0;
    loop {
      if ((e & 1u) != 0u) {
        acc = acc * base;
      }
      e = e >> 1u;
      if (e == 0u) {
        break;
      }
      base = base * base;
    }
    return select(acc, 1.0 / acc, b < 0.0);
  }
  let ab = abs(a);
  if (a < 0.0 && (bitcast<u32>(ab) == 0x7f800000u) && floor(b) != b) {
    return select(pos_inf(), 0.0, b < 0.0);  // (−∞)^y for a non-integer y, as C
  }
  if (ab == 0.0) {
    return select(pos_inf(), 0.0, b > 0.0);
  }
  var r = exp2(b * log2(ab));
  if (a < 0.0) {
    if (floor(b) != b) {
      return nan_f32();
    }
    let half = b * 0.5;
    if (floor(half) != half) {
      r = -r;
    }
  }
  return r;
}

fn binary_op(a: f32, b: f32) -> f32 {
  switch OP {
    case 0u: { return a + b; }
    case 1u: { return a - b; }
    case 2u: { return a * b; }
    case 3u: { return a / b; }
    case 4u: { return max_nan(a, b); }
    case 5u: { return min_nan(a, b); }
    case 6u: { return pow_f(a, b); }
    case 7u: { return select(0.0, 1.0, a > b); }
    case 8u: { return select(0.0, 1.0, a >= b); }
    case 9u: { return select(0.0, 1.0, a < b); }
    case 10u: { return select(0.0, 1.0, a <= b); }
    case 11u: { return select(0.0, 1.0, a == b); }
    case 12u: { return select(1.0, 0.0, a == b); }   // NaN ≠ NaN, whatever the target's != does
    default: { return nan_f32(); }
  }
}

@compute @workgroup_size(WG)
fn binary(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= bc.size) {
    return;
  }
  var rem = i;
  var ia = 0u;
  var ib = 0u;
  for (var k = bc.rank - 1u; k > 0u; k--) {
    let n = bc.dims[k >> 2u][k & 3u];
    let c = rem % n;
    rem = rem / n;
    ia += c * bc.s0[k >> 2u][k & 3u];
    ib += c * bc.s1[k >> 2u][k & 3u];
  }
  // The outermost dim needs no division: i < size leaves rem < dims[0]. (A rank-1 operation,
  // the common case after merging, divides nothing: integer division is slow on a CPU.)
  ia += rem * bc.s0[0].x;
  ib += rem * bc.s1[0].x;
  out3[i] = binary_op(in0[ia], in1[ib]);
}

// cond (float32, non-zero = true) ? a : b, all three broadcast to the output.
@compute @workgroup_size(WG)
fn where_select(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= bc.size) {
    return;
  }
  var rem = i;
  var ic = 0u;
  var ia = 0u;
  var ib = 0u;
  for (var k = bc.rank - 1u; k > 0u; k--) {
    let n = bc.dims[k >> 2u][k & 3u];
    let c = rem % n;
    rem = rem / n;
    ic += c * bc.s0[k >> 2u][k & 3u];
    ia += c * bc.s1[k >> 2u][k & 3u];
    ib += c * bc.s2[k >> 2u][k & 3u];
  }
  ic += rem * bc.s0[0].x;  // the outermost dim, as in `binary`
  ia += rem * bc.s1[0].x;
  ib += rem * bc.s2[0].x;
  // Non-zero (NaN included) is true; tested on the bits since NaN comparisons vary by target.
  out4[i] = select(in2[ib], in1[ia], (bitcast<u32>(in0[ic]) & 0x7fffffffu) != 0u);
}
