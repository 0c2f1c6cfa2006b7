import { tensor } from '../engine/ops/creation.js';
import type { Tensor } from '../engine/tensor.js';
import type { DetectionBatch } from '../data/types.js';
import { prepared, type TargetBatch } from './faster-rcnn.js';
import type { DetectionTransform } from './transform.js';

/**
 * A data-layer batch as the detector wants it: an image tensor plus host-side targets, with
 * each image's own size (`batch.sizes`) for clipping. With a transform (a model's
 * `transform`), the batch goes through it first: images resized and re-padded, boxes scaled.
 */
export function batchToTensors(batch: DetectionBatch, transform?: DetectionTransform | null): { images: Tensor; targets: TargetBatch } {
  if (transform && !transform.identity) return prepared(transform.fromBatch(batch), batch.labels);
  return {
    images: tensor(batch.images, batch.shape),
    targets: { boxes: batch.boxes, labels: batch.labels, imageSizes: batch.sizes },
  };
}
