import { softmax } from '../engine/ops/nn.js';
import { noGrad } from '../engine/tape.js';
import type { Tensor } from '../engine/tensor.js';
import { batchedNms } from './batched-nms.js';
import type { BoxCoder } from './box-coder.js';
import { clipBoxes, type Boxes } from './boxes.js';
import type { Detections } from './faster-rcnn.js';
import type { TvBoxConfig } from './tv-presets.js';
import type { ImageSize } from './transform.js';

/**
 * torchvision's RoIHeads.postprocess_detections: softmax over the class logits [K, C], every
 * proposal decoded once per class (`coder`: weights 10, 10, 5, 5), clipped to its image's own
 * size; background dropped; candidates (proposal-major, class-minor) with probability above the
 * threshold and sides of at least 1e-2 kept; NMS per class; the first detectionsPerImg.
 * `proposals` are per image, in the order of the rows of `classLogits` and `boxRegression`.
 */
export async function postprocessDetections(
  classLogits: Tensor,
  boxRegression: Tensor,
  proposals: readonly Boxes[],
  imageSizes: readonly ImageSize[],
  cfg: TvBoxConfig,
  coder: BoxCoder,
): Promise<Detections[]> {
  const [k, classes] = classLogits.shape as [number, number];
  const total = proposals.reduce((s, p) => s + p.length / 4, 0);
  if (total !== k || boxRegression.shape[0] !== k || boxRegression.shape[1] !== classes * 4) {
    throw new Error(`kdet.postprocessDetections: ${total} proposals, logits [${classLogits.shape}], regression [${boxRegression.shape}]`);
  }
  if (imageSizes.length !== proposals.length) throw new Error(`kdet.postprocessDetections: ${proposals.length} images but ${imageSizes.length} sizes`);
  const probsT = noGrad(() => softmax(classLogits, 1));
  const [probs, deltas] = await Promise.all([probsT.data(), boxRegression.data()]).finally(() => probsT.dispose());
  const out: Detections[] = [];
  let offset = 0;
  for (const [img, props] of proposals.entries()) {
    const n = props.length / 4;
    const [height, width] = imageSizes[img]!;
    const boxes = clipBoxes(coder.decode(props, deltas.subarray(offset * classes * 4, (offset + n) * classes * 4) as Float32Array, classes), height, width);
    const candBoxes: number[] = [];
    const candScores: number[] = [];
    const candLabels: number[] = [];
    for (let i = 0; i < n; i++) {
      for (let c = 1; c < classes; c++) {
        const s = probs[(offset + i) * classes + c]!;
        if (!(s > cfg.scoreThresh)) continue;
        const o = (i * classes + c) * 4;
        if (boxes[o + 2]! - boxes[o]! < cfg.minSize || boxes[o + 3]! - boxes[o + 1]! < cfg.minSize) continue;
        candBoxes.push(boxes[o]!, boxes[o + 1]!, boxes[o + 2]!, boxes[o + 3]!);
        candScores.push(s);
        candLabels.push(c);
      }
    }
    offset += n;
    const cb = Float32Array.from(candBoxes);
    const cs = Float32Array.from(candScores);
    const kept = (await batchedNms(cb, cs, candLabels, cfg.nmsThresh, classLogits.backend)).subarray(0, cfg.detectionsPerImg);
    out.push({
      boxes: Float32Array.from({ length: kept.length * 4 }, (_, q) => cb[kept[q >> 2]! * 4 + (q & 3)]!),
      scores: Float32Array.from(kept, (i) => cs[i]!),
      labels: Int32Array.from(kept, (i) => candLabels[i]!),
    });
  }
  return out;
}
