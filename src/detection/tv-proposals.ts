import type { Backend } from '../engine/backend.js';
import { batchedNms } from './batched-nms.js';
import { BoxCoder } from './box-coder.js';
import { clipBoxes, keepLarge, takeRows, type Boxes } from './boxes.js';
import type { TvRPNConfig } from './tv-presets.js';
import type { ImageSize } from './transform.js';

export interface Proposals {
  /** Per image, [n, 4] boxes by decreasing objectness. */
  boxes: Boxes[];
  /** Per image, sigmoid(objectness) of each box. */
  scores: Float32Array[];
}

/** The RPN's coder: torchvision's BoxCoder(weights=(1, 1, 1, 1)). */
export const RPN_BOX_CODER = new BoxCoder([1, 1, 1, 1]);

/**
 * Indices (within one image's M anchors) of the top `k` objectness logits of each level, level by
 * level, each level's best first (torchvision's _get_top_n_idx; ties keep the lower index first).
 */
export function topNPerLevel(logits: ArrayLike<number>, numAnchorsPerLevel: readonly number[], k: number): { index: Int32Array; level: Int32Array } {
  const index: number[] = [];
  const level: number[] = [];
  let offset = 0;
  numAnchorsPerLevel.forEach((n, l) => {
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => logits[offset + b]! - logits[offset + a]! || a - b);
    for (const i of order.slice(0, Math.min(k, n))) {
      index.push(offset + i);
      level.push(l);
    }
    offset += n;
  });
  return { index: Int32Array.from(index), level: Int32Array.from(level) };
}

/**
 * torchvision's RegionProposalNetwork.filter_proposals, per image: the top pre-NMS-n anchors of
 * each level by objectness logit, decoded (BoxCoder 1, 1, 1, 1), clipped to the image's own size,
 * boxes under 1e-3 px dropped, then those with sigmoid score below the threshold, NMS per level
 * (batched_nms with the level as the group), and the best post-NMS-n kept.
 *
 * `objectness` is [N·M] logits, `deltas` [N·M·4], both image-major in the anchor order (what
 * concatBoxPredictionLayers gives, read back); `anchors` [M, 4] are every image's.
 */
export async function filterProposals(
  objectness: Float32Array,
  deltas: Float32Array,
  anchors: Boxes,
  imageSizes: readonly ImageSize[],
  numAnchorsPerLevel: readonly number[],
  cfg: TvRPNConfig,
  training: boolean,
  backend: Backend,
): Promise<Proposals> {
  const m = anchors.length / 4;
  const n = imageSizes.length;
  if (objectness.length !== n * m || deltas.length !== n * m * 4) {
    throw new Error(`kdet.filterProposals: ${objectness.length} logits and ${deltas.length / 4} deltas for ${n} images of ${m} anchors`);
  }
  if (numAnchorsPerLevel.reduce((s, c) => s + c, 0) !== m) {
    throw new Error(`kdet.filterProposals: levels of [${numAnchorsPerLevel}] anchors do not add up to ${m}`);
  }
  const preN = training ? cfg.preNmsTopN.training : cfg.preNmsTopN.testing;
  const postN = training ? cfg.postNmsTopN.training : cfg.postNmsTopN.testing;
  const out: Proposals = { boxes: [], scores: [] };
  for (let img = 0; img < n; img++) {
    const logits = objectness.subarray(img * m, (img + 1) * m);
    const { index, level } = topNPerLevel(logits, numAnchorsPerLevel, preN);
    const [height, width] = imageSizes[img]!;
    const own = deltas.subarray(img * m * 4, (img + 1) * m * 4);
    const boxes = clipBoxes(RPN_BOX_CODER.decode(takeRows(anchors, 4, index), takeRows(own, 4, index)), height, width);
    // Scores rounded to float32 as torch's are: the threshold compares what torchvision's compares.
    const scores = Float32Array.from(index, (i) => 1 / (1 + Math.exp(-logits[i]!)));
    const keep = keepLarge(boxes, cfg.minSize).filter((i) => scores[i]! >= cfg.scoreThresh);
    const kb = takeRows(boxes, 4, keep);
    const ks = Float32Array.from(keep, (i) => scores[i]!);
    const kept = (await batchedNms(kb, ks, Int32Array.from(keep, (i) => level[i]!), cfg.nmsThresh, backend)).subarray(0, postN);
    out.boxes.push(takeRows(kb, 4, kept));
    out.scores.push(Float32Array.from(kept, (i) => ks[i]!));
  }
  return out;
}
