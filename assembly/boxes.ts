// Box kernels with torchvision's arithmetic: pairwise IoU (torchvision.ops.box_iou) and greedy
// non-maximum suppression (torchvision.ops.nms). Boxes are [N, 4] rows of (x1, y1, x2, y2).

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}

/**
 * Splits b [nb, 4] into five planes of `stride` floats (x1, y1, x2, y2, area), zero-padded to a
 * multiple of 4, so that boxIou can take four b boxes per vector.
 */
export function boxIouPrepare(b: usize, nb: i32, planes: usize, stride: i32): void {
  memory.fill(planes, 0, <usize>(5 * stride) << 2);
  for (let j = 0; j < nb; j++) {
    const q = at(b, 4 * j);
    const x1 = load<f32>(q), y1 = load<f32>(q, 4), x2 = load<f32>(q, 8), y2 = load<f32>(q, 12);
    store<f32>(at(planes, j), x1);
    store<f32>(at(planes, stride + j), y1);
    store<f32>(at(planes, 2 * stride + j), x2);
    store<f32>(at(planes, 3 * stride + j), y2);
    store<f32>(at(planes, 4 * stride + j), (x2 - x1) * (y2 - y1));
  }
}

/**
 * y [na, nb] rows [start, end): inter / (area_a + area_b − inter) with NaN-propagating max/min
 * and clamp as the tensor expression in torchvision (0 / 0 gives NaN there too).
 */
export function boxIou(a: usize, planes: usize, stride: i32, nb: i32, y: usize, start: i32, end: i32): void {
  const zero = f32x4.splat(0);
  for (let i = start; i < end; i++) {
    const q = at(a, 4 * i);
    const ax1 = load<f32>(q), ay1 = load<f32>(q, 4), ax2 = load<f32>(q, 8), ay2 = load<f32>(q, 12);
    const vx1 = f32x4.splat(ax1), vy1 = f32x4.splat(ay1), vx2 = f32x4.splat(ax2), vy2 = f32x4.splat(ay2);
    const areaA = f32x4.splat((ax2 - ax1) * (ay2 - ay1));
    const yi = at(y, i * nb);
    for (let j = 0; j < nb; j += 4) {
      const w = f32x4.max(f32x4.sub(f32x4.min(vx2, v128.load(at(planes, 2 * stride + j))), f32x4.max(vx1, v128.load(at(planes, j)))), zero);
      const h = f32x4.max(f32x4.sub(f32x4.min(vy2, v128.load(at(planes, 3 * stride + j))), f32x4.max(vy1, v128.load(at(planes, stride + j)))), zero);
      const inter = f32x4.mul(w, h);
      const iou = f32x4.div(inter, f32x4.sub(f32x4.add(areaA, v128.load(at(planes, 4 * stride + j))), inter));
      if (j + 4 <= nb) {
        v128.store(at(yi, j), iou);
      } else {
        store<f32>(at(yi, j), f32x4.extract_lane(iou, 0));
        if (j + 1 < nb) store<f32>(at(yi, j + 1), f32x4.extract_lane(iou, 1));
        if (j + 2 < nb) store<f32>(at(yi, j + 2), f32x4.extract_lane(iou, 2));
      }
    }
  }
}

/** Whether box index a ranks before b: higher score first, NaN above all, then lower index. */
// @ts-ignore: decorator
@inline function before(scores: usize, a: i32, b: i32): bool {
  const sa = load<f32>(at(scores, a));
  const sb = load<f32>(at(scores, b));
  if (sa != sa) return sb == sb || a < b;
  if (sb != sb) return false;
  return sa > sb || (sa == sb && a < b);
}

/** Stable bottom-up merge sort of order[0..n) by `before`, through tmp (n i32). */
function sortByScore(scores: usize, order: usize, tmp: usize, n: i32): void {
  let src = order;
  let dst = tmp;
  for (let width = 1; width < n; width <<= 1) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = min(lo + width, n);
      const hi = min(lo + 2 * width, n);
      let i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        const a = load<i32>(at(src, i));
        const b = load<i32>(at(src, j));
        // Take from the right run only when strictly before: ties keep the left (lower) first.
        if (before(scores, b, a)) {
          store<i32>(at(dst, k++), b);
          j++;
        } else {
          store<i32>(at(dst, k++), a);
          i++;
        }
      }
      while (i < mid) store<i32>(at(dst, k++), load<i32>(at(src, i++)));
      while (j < hi) store<i32>(at(dst, k++), load<i32>(at(src, j++)));
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src != order) memory.copy(order, src, <usize>n << 2);
}

