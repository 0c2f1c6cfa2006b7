// The optimiser's update, fused: one pass over a parameter instead of the five or six
// elementwise ops (each a full read and write of the tensor, and an allocation) that spell it
// with tensors. The float32 operations are the unfused ops' own, in the same order, so the fused
// and unfused updates give the same bits.

/** Flags of sgdUpdate. */
const HAS_BUF: i32 = 1; // a momentum buffer from the previous step is given (else buf' = d)
const MOMENTUM: i32 = 2; // μ > 0: keep a momentum buffer
const NESTEROV: i32 = 4;
const DECAY: i32 = 8; // weight decay ≠ 0 (d = g + wd·p; without it d = g exactly, even for an infinite p)
const SCALED: i32 = 16; // g = g·scale[0] first (gradient clipping's coefficient)

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}

// @ts-ignore: decorator
@inline function step(p: v128, g: v128, b: v128, flags: i32, lr: v128, mu: v128, wd: v128, bufOut: usize, i: i32): v128 {
  let d = flags & DECAY ? f32x4.add(g, f32x4.mul(p, wd)) : g;
  if (flags & MOMENTUM) {
    const nb = flags & HAS_BUF ? f32x4.add(f32x4.mul(b, mu), d) : d;
    v128.store(at(bufOut, i), nb);
    d = flags & NESTEROV ? f32x4.add(d, f32x4.mul(nb, mu)) : nb;
  }
  return f32x4.sub(p, f32x4.mul(d, lr));
}

/**
 * torch.optim.SGD over elements [start, end): g = g·scale[0] (with SCALED); d = g + wd·p;
 * buf' = μ·buf + d (d at the first step); d = nesterov ? d + μ·buf' : buf'; p' = p − lr·d.
 * `buf` and `bufOut` are ignored without the MOMENTUM flag, `buf` without HAS_BUF, `scale`
 * without SCALED.
 */
export function sgdUpdate(
  p: usize, g: usize, buf: usize, scale: usize, pOut: usize, bufOut: usize, lr: f32, momentum: f32, weightDecay: f32,
  flags: i32, start: i32, end: i32,
): void {
  const vs = f32x4.splat(flags & SCALED ? load<f32>(scale) : 1);
  const vlr = f32x4.splat(lr);
  const vmu = f32x4.splat(momentum);
  const vwd = f32x4.splat(weightDecay);
  const zero = f32x4.splat(0);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const b = flags & HAS_BUF ? v128.load(at(buf, i)) : zero;
    const gv = flags & SCALED ? f32x4.mul(v128.load(at(g, i)), vs) : v128.load(at(g, i));
    v128.store(at(pOut, i), step(v128.load(at(p, i)), gv, b, flags, vlr, vmu, vwd, bufOut, i));
  }
  // The tail one element at a time through lane 0, so that it is computed exactly as the lanes.
  for (; i < end; i++) {
    const b = flags & HAS_BUF ? f32x4.splat(load<f32>(at(buf, i))) : zero;
    const pv = f32x4.splat(load<f32>(at(p, i)));
    const gv = flags & SCALED ? f32x4.mul(f32x4.splat(load<f32>(at(g, i))), vs) : f32x4.splat(load<f32>(at(g, i)));
    let d = flags & DECAY ? f32x4.add(gv, f32x4.mul(pv, vwd)) : gv;
    if (flags & MOMENTUM) {
      const nb = flags & HAS_BUF ? f32x4.add(f32x4.mul(b, vmu), d) : d;
      store<f32>(at(bufOut, i), f32x4.extract_lane(nb, 0));
      d = flags & NESTEROV ? f32x4.add(d, f32x4.mul(nb, vmu)) : nb;
    }
    store<f32>(at(pOut, i), f32x4.extract_lane(f32x4.sub(pv, f32x4.mul(d, vlr)), 0));
  }
}
