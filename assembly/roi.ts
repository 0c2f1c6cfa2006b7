// RoIAlign and RoIPool, forward and backward, with torchvision 0.14's CPU semantics.
//
// RoIAlign is separable: a bin's value is Σ_samples Σ_corners wy·wx·x[row, col] and every rule
// of torchvision's bilinear_interpolate (out-of-map samples give 0, clamping to the last row or
// column) acts on y and x independently. So per ROI we build, for each bin row ph, the list of
// (feature row, Σ wy) over its samples and corners, and for each bin column pw the list of
// (feature column, Σ wx); a bin is then Σ_rows Σ_cols wy·wx·x over a handful of distinct pixels
// (duplicates merged), shared by all channels. Sample positions are computed in float32 with
// torchvision's exact expressions so that the same pixels are picked.
//
// The feature map is read (and the input gradient written) channels-last, [n, h, w, cStride], so
// that one pixel's channels are contiguous and the inner loop is 32 channels of SIMD per pixel;
// src/backends/wasm transposes around the calls. Kernels take a channel range [cStart, cEnd) (a
// multiple of 4): ranges never write the same memory, which is how a worker pool will split them.
//
// Parameter block (i32 slots): 0 n | 1 c | 2 h | 3 w | 4 k | 5 pooledH | 6 pooledW |
// 7 samplingRatio | 8 aligned | 9 spatialScale (f32 bits) | 10 cStride | 11 capH | 12 capW, where
// capH (capW) bounds the entries of one bin's list: 2·ratio for a fixed ratio (two per sample),
// h (w) for an adaptive one (its samples advance, so repeats merge and rows are distinct).
// `plan` is scratch for pooledH·(1 + 2 capH) + pooledW·(1 + 2 capW) i32.

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}

// @ts-ignore: decorator
@inline function p(params: usize, i: i32): i32 {
  return load<i32>(params + (<usize>i << 2));
}

/** Adds weight to `index` in a plan list (count, then (index, weight) pairs), merging repeats. */
// @ts-ignore: decorator
@inline function addEntry(list: usize, index: i32, weight: f32): void {
  const count = load<i32>(list);
  // Samples advance monotonically (retreat, for an inverted aligned box), so a repeat is usually
  // one of the last two entries; a missed one only adds an entry, never breaks the capacity.
  for (let e = count - 1; e >= max(count - 2, 0); e--) {
    const q = at(list, 1 + 2 * e);
    if (load<i32>(q) == index) {
      store<f32>(q, load<f32>(q, 4) + weight, 4);
      return;
    }
  }
  const q = at(list, 1 + 2 * count);
  store<i32>(q, index);
  store<f32>(q, weight, 4);
  store<i32>(list, count + 1);
}

/**
 * One axis of the plan: for each of `pooled` bins, the (pixel, Σ weight) list of its `grid`
 * samples, following torchvision's bilinear_interpolate along that axis.
 */
function planAxis(start: f32, binSize: f32, grid: i32, pooled: i32, size: i32, cap: i32, lists: usize): void {
  const stride = 1 + 2 * cap;
  for (let b = 0; b < pooled; b++) {
    const list = at(lists, b * stride);
    store<i32>(list, 0);
    for (let s = 0; s < grid; s++) {
      const pos: f32 = start + <f32>b * binSize + (<f32>s + 0.5) * binSize / <f32>grid;
      if (pos < -1.0 || pos > <f32>size) continue; // the whole sample is 0
      let v = pos <= 0 ? <f32>0 : pos;
      let lo = <i32>v;
      let hi = lo + 1;
      if (lo >= size - 1) {
        lo = hi = size - 1;
        v = <f32>lo;
      }
      const l = v - <f32>lo;
      addEntry(list, lo, <f32>1 - l);
      addEntry(list, hi, l);
    }
  }
}

/**
 * Plans ROI r into `plan` and returns its sample count gridH·gridW (torchvision divides a bin's sum
 * by max(count, 1); a count ≤ 0 comes with empty lists).
 */
