import { iouMatrix, type Boxes } from '../detection/boxes.js';

/**
 * Fine-grained feature imitation (Wang et al., CVPR 2019): the feature locations "near objects".
 * For each ground-truth box, take the largest IoU M any anchor reaches; every anchor with
 * IoU > ψ·M marks its feature location. Returns a 0/1 mask [N, 1, fh, fw] (row-major, images
 * stacked), anchors ordered as the AnchorGenerator makes them (location-major).
 */
export function imitationMask(anchors: Boxes, gtBoxes: readonly Boxes[], fh: number, fw: number, psi = 0.5): Float32Array {
  const perLoc = anchors.length / 4 / (fh * fw);
  const m = anchors.length / 4;
  const mask = new Float32Array(gtBoxes.length * fh * fw);
  gtBoxes.forEach((gt, img) => {
    const g = gt.length / 4;
    if (g === 0) return;
    const iou = iouMatrix(gt, anchors);
    for (let j = 0; j < g; j++) {
      let best = 0;
      for (let a = 0; a < m; a++) best = Math.max(best, iou[j * m + a]!);
      const thr = psi * best;
      for (let a = 0; a < m; a++) {
        if (iou[j * m + a]! > thr) mask[img * fh * fw + Math.floor(a / perLoc)] = 1;
      }
    }
  });
  return mask;
}
