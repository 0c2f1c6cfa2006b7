/**
 * Inputs shared by the evaluators. Any DetectionSample or DetectionTarget of
 * the data layer is a GroundTruth; plain arrays work too (and keep float64
 * precision when comparing with reference tools).
 */

/** Ground truth of one image. */
export interface GroundTruth {
  /** Identifies the image; detections refer to it. */
  id: number;
  height: number;
  width: number;
  /** [n,4] x1,y1,x2,y2. */
  boxes: ArrayLike<number>;
  /** [n] classes 1..C. */
  labels: ArrayLike<number>;
  /** [n] 1 = VOC difficult (ignored by VOC AP; a normal box for COCO AP). */
  difficult?: ArrayLike<number>;
  /** [n] 1 = COCO crowd region. */
  iscrowd?: ArrayLike<number>;
}

/** A model's detections on one image. */
export interface ImageDetections {
  /** The `id` of the ground-truth image these belong to. */
  id: number;
  /** [n,4] x1,y1,x2,y2 in the ground truth's pixel coordinates. */
  boxes: ArrayLike<number>;
  /** [n] confidences; higher ranks first. */
  scores: ArrayLike<number>;
  /** [n] classes 1..C. */
  labels: ArrayLike<number>;
}