function planRoi(rois: usize, r: i32, params: usize, plan: usize): i32 {
  const h = p(params, 2), w = p(params, 3);
  const pooledH = p(params, 5), pooledW = p(params, 6);
  const ratio = p(params, 7);
  const aligned = p(params, 8) != 0;
  const scale = load<f32>(params, 36);
  const capH = p(params, 11), capW = p(params, 12);
  const roi = at(rois, 5 * r);
  const offset: f32 = aligned ? 0.5 : 0.0;
  const startW = load<f32>(roi, 4) * scale - offset;
  const startH = load<f32>(roi, 8) * scale - offset;
  let roiW = load<f32>(roi, 12) * scale - offset - startW;
  let roiH = load<f32>(roi, 16) * scale - offset - startH;
  if (!aligned) {
    roiW = max(roiW, <f32>1);
    roiH = max(roiH, <f32>1);
  }
  const binH = roiH / <f32>pooledH;
  const binW = roiW / <f32>pooledW;
  const gridH = ratio > 0 ? ratio : <i32>Mathf.ceil(roiH / <f32>pooledH);
  const gridW = ratio > 0 ? ratio : <i32>Mathf.ceil(roiW / <f32>pooledW);
  planAxis(startH, binH, gridH, pooledH, h, capH, plan);
  planAxis(startW, binW, gridW, pooledW, w, capW, at(plan, pooledH * (1 + 2 * capH)));
  return gridH * gridW;
}

/** Stores lane l of v at out + l·stride for the lanes whose channel c0 + l is below c. */
// @ts-ignore: decorator
@inline function storeLanes(v: v128, out: usize, stride: usize, c0: i32, c: i32): void {
  if (c0 + 4 <= c) {
    store<f32>(out, f32x4.extract_lane(v, 0));
    store<f32>(out + stride, f32x4.extract_lane(v, 1));
    store<f32>(out + 2 * stride, f32x4.extract_lane(v, 2));
    store<f32>(out + 3 * stride, f32x4.extract_lane(v, 3));
    return;
  }
  if (c0 < c) store<f32>(out, f32x4.extract_lane(v, 0));
  if (c0 + 1 < c) store<f32>(out + stride, f32x4.extract_lane(v, 1));
  if (c0 + 2 < c) store<f32>(out + 2 * stride, f32x4.extract_lane(v, 2));
}

/** Lanes c0..c0+3 of dy at dy + l·stride (0 for channels ≥ c). */
// @ts-ignore: decorator
@inline function loadLanes(dy: usize, stride: usize, c0: i32, c: i32): v128 {
  let v = f32x4.splat(0);
  if (c0 < c) v = f32x4.replace_lane(v, 0, load<f32>(dy));
  if (c0 + 1 < c) v = f32x4.replace_lane(v, 1, load<f32>(dy + stride));
  if (c0 + 2 < c) v = f32x4.replace_lane(v, 2, load<f32>(dy + 2 * stride));
  if (c0 + 3 < c) v = f32x4.replace_lane(v, 3, load<f32>(dy + 3 * stride));
  return v;
}

/**
 * Rewrites a plan list's pixel indices as byte offsets (index · step) once per ROI, so that the
 * per-channel-chunk loops only add.
 */
function indicesToOffsets(lists: usize, count: i32, cap: i32, step: i32): void {
  for (let b = 0; b < count; b++) {
    const list = at(lists, b * (1 + 2 * cap));
    const n = load<i32>(list);
    for (let e = 0; e < n; e++) {
      const q = at(list, 1 + 2 * e);
      store<i32>(q, load<i32>(q) * step);
    }
  }
}

/** Plans ROI r with byte offsets (rows: · w · cStride · 4, columns: · cStride · 4). */
function planRoiOffsets(rois: usize, r: i32, params: usize, plan: usize): i32 {
  const count = planRoi(rois, r, params, plan);
  const w = p(params, 3), pooledH = p(params, 5), pooledW = p(params, 6);
  const cs = p(params, 10), capH = p(params, 11), capW = p(params, 12);
  indicesToOffsets(plan, pooledH, capH, w * cs * 4);
  indicesToOffsets(at(plan, pooledH * (1 + 2 * capH)), pooledW, capW, cs * 4);
  return count;
}

// A list entry is (offset: i32, weight: f32) at 4 + 8 e bytes from the list start.
// @ts-ignore: decorator
@inline function entryOffset(list: usize, e: i32): usize {
  return <usize>load<i32>(list + 4 + (<usize>e << 3));
}

