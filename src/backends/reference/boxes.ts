/** Pairwise IoU as torchvision.ops.box_iou: areas without the +1 pixel, intersection clamped at 0. */
export function boxIou(a: Float64Array, na: number, b: Float64Array, nb: number): Float64Array {
  const out = new Float64Array(na * nb);
  for (let i = 0; i < na; i++) {
    for (let j = 0; j < nb; j++) out[i * nb + j] = iou(a, i, b, j);
  }
  return out;
}

function iou(a: Float64Array, i: number, b: Float64Array, j: number): number {
  const [ax1, ay1, ax2, ay2] = [a[i * 4]!, a[i * 4 + 1]!, a[i * 4 + 2]!, a[i * 4 + 3]!];
  const [bx1, by1, bx2, by2] = [b[j * 4]!, b[j * 4 + 1]!, b[j * 4 + 2]!, b[j * 4 + 3]!];
  const areaA = (ax2 - ax1) * (ay2 - ay1);
  const areaB = (bx2 - bx1) * (by2 - by1);
  const w = Math.max(Math.min(ax2, bx2) - Math.max(ax1, bx1), 0);
  const h = Math.max(Math.min(ay2, by2) - Math.max(ay1, by1), 0);
  const inter = w * h;
  return inter / (areaA + areaB - inter);
}

/**
 * Greedy NMS as torchvision.ops.nms: visit boxes by score descending (a stable sort, so equal
 * scores go lower index first), keep a box unless a kept box overlaps it with IoU strictly above
 * the threshold.
 */
export function nms(boxes: Float64Array, scores: Float64Array, n: number, iouThreshold: number): Int32Array {
  const order = [...Array(n).keys()].sort((p, q) => byScoreDescending(scores[p]!, scores[q]!) || p - q);
  const suppressed = new Uint8Array(n);
  const keep: number[] = [];
  for (let a = 0; a < n; a++) {
    const i = order[a]!;
    if (suppressed[i]) continue;
    keep.push(i);
    for (let b = a + 1; b < n; b++) {
      const j = order[b]!;
      if (!suppressed[j] && iou(boxes, i, boxes, j) > iouThreshold) suppressed[j] = 1;
    }
  }
  return Int32Array.from(keep);
}

/** Descending order with NaN first, as torch.sort(descending=True). */
function byScoreDescending(s: number, t: number): number {
  if (Number.isNaN(s) || Number.isNaN(t)) return Number(Number.isNaN(t)) - Number(Number.isNaN(s));
  return t - s;
}
