// Batch normalisation with the batch's statistics (BatchNorm2d in training mode), forward and
// backward, fused: one kernel call per direction instead of the ten elementwise and reduction
// passes the composed op makes. x is [n, c, hw] (NCHW with the spatial axes flattened); both
// kernels take a [start, end) range of channels, which never share memory, and sum each channel
// serially in float64 (so results do not depend on the thread count, and the variance of a
// channel with a large mean keeps its digits).
//
// Flags: 1 = weight given (else 1), 2 = bias given (else 0).

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}

/** Σ of hw floats in float64, four at a time (each f32x4 promoted to two f64x2). */
// @ts-ignore: decorator
@inline function planeSum(p: usize, hw: i32): f64 {
  let a = f64x2.splat(0);
  let b = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= hw; i += 4) {
    const v = v128.load(at(p, i));
    a = f64x2.add(a, f64x2.promote_low_f32x4(v));
    b = f64x2.add(b, f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)));
  }
  let s = f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1) + f64x2.extract_lane(b, 0) + f64x2.extract_lane(b, 1);
  for (; i < hw; i++) s += <f64>load<f32>(at(p, i));
  return s;
}

/** Σ (x − mu)² of hw floats in float64. */
// @ts-ignore: decorator
@inline function planeSquares(p: usize, hw: i32, mu: f64): f64 {
  const m = f64x2.splat(mu);
  let a = f64x2.splat(0);
  let b = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= hw; i += 4) {
    const v = v128.load(at(p, i));
    const lo = f64x2.sub(f64x2.promote_low_f32x4(v), m);
    const hi = f64x2.sub(f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)), m);
    a = f64x2.add(a, f64x2.mul(lo, lo));
    b = f64x2.add(b, f64x2.mul(hi, hi));
  }
  let s = f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1) + f64x2.extract_lane(b, 0) + f64x2.extract_lane(b, 1);
  for (; i < hw; i++) {
    const d = <f64>load<f32>(at(p, i)) - mu;
    s += d * d;
  }
  return s;
}

/** Σ dy and Σ dy·(x − mu) of hw floats in float64. */
// @ts-ignore: decorator
@inline function planeGradSums(dy: usize, x: usize, hw: i32, mu: f64, out: usize): void {
  const m = f64x2.splat(mu);
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  let t0 = f64x2.splat(0);
  let t1 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= hw; i += 4) {
    const g = v128.load(at(dy, i));
    const v = v128.load(at(x, i));
    const glo = f64x2.promote_low_f32x4(g);
    const ghi = f64x2.promote_low_f32x4(i32x4.shuffle(g, g, 2, 3, 0, 1));
    s0 = f64x2.add(s0, glo);
    s1 = f64x2.add(s1, ghi);
    t0 = f64x2.add(t0, f64x2.mul(glo, f64x2.sub(f64x2.promote_low_f32x4(v), m)));
    t1 = f64x2.add(t1, f64x2.mul(ghi, f64x2.sub(f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)), m)));
  }
  let s = f64x2.extract_lane(s0, 0) + f64x2.extract_lane(s0, 1) + f64x2.extract_lane(s1, 0) + f64x2.extract_lane(s1, 1);
  let t = f64x2.extract_lane(t0, 0) + f64x2.extract_lane(t0, 1) + f64x2.extract_lane(t1, 0) + f64x2.extract_lane(t1, 1);
  for (; i < hw; i++) {
    const g = <f64>load<f32>(at(dy, i));
    s += g;
    t += g * (<f64>load<f32>(at(x, i)) - mu);
  }
  store<f64>(out, load<f64>(out) + s);
  store<f64>(out, load<f64>(out, 8) + t, 8);
}

/** out[i] = a·u[i] + b·v[i] + c over hw floats (v = 0 when b is 0 and vPtr is 0). */
// @ts-ignore: decorator
@inline function planeAffine2(out: usize, u: usize, a: f32, v: usize, b: f32, c: f32, hw: i32): void {
  const va = f32x4.splat(a);
  const vb = f32x4.splat(b);
  const vc = f32x4.splat(c);
  let i = 0;
  for (; i + 4 <= hw; i += 4) {
    v128.store(at(out, i), f32x4.add(f32x4.add(f32x4.mul(v128.load(at(u, i)), va), f32x4.mul(v128.load(at(v, i)), vb)), vc));
  }
  for (; i < hw; i++) store<f32>(at(out, i), load<f32>(at(u, i)) * a + load<f32>(at(v, i)) * b + c);
}

