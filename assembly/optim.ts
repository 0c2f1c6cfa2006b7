// The optimiser's update, fused: one pass over a parameter instead of the five or six
// elementwise ops (each a full read and write of the tensor, and an allocation) that spell it
// with tensors. The float32 operations are the unfused ops' own, in the same order, so the fused
// and unfused updates give the same bits.
import { loadTail, storeTail } from './simd-math';

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

const ZERO = f32x4.splat(0);

// @ts-ignore: decorator
@inline function load4(p: usize, count: i32): v128 {
  return count == 4 ? v128.load(p) : loadTail(p, count, ZERO);
}

// @ts-ignore: decorator
@inline function store4(p: usize, count: i32, v: v128): void {
  if (count == 4) v128.store(p, v);
  else storeTail(p, count, v);
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
  let i = start;
  for (; i + 4 <= end; i += 4) lanes(p, g, buf, pOut, bufOut, vs, vlr, vmu, vwd, flags, i, 4);
  // The last 1-3 elements in the low lanes of one vector: computed exactly as full lanes are.
  if (i < end) lanes(p, g, buf, pOut, bufOut, vs, vlr, vmu, vwd, flags, i, end - i);
}

/** The update of elements i .. i + count (count 1..4; 4 reads and writes whole vectors). */
// @ts-ignore: decorator
@inline function lanes(
  p: usize, g: usize, buf: usize, pOut: usize, bufOut: usize, vs: v128, lr: v128, mu: v128, wd: v128, flags: i32,
  i: i32, count: i32,
): void {
  const pv = load4(at(p, i), count);
  const gv = flags & SCALED ? f32x4.mul(load4(at(g, i), count), vs) : load4(at(g, i), count);
  let d = flags & DECAY ? f32x4.add(gv, f32x4.mul(pv, wd)) : gv;
  if (flags & MOMENTUM) {
    const nb = flags & HAS_BUF ? f32x4.add(f32x4.mul(load4(at(buf, i), count), mu), d) : d;
    store4(at(bufOut, i), count, nb);
    d = flags & NESTEROV ? f32x4.add(d, f32x4.mul(nb, mu)) : nb;
  }
  store4(at(pOut, i), count, f32x4.sub(pv, f32x4.mul(d, lr)));
}
