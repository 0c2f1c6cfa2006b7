import type { Backend } from '../engine/backend.js';
import { tensor } from '../engine/ops/creation.js';
import { nmsKeep } from '../engine/ops/detection.js';
import type { Boxes } from './boxes.js';

/**
 * Above this many coordinates torchvision's batched_nms runs one NMS per group, below it one NMS
 * on boxes shifted apart per group (ops/boxes.py, the CPU threshold; CUDA's is 20000). The two
 * keep the same boxes up to float32 rounding of the shifted coordinates, so kdet follows the CPU
 * rule on every backend: the fixtures are torchvision's CPU answers.
 */
export const VANILLA_ABOVE_COORDINATES = 4000;

/** torchvision.ops.nms on host arrays: kept indices by decreasing score (the backend's kernel). */
export async function nmsIndices(boxes: Boxes, scores: Float32Array, iouThreshold: number, backend: Backend): Promise<Int32Array> {
  const n = scores.length;
  if (n === 0) return new Int32Array(0);
  const bt = tensor(boxes, [n, 4], { backend });
  const st = tensor(scores, [n], { backend });
  try {
    return Int32Array.from(await nmsKeep(bt, st, iouThreshold));
  } finally {
    bt.dispose();
    st.dispose();
  }
}

/**
 * torchvision.ops.batched_nms: NMS independently per group `idxs[i]` (a class, or an FPN level
 * for the RPN), returning the kept indices sorted by decreasing score.
 */
export async function batchedNms(
  boxes: Boxes,
  scores: Float32Array,
  idxs: ArrayLike<number>,
  iouThreshold: number,
  backend: Backend,
): Promise<Int32Array> {
  const n = scores.length;
  if (n === 0) return new Int32Array(0);
  if (n * 4 > VANILLA_ABOVE_COORDINATES) return perGroup(boxes, scores, idxs, iouThreshold, backend);
  return nmsIndices(shiftApart(boxes, idxs), scores, iouThreshold, backend);
}

/**
 * _batched_nms_coordinate_trick: every box moved by idx · (max coordinate + 1), so that boxes of
 * different groups never overlap. In float32 as torch does it (the Float32Array stores round each
 * product and sum once, as float32 arithmetic would), so the IoUs the NMS sees are torchvision's.
 */
function shiftApart(boxes: Boxes, idxs: ArrayLike<number>): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < boxes.length; i++) max = Math.max(max, boxes[i]!);
  const step = Math.fround(max + 1);
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < idxs.length; i++) {
    const offset = Math.fround(idxs[i]! * step);
    for (let j = 0; j < 4; j++) out[i * 4 + j] = boxes[i * 4 + j]! + offset;
  }
  return out;
}

/**
 * _batched_nms_vanilla: one NMS per group (groups in increasing order), the survivors in index
 * order, then sorted by decreasing score (stably: equal scores keep the lower index first).
 */
async function perGroup(boxes: Boxes, scores: Float32Array, idxs: ArrayLike<number>, iouThreshold: number, backend: Backend): Promise<Int32Array> {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < idxs.length; i++) {
    const g = idxs[i]!;
    const members = groups.get(g);
    if (members) members.push(i);
    else groups.set(g, [i]);
  }
  const keep = new Uint8Array(scores.length);
  for (const g of [...groups.keys()].sort((a, b) => a - b)) {
    const members = groups.get(g)!;
    const sub = new Float32Array(members.length * 4);
    members.forEach((m, j) => sub.set(boxes.subarray(m * 4, m * 4 + 4), j * 4));
    const kept = await nmsIndices(sub, Float32Array.from(members, (m) => scores[m]!), iouThreshold, backend);
    for (const j of kept) keep[members[j]!] = 1;
  }
  const kept: number[] = [];
  keep.forEach((k, i) => k && kept.push(i));
  kept.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return Int32Array.from(kept);
}