// @ts-ignore: decorator
@inline function entryWeight(list: usize, e: i32): f32 {
  return load<f32>(list + 8 + (<usize>e << 3));
}

/**
 * out [k, c, pooledH, pooledW] for channels [cStart, cEnd) from xT [n, h, w, cStride]
 * (channels-last). `rois` is [k, 5] float32 (batch index, x1, y1, x2, y2). Channels go 32 at a
 * time (eight accumulators stay in registers while the bin's pixels stream by), then 4 at a time.
 */
export function roiAlignForward(xT: usize, rois: usize, out: usize, params: usize, plan: usize, cStart: i32, cEnd: i32): void {
  const c = p(params, 1), h = p(params, 2), w = p(params, 3), k = p(params, 4);
  const pooledH = p(params, 5), pooledW = p(params, 6);
  const cs = p(params, 10), capH = p(params, 11), capW = p(params, 12);
  const bins = pooledH * pooledW;
  const ls = <usize>bins << 2; // byte distance between channels of one output bin
  const colPlan = at(plan, pooledH * (1 + 2 * capH));
  for (let r = 0; r < k; r++) {
    const count = planRoiOffsets(rois, r, params, plan);
    const divisor = f32x4.splat(<f32>max(count, 1));
    const image = at(xT, <i32>load<f32>(at(rois, 5 * r)) * h * w * cs);
    for (let ph = 0; ph < pooledH; ph++) {
      const rows = at(plan, ph * (1 + 2 * capH));
      const nRows = load<i32>(rows);
      for (let pw = 0; pw < pooledW; pw++) {
        const cols = at(colPlan, pw * (1 + 2 * capW));
        const nCols = load<i32>(cols);
        const outBin = at(out, r * c * bins + ph * pooledW + pw);
        let c0 = cStart;
        for (; c0 + 32 <= cEnd; c0 += 32) {
          let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
          const chunk = at(image, c0);
          for (let i = 0; i < nRows; i++) {
            const wy = entryWeight(rows, i);
            const rowBase = chunk + entryOffset(rows, i);
            for (let j = 0; j < nCols; j++) {
              const wgt = f32x4.splat(wy * entryWeight(cols, j));
              const q = rowBase + entryOffset(cols, j);
              a0 = f32x4.add(a0, f32x4.mul(wgt, v128.load(q)));
              a1 = f32x4.add(a1, f32x4.mul(wgt, v128.load(q, 16)));
              a2 = f32x4.add(a2, f32x4.mul(wgt, v128.load(q, 32)));
              a3 = f32x4.add(a3, f32x4.mul(wgt, v128.load(q, 48)));
              a4 = f32x4.add(a4, f32x4.mul(wgt, v128.load(q, 64)));
              a5 = f32x4.add(a5, f32x4.mul(wgt, v128.load(q, 80)));
              a6 = f32x4.add(a6, f32x4.mul(wgt, v128.load(q, 96)));
              a7 = f32x4.add(a7, f32x4.mul(wgt, v128.load(q, 112)));
            }
          }
          const o = outBin + <usize>c0 * ls;
          storeLanes(f32x4.div(a0, divisor), o, ls, c0, c);
          storeLanes(f32x4.div(a1, divisor), o + 4 * ls, ls, c0 + 4, c);
          storeLanes(f32x4.div(a2, divisor), o + 8 * ls, ls, c0 + 8, c);
          storeLanes(f32x4.div(a3, divisor), o + 12 * ls, ls, c0 + 12, c);
          storeLanes(f32x4.div(a4, divisor), o + 16 * ls, ls, c0 + 16, c);
          storeLanes(f32x4.div(a5, divisor), o + 20 * ls, ls, c0 + 20, c);
          storeLanes(f32x4.div(a6, divisor), o + 24 * ls, ls, c0 + 24, c);
          storeLanes(f32x4.div(a7, divisor), o + 28 * ls, ls, c0 + 28, c);
        }
        for (; c0 < cEnd; c0 += 4) {
          let a0 = f32x4.splat(0);
          const chunk = at(image, c0);
          for (let i = 0; i < nRows; i++) {
            const wy = entryWeight(rows, i);
            const rowBase = chunk + entryOffset(rows, i);
            for (let j = 0; j < nCols; j++) {
              a0 = f32x4.add(a0, f32x4.mul(f32x4.splat(wy * entryWeight(cols, j)), v128.load(rowBase + entryOffset(cols, j))));
            }
          }
          storeLanes(f32x4.div(a0, divisor), outBin + <usize>c0 * ls, ls, c0, c);
        }
      }
    }
  }
}