/**
 * Greedy NMS: writes the kept indices, best first, to `keep` and returns how many. A box is
 * suppressed by a kept one when their IoU (float32, as torchvision) exceeds the threshold;
 * `threshold` is the largest float32 not above torchvision's float64 threshold, so that the
 * float32 comparison decides exactly as torchvision's promoted one.
 *
 * The boxes are copied in score order into five planes (x1, y1, x2, y2, area), so that each kept
 * box is compared with four later boxes per vector. Comparing with an already suppressed box is
 * harmless (it stays suppressed) and cheaper than skipping it. std::max(a, b) is (a < b) ? b : a,
 * exactly pmax; std::min is pmin.
 *
 * Scratch: order and tmp (n i32 each), planes (5 · stride f32, stride = n rounded up to 4) and
 * suppressed (stride i32, one flag per sorted position).
 */
export function nms(
  boxes: usize, scores: usize, n: i32, threshold: f32, order: usize, tmp: usize, planes: usize, stride: i32,
  suppressed: usize, keep: usize,
): i32 {
  for (let i = 0; i < n; i++) store<i32>(at(order, i), i);
  sortByScore(scores, order, tmp, n);
  memory.fill(planes, 0, <usize>(5 * stride) << 2);
  memory.fill(suppressed, 0, <usize>stride << 2);
  for (let k = 0; k < n; k++) {
    const q = at(boxes, 4 * load<i32>(at(order, k)));
    const x1 = load<f32>(q), y1 = load<f32>(q, 4), x2 = load<f32>(q, 8), y2 = load<f32>(q, 12);
    store<f32>(at(planes, k), x1);
    store<f32>(at(planes, stride + k), y1);
    store<f32>(at(planes, 2 * stride + k), x2);
    store<f32>(at(planes, 3 * stride + k), y2);
    store<f32>(at(planes, 4 * stride + k), (x2 - x1) * (y2 - y1));
  }
  const thr = f32x4.splat(threshold);
  const zero = f32x4.splat(0);
  let kept = 0;
  for (let k = 0; k < n; k++) {
    if (load<i32>(at(suppressed, k))) continue;
    store<i32>(at(keep, kept++), load<i32>(at(order, k)));
    const ix1 = f32x4.splat(load<f32>(at(planes, k)));
    const iy1 = f32x4.splat(load<f32>(at(planes, stride + k)));
    const ix2 = f32x4.splat(load<f32>(at(planes, 2 * stride + k)));
    const iy2 = f32x4.splat(load<f32>(at(planes, 3 * stride + k)));
    const iarea = f32x4.splat(load<f32>(at(planes, 4 * stride + k)));
    // From the vector holding k + 1; lanes at or before k are masked out of the update.
    const first = (k + 1) & ~3;
    for (let j = first; j < n; j += 4) {
      const w = f32x4.pmax(zero, f32x4.sub(f32x4.pmin(ix2, v128.load(at(planes, 2 * stride + j))), f32x4.pmax(ix1, v128.load(at(planes, j)))));
      const h = f32x4.pmax(zero, f32x4.sub(f32x4.pmin(iy2, v128.load(at(planes, 3 * stride + j))), f32x4.pmax(iy1, v128.load(at(planes, stride + j)))));
      const inter = f32x4.mul(w, h);
      const ovr = f32x4.div(inter, f32x4.sub(f32x4.add(iarea, v128.load(at(planes, 4 * stride + j))), inter));
      let hit = f32x4.gt(ovr, thr);
      if (j < k + 1) hit = v128.and(hit, laterLanes(k + 1 - j));
      const flags = at(suppressed, j);
      v128.store(flags, v128.or(v128.load(flags), hit));
    }
  }
  return kept;
}

/** Lane mask selecting lanes ≥ skip (skip in 1..3). */
function laterLanes(skip: i32): v128 {
  if (skip == 1) return i32x4(0, -1, -1, -1);
  if (skip == 2) return i32x4(0, 0, -1, -1);
  return i32x4(0, 0, 0, -1);
}
