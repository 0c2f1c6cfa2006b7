import { relu } from '../engine/ops/elementwise.js';
import { concat, reshape, transpose } from '../engine/ops/layout.js';
import { scope } from '../engine/scope.js';
import { tensor } from '../engine/ops/creation.js';
import { nmsKeep } from '../engine/ops/detection.js';
import type { Rng } from '../engine/random.js';
import type { Tensor } from '../engine/tensor.js';
import { normal } from '../nn/init.js';
import { Conv2d } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { BoxCoder } from './box-coder.js';
import { boxCount, clipBoxes, iouMatrix, keepLarge, takeRows, topK, type Boxes } from './boxes.js';
import { labelsFromMatches, match, type MatcherConfig } from './matcher.js';
import { sampleBalanced, type SamplerConfig } from './sampler.js';
import type { ImageSize } from './transform.js';

/** Weights of torchvision's RPN head init: N(0, 0.01), bias 0. */
const rpnInit = (shape: number[], rng: Rng): Tensor => normal(shape, 0.01, rng);

/**
 * 3×3 conv + ReLU, then per anchor a 2-way objectness logit pair (background, object) — a
 * softmax rather than torchvision's single sigmoid logit, because the paper's soft loss needs
 * class probabilities (the original Faster R-CNN scored anchors this way too) — and 4 box
 * deltas. Outputs are flattened to [N·H·W·A, 2] and [N·H·W·A, 4] in the anchor generator's order.
 *
 * softmax([b, o])[1] = sigmoid(o − b), so the loss equals torchvision's BCE on o − b, but SGD
 * moves o − b with twice the step size (both rows get the gradient): bench/torch-peer's
 * `--objectness pair` reproduces that in torchvision when the two are compared.
 */
export class RPNHead extends Module {
  readonly conv: Conv2d;
  readonly clsLogits: Conv2d;
  readonly bboxPred: Conv2d;

  constructor(
    readonly channels: number,
    readonly anchorsPerLocation: number,
    rng: Rng,
  ) {
    super();
    const opts = { init: rpnInit };
    this.conv = this.addModule('conv', new Conv2d(channels, channels, 3, rng, { padding: 1, ...opts }));
    this.clsLogits = this.addModule('cls_logits', new Conv2d(channels, anchorsPerLocation * 2, 1, rng, opts));
    this.bboxPred = this.addModule('bbox_pred', new Conv2d(channels, anchorsPerLocation * 4, 1, rng, opts));
  }

  forward(features: Tensor): { logits: Tensor; deltas: Tensor } {
    const [n, , h, w] = features.shape as [number, number, number, number];
    const a = this.anchorsPerLocation;
    const t = relu(this.conv.forward(features));
    const flat = (x: Tensor, k: number): Tensor =>
      reshape(transpose(reshape(x, [n, a, k, h, w]), [0, 3, 4, 1, 2]), [n * h * w * a, k]);
    return { logits: flat(this.clsLogits.forward(t), 2), deltas: flat(this.bboxPred.forward(t), 4) };
  }
}

export interface RPNConfig {
  matcher: MatcherConfig;
  sampler: SamplerConfig;
  preNmsTopN: { train: number; test: number };
  postNmsTopN: { train: number; test: number };
  nmsThreshold: number;
  minSize: number;
  scoreThreshold: number;
}

export interface RPNTargets {
  /** Global anchor indices (image·M + i) of the sampled anchors, positives first. */
  sampled: Int32Array;
  /** 0/1 objectness label of each sampled anchor. */
  labels: Int32Array;
  /** Global indices of the positive anchors. */
  positive: Int32Array;
  /** Regression targets [positive, 4]. */
  targets: Float32Array;
}

/**
 * Label and sample anchors for every image of the batch (torchvision's
 * assign_targets_to_anchors + fg_bg_sampler), on the host.
 */
