import type { RoiParams } from '../backend.js';
import { check, fmtShape } from '../errors.js';
import { record } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { tensor } from './creation.js';
import { backendOf, expectDType, expectRank, out } from './util.js';

export interface RoiOptions {
  /** Output size [h, w] (or one number for both). */
  outputSize: number | readonly [number, number];
  /** Scale from box coordinates to feature-map coordinates (1 / feature stride). */
  spatialScale?: number;
  /** roi_align: samples per bin side, ≤ 0 for adaptive (torchvision's −1 default). */
  samplingRatio?: number;
  /** roi_align: half-pixel offset (torchvision aligned=True). */
  aligned?: boolean;
}

function roiParams(op: string, x: Tensor, rois: Tensor, opts: RoiOptions): RoiParams {
  expectDType(op, 'input', x, 'float32');
  expectRank(op, 'input', x, 4);
  expectDType(op, 'rois', rois, 'float32');
  check(rois.rank === 2 && rois.shape[1] === 5, op, () => `rois: expected [K, 5] rows (batch, x1, y1, x2, y2), got ${fmtShape(rois.shape)}`);
  const [pooledH, pooledW] = typeof opts.outputSize === 'number' ? [opts.outputSize, opts.outputSize] : opts.outputSize;
  check(Number.isInteger(pooledH) && Number.isInteger(pooledW) && pooledH > 0 && pooledW > 0, op, () =>
    `outputSize must be positive integers, got ${JSON.stringify(opts.outputSize)}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (rois.backend.canReadSync && rois.size > 0) {
    const r = rois.dataSync();
    for (let i = 0; i < rois.shape[0]!; i++) {
      const bi = r[i * 5]!;
      check(Number.isInteger(bi) && bi >= 0 && bi < n, op, () => `rois[${i}] has batch index ${bi}, not in [0, ${n})`);
      for (let j = 1; j < 5; j++) check(Number.isFinite(r[i * 5 + j]!), op, () => `rois[${i}] has a non-finite coordinate`);
    }
  }
  return {
    n, c, h, w,
    k: rois.shape[0]!,
    pooledH,
    pooledW,
    spatialScale: opts.spatialScale ?? 1,
    samplingRatio: opts.samplingRatio ?? -1,
    aligned: opts.aligned ?? false,
  };
}

/** torchvision.ops.roi_align: bilinear samples averaged per bin; boxes may leave the map. */
export function roiAlign(x: Tensor, rois: Tensor, opts: RoiOptions): Tensor {
  const p = roiParams('roiAlign', x, rois, opts);
  const backend = backendOf('roiAlign', x, rois);
  const y = out(backend, backend.roiAlign(x.buf, rois.buf, p), [p.k, p.c, p.pooledH, p.pooledW]);
  record('roiAlign', [x, rois], [y], (tape) => {
    const sr = tape.save(rois);
    return ([dy]) => [out(dy!.backend, dy!.backend.roiAlignGrad(dy!.buf, sr.buf, p), x.shape), null];
  });
  return y;
}

/** torchvision.ops.roi_pool: max over each quantised bin (0 for an empty bin). */
export function roiPool(x: Tensor, rois: Tensor, opts: RoiOptions): Tensor {
  const p = roiParams('roiPool', x, rois, opts);
  const backend = backendOf('roiPool', x, rois);
  const r = backend.roiPool(x.buf, rois.buf, p);
  const y = out(backend, r.out, [p.k, p.c, p.pooledH, p.pooledW]);
  const argmax = out(backend, r.argmax, [p.k, p.c, p.pooledH, p.pooledW], 'int32');
  record('roiPool', [x, rois], [y], (tape) => {
    const sa = tape.save(argmax);
    const sr = tape.save(rois);
    return ([dy]) => [out(dy!.backend, dy!.backend.roiPoolGrad(dy!.buf, sa.buf, sr.buf, p), x.shape), null];
  });
  argmax.dispose();
  return y;
}

function expectBoxes(op: string, arg: string, t: Tensor): void {
  expectDType(op, arg, t, 'float32');
  check(t.rank === 2 && t.shape[1] === 4, op, () => `${arg}: expected [N, 4] boxes (x1, y1, x2, y2), got ${fmtShape(t.shape)}`);
}

/** Pairwise IoU [na, nb] (torchvision.ops.box_iou). No gradient. */
export function boxIou(a: Tensor, b: Tensor): Tensor {
  expectBoxes('boxIou', 'a', a);
  expectBoxes('boxIou', 'b', b);
  const backend = backendOf('boxIou', a, b);
  return out(backend, backend.boxIou(a.buf, a.shape[0]!, b.buf, b.shape[0]!), [a.shape[0]!, b.shape[0]!]);
}

/**
 * Greedy non-maximum suppression (torchvision.ops.nms): int32 indices of kept boxes by
 * decreasing score. Asynchronous because a GPU backend must read back how many survive.
 */
export async function nms(boxes: Tensor, scores: Tensor, iouThreshold: number): Promise<Tensor> {
  const keep = await nmsKeep(boxes, scores, iouThreshold);
  return tensor(keep, [keep.length], { dtype: 'int32', backend: boxes.backend });
}

/**
 * nms's kept indices as a host array, for callers that go on on the host (proposals, detections):
 * the backend's answer as it comes, without uploading it into a tensor to be read back (on
 * WebGPU that read was a second GPU→CPU wait per image).
 */
export async function nmsKeep(boxes: Tensor, scores: Tensor, iouThreshold: number): Promise<Int32Array> {
  expectBoxes('nms', 'boxes', boxes);
  expectDType('nms', 'scores', scores, 'float32');
  check(scores.rank === 1 && scores.shape[0] === boxes.shape[0], 'nms', () =>
    `scores: expected [${boxes.shape[0]}], got ${fmtShape(scores.shape)}`);
  const backend = backendOf('nms', boxes, scores);
  return backend.nms(boxes.buf, scores.buf, boxes.shape[0]!, iouThreshold);
}
