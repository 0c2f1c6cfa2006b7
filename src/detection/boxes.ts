/**
 * Host-side box arithmetic on flat Float32Arrays of (x1, y1, x2, y2) rows. Matching and sampling
 * are data-dependent control flow with small sizes (thousands of anchors, tens of boxes), so they
 * run in JS on every backend; only differentiable work goes through the engine.
 */
export type Boxes = Float32Array;

export function boxCount(b: Boxes): number {
  return b.length / 4;
}

export function boxArea(b: Boxes, i: number): number {
  return (b[i * 4 + 2]! - b[i * 4]!) * (b[i * 4 + 3]! - b[i * 4 + 1]!);
}

/** IoU matrix [na, nb], row-major (torchvision.ops.box_iou, no +1 pixel convention). */
export function iouMatrix(a: Boxes, b: Boxes): Float32Array {
  const na = boxCount(a);
  const nb = boxCount(b);
  const out = new Float32Array(na * nb);
  for (let i = 0; i < na; i++) {
    const ax1 = a[i * 4]!, ay1 = a[i * 4 + 1]!, ax2 = a[i * 4 + 2]!, ay2 = a[i * 4 + 3]!;
    const areaA = (ax2 - ax1) * (ay2 - ay1);
    for (let j = 0; j < nb; j++) {
      const bx1 = b[j * 4]!, by1 = b[j * 4 + 1]!, bx2 = b[j * 4 + 2]!, by2 = b[j * 4 + 3]!;
      const w = Math.min(ax2, bx2) - Math.max(ax1, bx1);
      const h = Math.min(ay2, by2) - Math.max(ay1, by1);
      const inter = w > 0 && h > 0 ? w * h : 0;
      const union = areaA + (bx2 - bx1) * (by2 - by1) - inter;
      out[i * nb + j] = union > 0 ? inter / union : 0;
    }
  }
  return out;
}

/** Clip boxes in place to an image of height × width. */
export function clipBoxes(b: Boxes, height: number, width: number): Boxes {
  for (let i = 0; i < b.length; i += 4) {
    b[i] = Math.min(Math.max(b[i]!, 0), width);
    b[i + 1] = Math.min(Math.max(b[i + 1]!, 0), height);
    b[i + 2] = Math.min(Math.max(b[i + 2]!, 0), width);
    b[i + 3] = Math.min(Math.max(b[i + 3]!, 0), height);
  }
  return b;
}

/** Indices of boxes whose sides are both at least `minSize`. */
export function keepLarge(b: Boxes, minSize: number): number[] {
  const keep: number[] = [];
  for (let i = 0; i < boxCount(b); i++) {
    if (b[i * 4 + 2]! - b[i * 4]! >= minSize && b[i * 4 + 3]! - b[i * 4 + 1]! >= minSize) keep.push(i);
  }
  return keep;
}

/** Rows `idx` of a [n, k] array. */
export function takeRows<T extends Float32Array | Int32Array>(a: T, k: number, idx: ArrayLike<number>): T {
  const out = new (a.constructor as new (n: number) => T)(idx.length * k);
  for (let i = 0; i < idx.length; i++) out.set(a.subarray(idx[i]! * k, idx[i]! * k + k), i * k);
  return out;
}

/** Indices of the k largest values, largest first; ties keep the lower index first (stable). */
export function topK(values: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  idx.sort((i, j) => values[j]! - values[i]! || i - j);
  return idx.slice(0, Math.min(k, idx.length));
}