export function rpnTargets(anchors: Boxes, gtBoxes: readonly Boxes[], cfg: Pick<RPNConfig, 'matcher' | 'sampler'>, coder: BoxCoder, rng: Rng): RPNTargets {
  const m = boxCount(anchors);
  const sampled: number[] = [];
  const labels: number[] = [];
  const positive: number[] = [];
  const targets: number[] = [];
  gtBoxes.forEach((gt, img) => {
    const g = boxCount(gt);
    const matches = match(iouMatrix(gt, anchors), g, m, cfg.matcher);
    const lab = labelsFromMatches(matches, () => 1);
    const { positive: pos, negative: neg } = sampleBalanced(lab, cfg.sampler, rng);
    if (pos.length) {
      const enc = coder.encode(takeRows(anchors, 4, pos), takeRows(gt, 4, pos.map((i) => matches[i]!)));
      targets.push(...enc);
    }
    for (const i of pos) {
      sampled.push(img * m + i);
      labels.push(1);
      positive.push(img * m + i);
    }
    for (const i of neg) {
      sampled.push(img * m + i);
      labels.push(0);
    }
  });
  return {
    sampled: Int32Array.from(sampled),
    labels: Int32Array.from(labels),
    positive: Int32Array.from(positive),
    targets: Float32Array.from(targets),
  };
}

/**
 * Region proposals per image (torchvision's filter_proposals for one feature level): top-k by
 * objectness, decode, clip, drop tiny boxes, NMS on the backend, keep the best post-NMS.
 * Reads the head's outputs back to the host (asynchronously, for GPU backends).
 *
 * `imageSize` is what proposals are clipped to: one size for every image (the padded batch's, as
 * before per-image sizes existed), or each image's own [height, width] inside the padded batch
 * (torchvision's image_sizes), so that no proposal of a smaller image reaches into its padding.
 */
export async function proposals(
  logits: Tensor,
  deltas: Tensor,
  anchors: Boxes,
  imageCount: number,
  imageSize: { height: number; width: number } | readonly ImageSize[],
  cfg: RPNConfig,
  coder: BoxCoder,
  training: boolean,
): Promise<Boxes[]> {
  const m = boxCount(anchors);
  const [l, d] = await readBoth(logits, deltas);
  const preK = training ? cfg.preNmsTopN.train : cfg.preNmsTopN.test;
  const postK = training ? cfg.postNmsTopN.train : cfg.postNmsTopN.test;
  const out: Boxes[] = [];
  const sizes = sizesPerImage(imageSize, imageCount, 'proposals');
  for (let img = 0; img < imageCount; img++) {
    const [height, width] = sizes[img]!;
    const score = new Float32Array(m);
    for (let i = 0; i < m; i++) {
      const o = (img * m + i) * 2;
      score[i] = 1 / (1 + Math.exp(l[o]! - l[o + 1]!)); // softmax probability of "object"
    }
    const top = topK(score, preK);
    const boxes = clipBoxes(
      coder.decode(takeRows(anchors, 4, top), takeRows(d.subarray(img * m * 4, (img + 1) * m * 4) as Float32Array, 4, top)),
      height,
      width,
    );
    const keep = keepLarge(boxes, cfg.minSize).filter((i) => score[top[i]!]! >= cfg.scoreThreshold);
    const kb = takeRows(boxes, 4, keep);
    const ks = Float32Array.from(keep, (i) => score[top[i]!]!);
    const bt = tensor(kb, [keep.length, 4], { backend: logits.backend });
    const st = tensor(ks, [keep.length], { backend: logits.backend });
    const idx = (await nmsKeep(bt, st, cfg.nmsThreshold).finally(() => {
      bt.dispose();
      st.dispose();
    })).subarray(0, postK);
    out.push(takeRows(kb, 4, idx));
  }
  return out;
}

/** One [height, width] per image from either form of `imageSize`. */
export function sizesPerImage(imageSize: { height: number; width: number } | readonly ImageSize[], imageCount: number, what: string): readonly ImageSize[] {
  if (!Array.isArray(imageSize)) {
    const { height, width } = imageSize as { height: number; width: number };
    return Array.from({ length: imageCount }, () => [height, width] as const);
  }
  const sizes = imageSize as readonly ImageSize[];
  if (sizes.length !== imageCount) throw new Error(`kdet.${what}: ${imageCount} images but ${sizes.length} image sizes`);
  return sizes;
}

/**
 * Two float32 tensors read back in one transfer (one GPU→CPU wait on WebGPU instead of two):
 * packed into one tensor on the backend, then split on the host.
 */
export async function readBoth(a: Tensor, b: Tensor): Promise<[Float32Array, Float32Array]> {
  const packed = scope(() => concat([reshape(a, [a.size]), reshape(b, [b.size])], 0));
  try {
    const all = (await packed.data()) as Float32Array;
    return [all.subarray(0, a.size), all.subarray(a.size)];
  } finally {
    packed.dispose();
  }
}
