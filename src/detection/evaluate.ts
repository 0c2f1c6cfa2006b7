import type { AnyDataset, DetectionTarget } from '../data/types.js';
import { BatchLoader } from '../data/loader.js';
import { evaluateVoc } from '../eval/voc.js';
import { evaluateCoco } from '../eval/results.js';
import type { ImageDetections } from '../eval/types.js';
import type { Detections } from './faster-rcnn.js';
import type { DetectionBatch } from '../data/types.js';

/** What evaluation needs of a model: kdet's FasterRCNN, or any detector with these (an imported torchvision one). */
export interface EvaluableDetector {
  readonly training: boolean;
  /** Foreground classes (labels 1..numClasses). */
  readonly config: { readonly numClasses: number };
  eval(): unknown;
  train(on?: boolean): unknown;
  detectBatch(batch: DetectionBatch): Promise<Detections[]>;
}

export interface DetectorMetrics {
  /** PASCAL VOC all-point AP at IoU 0.5, averaged over classes. */
  map50: number;
  /** VOC2007 11-point AP at IoU 0.5. */
  map50voc07: number;
  /** COCO AP@[.5:.95]. */
  cocoAP: number;
  /** Per-class all-point AP@0.5 (index = label − 1). */
  perClassAP: number[];
  images: number;
}

/**
 * Run the detector over a data set and score it with the VOC and COCO definitions, in each
 * image's pixels as the data set gives it.
 */
export async function evaluateDetector(
  model: EvaluableDetector,
  dataset: AnyDataset,
  opts: { batchSize?: number; limit?: number } = {},
): Promise<DetectorMetrics & { detections: ImageDetections[]; targets: DetectionTarget[] }> {
  const wasTraining = model.training;
  model.eval();
  const loader = new BatchLoader(dataset, { batchSize: opts.batchSize ?? 8, shuffle: false });
  const detections: ImageDetections[] = [];
  const targets: DetectionTarget[] = [];
  const limit = opts.limit ?? dataset.length;
  for await (const batch of loader) {
    // Through the model's transform, back in the loader's pixels (the targets' frame), each
    // image clipped to its own size.
    const dets = await model.detectBatch(batch);
    dets.forEach((d, i) => {
      detections.push({ id: batch.ids[i]!, ...d });
      const [h, w] = batch.sizes[i]!;
      targets.push({
        id: batch.ids[i]!,
        height: h,
        width: w,
        boxes: batch.boxes[i]!,
        labels: batch.labels[i]!,
        ...(batch.difficult[i] ? { difficult: batch.difficult[i] } : {}),
        ...(batch.iscrowd[i] ? { iscrowd: batch.iscrowd[i] } : {}),
      });
    });
    if (targets.length >= limit) break;
  }
  model.train(wasTraining);
  const numClasses = model.config.numClasses;
  const voc = evaluateVoc(targets, detections, { numClasses });
  const voc07 = evaluateVoc(targets, detections, { numClasses, use07Metric: true });
  const coco = evaluateCoco(targets, detections, dataset.classNames);
  return {
    map50: voc.mAP,
    map50voc07: voc07.mAP,
    cocoAP: coco.stats[0]!,
    perClassAP: voc.ap,
    images: targets.length,
    detections,
    targets,
  };
}
