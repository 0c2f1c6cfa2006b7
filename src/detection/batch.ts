import { tensor } from '../engine/ops/creation.js';
import type { Tensor } from '../engine/tensor.js';
import type { DetectionBatch } from '../data/types.js';
import type { TargetBatch } from './faster-rcnn.js';

/** A data-layer batch as the detector wants it: an image tensor plus host-side targets. */
export function batchToTensors(batch: DetectionBatch): { images: Tensor; targets: TargetBatch } {
  return {
    images: tensor(batch.images, batch.shape),
    targets: { boxes: batch.boxes, labels: batch.labels },
  };
}
