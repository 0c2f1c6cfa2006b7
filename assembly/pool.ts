// 2-D max pooling (floor mode, implicit −inf padding) with PyTorch's CPU semantics: the argmax
// is the flat index into each input h×w plane, starts at the window's first in-bounds element,
// and a NaN always takes over (so the last NaN of a window wins, as in PyTorch).
//
// Parameter block (i32): n c h w kh kw strideH strideW padH padW outH outW.
// Both kernels take a [start, end) range of planes (n·c), which never share memory.

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}

// @ts-ignore: decorator
@inline function p(params: usize, i: i32): i32 {
  return load<i32>(params + (<usize>i << 2));
}

/** One output of a window [hs, h1) × [ws, w1) (clipped to the plane), without branches. */
// @ts-ignore: decorator
@inline function poolScalar(xp: usize, w: i32, hs: i32, h1: i32, ws: i32, w1: i32, y: usize, argmax: usize, oi: i32): void {
  let best: f32 = -Infinity;
  let bestIndex = hs * w + ws;
  for (let ih = hs; ih < h1; ih++) {
    for (let iw = ws; iw < w1; iw++) {
      const index = ih * w + iw;
      const v = load<f32>(at(xp, index));
      const take = v > best || v != v;
      best = select<f32>(v, best, take);
      bestIndex = select<i32>(index, bestIndex, take);
    }
  }
  store<f32>(at(y, oi), best);
  store<i32>(at(argmax, oi), bestIndex);
}

/** x[p], x[p + s], x[p + 2s], x[p + 3s] (element stride s); `wide` allows reading x[p + 7] too. */
// @ts-ignore: decorator
@inline function gather4(p: usize, s: i32, wide: bool): v128 {
  if (s == 1) return v128.load(p);
  if (s == 2 && wide) return i32x4.shuffle(v128.load(p), v128.load(p, 16), 0, 2, 4, 6);
  const step = <usize>s << 2;
  let v = f32x4.splat(load<f32>(p));
  v = f32x4.replace_lane(v, 1, load<f32>(p + step));
  v = f32x4.replace_lane(v, 2, load<f32>(p + 2 * step));
  return f32x4.replace_lane(v, 3, load<f32>(p + 3 * step));
}

/**
 * Planes [start, end). Four neighbouring outputs whose windows lie inside the row are computed
 * together (one lane each); outputs at the left and right edges go one at a time.
 */
export function maxPool2dForward(x: usize, y: usize, argmax: usize, params: usize, start: i32, end: i32): void {
  const h = p(params, 2), w = p(params, 3);
  const kh = p(params, 4), kw = p(params, 5);
  const sh = p(params, 6), sw = p(params, 7);
  const ph = p(params, 8), pw = p(params, 9);
  const outH = p(params, 10), outW = p(params, 11);
  // Output columns [owLo, owHi) have windows fully inside [0, w).
  const owLo = min((pw + sw - 1) / sw, outW);
  const span = w - kw + pw; // the last interior window starts at ow · sw − pw ≤ w − kw
  const owHi = span < 0 ? owLo : max(min(span / sw + 1, outW), owLo);
  const lanes = i32x4(0, sw, 2 * sw, 3 * sw);
  for (let plane = start; plane < end; plane++) {
    const xp = at(x, plane * h * w);
    const o = plane * outH * outW;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * sh - ph;
      const h1 = min(h0 + kh, h);
      const hs = max(h0, 0);
      const rowOut = o + oh * outW;
      let ow = 0;
      for (; ow < owLo; ow++) {
        const w0 = ow * sw - pw;
        poolScalar(xp, w, hs, h1, max(w0, 0), min(w0 + kw, w), y, argmax, rowOut + ow);
      }
      for (; ow + 4 <= owHi; ow += 4) {
        const w0 = ow * sw - pw;
        // Reading one element past the last window is safe while it is still inside the row.
        const wide = w0 + 3 * sw + kw < w;
        let best = f32x4.splat(-Infinity);
        let bestIndex = i32x4.add(i32x4.splat(hs * w + w0), lanes);
        for (let ih = hs; ih < h1; ih++) {
          for (let kx = 0; kx < kw; kx++) {
            const index = ih * w + w0 + kx;
            const v = gather4(at(xp, index), sw, wide);
            const take = v128.or(f32x4.gt(v, best), f32x4.ne(v, v));
            best = v128.bitselect(v, best, take);
            bestIndex = v128.bitselect(i32x4.add(i32x4.splat(index), lanes), bestIndex, take);
          }
        }
        v128.store(at(y, rowOut + ow), best);
        v128.store(at(argmax, rowOut + ow), bestIndex);
      }
      for (; ow < outW; ow++) {
        const w0 = ow * sw - pw;
        poolScalar(xp, w, hs, h1, max(w0, 0), min(w0 + kw, w), y, argmax, rowOut + ow);
      }
    }
  }
}

/**
 * dx (zeroed here, plane by plane) receives each dy at its window's argmax. An index outside the
 * plane (argmax not produced by the forward) is ignored rather than written out of bounds.
 */
export function maxPool2dBackward(dy: usize, argmax: usize, dx: usize, params: usize, start: i32, end: i32): void {
  const hw = p(params, 2) * p(params, 3);
  const outHW = p(params, 10) * p(params, 11);
  for (let plane = start; plane < end; plane++) {
    const dxp = at(dx, plane * hw);
    memory.fill(dxp, 0, <usize>hw << 2);
    const o = plane * outHW;
    for (let i = 0; i < outHW; i++) {
      const a = load<i32>(at(argmax, o + i));
      if (<u32>a >= <u32>hw) continue;
      const target = at(dxp, a);
      store<f32>(target, load<f32>(target) + load<f32>(at(dy, o + i)));
    }
  }
}