/** out[i] = a·u[i] + c over hw floats. */
// @ts-ignore: decorator
@inline function planeAffine(out: usize, u: usize, a: f32, c: f32, hw: i32): void {
  const va = f32x4.splat(a);
  const vc = f32x4.splat(c);
  let i = 0;
  for (; i + 4 <= hw; i += 4) v128.store(at(out, i), f32x4.add(f32x4.mul(v128.load(at(u, i)), va), vc));
  for (; i < hw; i++) store<f32>(at(out, i), load<f32>(at(u, i)) * a + c);
}

/**
 * y = x·α + β per channel with α = w·invstd, β = b − mean·α (PyTorch CPU's form), where mean and
 * the biased variance are the channel's over n·hw values; both are written to mean[c], variance[c].
 */
export function batchNormForward(
  x: usize, y: usize, mean: usize, variance: usize, weight: usize, bias: usize, flags: i32,
  n: i32, c: i32, hw: i32, eps: f32, start: i32, end: i32,
): void {
  const count = <f64>n * <f64>hw;
  for (let ch = start; ch < end; ch++) {
    let s: f64 = 0;
    for (let i = 0; i < n; i++) s += planeSum(at(x, (i * c + ch) * hw), hw);
    const mu = s / count;
    let ss: f64 = 0;
    for (let i = 0; i < n; i++) ss += planeSquares(at(x, (i * c + ch) * hw), hw, mu);
    const v = ss / count;
    const invstd = 1.0 / Math.sqrt(v + <f64>eps);
    const w: f64 = flags & 1 ? <f64>load<f32>(at(weight, ch)) : 1.0;
    const b: f64 = flags & 2 ? <f64>load<f32>(at(bias, ch)) : 0.0;
    const alpha = w * invstd;
    const beta = b - mu * alpha;
    for (let i = 0; i < n; i++) {
      const o = (i * c + ch) * hw;
      planeAffine(at(y, o), at(x, o), <f32>alpha, <f32>beta, hw);
    }
    store<f32>(at(mean, ch), <f32>mu);
    store<f32>(at(variance, ch), <f32>v);
  }
}

/**
 * The gradients of batchNormForward's y: dbias = Σ dy, dweight = Σ dy·x̂ (written when the
 * pointers are non-zero), and dx = w·invstd·(dy − Σdy/M − x̂·Σ(dy·x̂)/M), x̂ = (x − mean)·invstd,
 * M = n·hw, computed as dx = A·dy + B·x + C. `sums` is 16 bytes of scratch per call.
 */
export function batchNormBackward(
  dy: usize, x: usize, mean: usize, variance: usize, weight: usize, dx: usize, dweight: usize, dbias: usize, flags: i32,
  n: i32, c: i32, hw: i32, eps: f32, sums: usize, start: i32, end: i32,
): void {
  const count = <f64>n * <f64>hw;
  for (let ch = start; ch < end; ch++) {
    const mu = <f64>load<f32>(at(mean, ch));
    const invstd = 1.0 / Math.sqrt(<f64>load<f32>(at(variance, ch)) + <f64>eps);
    store<f64>(sums, 0);
    store<f64>(sums, 0, 8);
    for (let i = 0; i < n; i++) {
      const o = (i * c + ch) * hw;
      planeGradSums(at(dy, o), at(x, o), hw, mu, sums);
    }
    const sdy = load<f64>(sums);
    const sdyx = load<f64>(sums, 8);
    if (dbias) store<f32>(at(dbias, ch), <f32>sdy);
    if (dweight) store<f32>(at(dweight, ch), <f32>(sdyx * invstd));
    const w: f64 = flags & 1 ? <f64>load<f32>(at(weight, ch)) : 1.0;
    const a = w * invstd;
    const k = (sdyx * invstd * invstd) / count;
    const bx = -a * k;
    const c0 = a * k * mu - (a * sdy) / count;
    for (let i = 0; i < n; i++) {
      const o = (i * c + ch) * hw;
      planeAffine2(at(dx, o), at(dy, o), <f32>a, at(x, o), <f32>bx, <f32>c0, hw);
    }
  }
}