/** q[16 l] += wgt · g for one 16-byte lane group at byte offset `off`. */
// @ts-ignore: decorator
@inline function accumulate(q: usize, off: usize, wgt: v128, g: v128): void {
  v128.store(q + off, f32x4.add(v128.load(q + off), f32x4.mul(wgt, g)));
}

/**
 * The adjoint of roiAlignForward: dxT [n, h, w, cStride] (channels-last, zeroed by the caller)
 * accumulates dy [k, c, pooledH, pooledW] for channels [cStart, cEnd), ROIs in order.
 */
export function roiAlignBackward(dy: usize, rois: usize, dxT: usize, params: usize, plan: usize, cStart: i32, cEnd: i32): void {
  const c = p(params, 1), h = p(params, 2), w = p(params, 3), k = p(params, 4);
  const pooledH = p(params, 5), pooledW = p(params, 6);
  const cs = p(params, 10), capH = p(params, 11), capW = p(params, 12);
  const bins = pooledH * pooledW;
  const ls = <usize>bins << 2;
  const colPlan = at(plan, pooledH * (1 + 2 * capH));
  for (let r = 0; r < k; r++) {
    const count = planRoiOffsets(rois, r, params, plan);
    if (count == 0) continue;
    const divisor = f32x4.splat(<f32>count);
    const image = at(dxT, <i32>load<f32>(at(rois, 5 * r)) * h * w * cs);
    for (let ph = 0; ph < pooledH; ph++) {
      const rows = at(plan, ph * (1 + 2 * capH));
      const nRows = load<i32>(rows);
      for (let pw = 0; pw < pooledW; pw++) {
        const cols = at(colPlan, pw * (1 + 2 * capW));
        const nCols = load<i32>(cols);
        const dyBin = at(dy, r * c * bins + ph * pooledW + pw);
        let c0 = cStart;
        for (; c0 + 32 <= cEnd; c0 += 32) {
          const g = dyBin + <usize>c0 * ls;
          const g0 = f32x4.div(loadLanes(g, ls, c0, c), divisor);
          const g1 = f32x4.div(loadLanes(g + 4 * ls, ls, c0 + 4, c), divisor);
          const g2 = f32x4.div(loadLanes(g + 8 * ls, ls, c0 + 8, c), divisor);
          const g3 = f32x4.div(loadLanes(g + 12 * ls, ls, c0 + 12, c), divisor);
          const g4 = f32x4.div(loadLanes(g + 16 * ls, ls, c0 + 16, c), divisor);
          const g5 = f32x4.div(loadLanes(g + 20 * ls, ls, c0 + 20, c), divisor);
          const g6 = f32x4.div(loadLanes(g + 24 * ls, ls, c0 + 24, c), divisor);
          const g7 = f32x4.div(loadLanes(g + 28 * ls, ls, c0 + 28, c), divisor);
          const chunk = at(image, c0);
          for (let i = 0; i < nRows; i++) {
            const wy = entryWeight(rows, i);
            const rowBase = chunk + entryOffset(rows, i);
            for (let j = 0; j < nCols; j++) {
              const wgt = f32x4.splat(wy * entryWeight(cols, j));
              const q = rowBase + entryOffset(cols, j);
              accumulate(q, 0, wgt, g0);
              accumulate(q, 16, wgt, g1);
              accumulate(q, 32, wgt, g2);
              accumulate(q, 48, wgt, g3);
              accumulate(q, 64, wgt, g4);
              accumulate(q, 80, wgt, g5);
              accumulate(q, 96, wgt, g6);
              accumulate(q, 112, wgt, g7);
            }
          }
        }
        for (; c0 < cEnd; c0 += 4) {
          const g0 = f32x4.div(loadLanes(dyBin + <usize>c0 * ls, ls, c0, c), divisor);
          const chunk = at(image, c0);
          for (let i = 0; i < nRows; i++) {
            const wy = entryWeight(rows, i);
            const rowBase = chunk + entryOffset(rows, i);
            for (let j = 0; j < nCols; j++) accumulate(rowBase + entryOffset(cols, j), 0, f32x4.splat(wy * entryWeight(cols, j)), g0);
          }
        }
      }
    }
  }
}

