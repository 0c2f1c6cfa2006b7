import { tensor } from '../engine/ops/creation.js';
import { nmsKeep } from '../engine/ops/detection.js';
import { softmax } from '../engine/ops/nn.js';
import { scope } from '../engine/scope.js';
import { noGrad } from '../engine/tape.js';
import type { Tensor } from '../engine/tensor.js';
import type { Backend } from '../engine/backend.js';
import { clipBoxes } from './boxes.js';
import type { Detections, FasterRCNN } from './faster-rcnn.js';
import { poolRois } from './roi-heads.js';
import { proposals } from './rpn.js';
import { checkSizes, type ImageSize } from './transform.js';

/**
 * Inference: proposals with the test-time settings, the box head on them, then per image
 * torchvision's postprocess_detections: class-specific decoding, clipping, score threshold,
 * tiny-box removal, NMS per class and the top detections.
 *
 * Boxes are clipped to `imageSizes` (each image's own [height, width] inside the padded batch,
 * torchvision's image_sizes) when given, else to the batch's height and width, as before
 * per-image sizes existed.
 */
export async function detect(model: FasterRCNN, images: Tensor, imageSizes?: readonly ImageSize[]): Promise<Detections[]> {
  return noGrad(() =>
    scope(async () => {
      const n = images.shape[0]!;
      const padded: ImageSize = [images.shape[2]!, images.shape[3]!];
      const sizes = imageSizes ?? Array.from({ length: n }, () => padded);
      checkSizes(sizes, n, padded, 'FasterRCNN.detect');
      const cfg = model.config;
      const features = model.features(images);
      const anchors = model.anchorsFor(features);
      const rpnOut = model.rpnHead.forward(features);
      const props = await proposals(rpnOut.logits, rpnOut.deltas, anchors, n, sizes, cfg.rpn, model.rpnCoder, false);
      const rois = new Float32Array(props.reduce((s, p) => s + (p.length / 4) * 5, 0));
      let k = 0;
      props.forEach((p, img) => {
        for (let i = 0; i < p.length; i += 4) {
          rois.set([img, p[i]!, p[i + 1]!, p[i + 2]!, p[i + 3]!], k);
          k += 5;
        }
      });
      const head = model.boxHead.forward(poolRois(features, rois, model.stride, cfg.roiHeads));
      const [probs, deltas] = await Promise.all([softmax(head.logits, 1).data(), head.deltas.data()]);
      const out: Detections[] = [];
      let offset = 0;
      for (const [img, p] of props.entries()) {
        const count = p.length / 4;
        out.push(
          await postprocessImage(
            model,
            p,
            probs.subarray(offset * (cfg.numClasses + 1), (offset + count) * (cfg.numClasses + 1)) as Float32Array,
            deltas.subarray(offset * (cfg.numClasses + 1) * 4, (offset + count) * (cfg.numClasses + 1) * 4) as Float32Array,
            sizes[img]!,
            images.backend,
          ),
        );
        offset += count;
      }
      return out;
    }),
  );
}

async function postprocessImage(
  model: FasterRCNN,
  props: Float32Array,
  probs: Float32Array,
  deltas: Float32Array,
  size: ImageSize,
  backend: Backend,
): Promise<Detections> {
  const cfg = model.config.roiHeads;
  const classes = model.config.numClasses + 1;
  const [height, width] = size;
  const boxes = clipBoxes(model.roiCoder.decode(props, deltas, classes), height, width);
  const candBoxes: number[] = [];
  const candScores: number[] = [];
  const candLabels: number[] = [];
  for (let i = 0; i < props.length / 4; i++) {
    for (let c = 1; c < classes; c++) {
      const s = probs[i * classes + c]!;
      if (s <= cfg.scoreThreshold) continue;
      const o = (i * classes + c) * 4;
      const x1 = boxes[o]!, y1 = boxes[o + 1]!, x2 = boxes[o + 2]!, y2 = boxes[o + 3]!;
      if (x2 - x1 < cfg.minSize || y2 - y1 < cfg.minSize) continue;
      candBoxes.push(x1, y1, x2, y2);
      candScores.push(s);
      candLabels.push(c);
    }
  }
  const m = candScores.length;
  if (m === 0) return { boxes: new Float32Array(0), scores: new Float32Array(0), labels: new Int32Array(0) };
  // Per-class NMS in one call: offset each class's boxes so that classes never overlap
  // (torchvision's batched_nms coordinate trick).
  const span = Math.max(height, width) + 1;
  const shifted = new Float32Array(m * 4);
  for (let i = 0; i < m; i++) for (let j = 0; j < 4; j++) shifted[i * 4 + j] = candBoxes[i * 4 + j]! + candLabels[i]! * span;
  const bt = tensor(shifted, [m, 4], { backend });
  const st = tensor(Float32Array.from(candScores), [m], { backend });
  const kept = (await nmsKeep(bt, st, cfg.nmsThreshold).finally(() => {
    bt.dispose();
    st.dispose();
  })).subarray(0, cfg.detectionsPerImage);
  return {
    boxes: Float32Array.from({ length: kept.length * 4 }, (_, q) => candBoxes[kept[q >> 2]! * 4 + (q & 3)]!),
    scores: Float32Array.from(kept, (i) => candScores[i]!),
    labels: Int32Array.from(kept, (i) => candLabels[i]!),
  };
}