/** C's round(): halves away from zero (JavaScript's Math.round sends −2.5 to −2). */
// @ts-ignore: decorator
@inline function roundHalfAway(v: f32): i32 {
  const t = Mathf.trunc(v);
  return <i32>(Mathf.abs(v - t) >= 0.5 ? t + Mathf.sign(v) : t);
}

/** Bin [start, end) of ROI r along one axis, as torchvision's roi_pool (clipped to the map). */
// @ts-ignore: decorator
@inline function poolBin(roiStart: i32, binSize: f32, b: i32, size: i32, isEnd: bool): i32 {
  const edge = isEnd ? <i32>Mathf.ceil(<f32>(b + 1) * binSize) : <i32>Mathf.floor(<f32>b * binSize);
  return min(max(edge + roiStart, 0), size);
}

/**
 * RoIPool forward for channels [cStart, cEnd) on the NCHW map: out and argmax [k, c, ph, pw];
 * an empty bin gives 0 and argmax −1; otherwise the first strict maximum from −FLT_MAX.
 */
export function roiPoolForward(x: usize, rois: usize, out: usize, argmax: usize, params: usize, cStart: i32, cEnd: i32): void {
  const c = p(params, 1), h = p(params, 2), w = p(params, 3), k = p(params, 4);
  const pooledH = p(params, 5), pooledW = p(params, 6);
  const scale = load<f32>(params, 36);
  const bins = pooledH * pooledW;
  for (let r = 0; r < k; r++) {
    const roi = at(rois, 5 * r);
    const batch = <i32>load<f32>(roi);
    const x1 = roundHalfAway(load<f32>(roi, 4) * scale);
    const y1 = roundHalfAway(load<f32>(roi, 8) * scale);
    const x2 = roundHalfAway(load<f32>(roi, 12) * scale);
    const y2 = roundHalfAway(load<f32>(roi, 16) * scale);
    const binH = <f32>max(y2 - y1 + 1, 1) / <f32>pooledH;
    const binW = <f32>max(x2 - x1 + 1, 1) / <f32>pooledW;
    for (let ph = 0; ph < pooledH; ph++) {
      const hs = poolBin(y1, binH, ph, h, false), he = poolBin(y1, binH, ph, h, true);
      for (let pw = 0; pw < pooledW; pw++) {
        const ws = poolBin(x1, binW, pw, w, false), we = poolBin(x1, binW, pw, w, true);
        const empty = he <= hs || we <= ws;
        for (let ch = cStart; ch < cEnd; ch++) {
          const plane = at(x, (batch * c + ch) * h * w);
          let best: f32 = empty ? 0 : -3.4028234663852886e38;
          let bestIndex = -1;
          for (let ih = hs; ih < he; ih++) {
            for (let iw = ws; iw < we; iw++) {
              const v = load<f32>(at(plane, ih * w + iw));
              if (v > best) {
                best = v;
                bestIndex = ih * w + iw;
              }
            }
          }
          const o = (r * c + ch) * bins + ph * pooledW + pw;
          store<f32>(at(out, o), best);
          store<i32>(at(argmax, o), bestIndex);
        }
      }
    }
  }
}

/** dx (NCHW, zeroed by the caller) += dy at each bin's argmax, for channels [cStart, cEnd). */
export function roiPoolBackward(dy: usize, argmax: usize, rois: usize, dx: usize, params: usize, cStart: i32, cEnd: i32): void {
  const c = p(params, 1), h = p(params, 2), w = p(params, 3), k = p(params, 4);
  const bins = p(params, 5) * p(params, 6);
  const hw = h * w;
  for (let r = 0; r < k; r++) {
    const batch = <i32>load<f32>(at(rois, 5 * r));
    for (let ch = cStart; ch < cEnd; ch++) {
      const plane = at(dx, (batch * c + ch) * hw);
      const o = (r * c + ch) * bins;
      for (let b = 0; b < bins; b++) {
        const a = load<i32>(at(argmax, o + b));
        if (<u32>a >= <u32>hw) continue; // −1: empty bin
        const q = at(plane, a);
        store<f32>(q, load<f32>(q) + load<f32>(at(dy, o + b)));
      }
    }
  }
}
