import type { SafeTensor } from '../nn/safetensors.js';
import type { FasterRCNN } from '../detection/faster-rcnn.js';

/**
 * Weights under the names and layouts of torchvision 0.14's FasterRCNN built from the same
 * parts (backbone as an nn.Sequential, RPNHead, TwoMLPHead, FastRCNNPredictor), so a user can
 * continue training in PyTorch (DDP/torchrun) and come back with `importTorchvision`.
 *
 * Two things differ from kdet's own layout:
 * - torchvision's RPN conv sits in Conv2dNormActivation inside a Sequential: `rpn.head.conv.0.0`;
 * - torchvision scores objectness with one sigmoid logit per anchor, kdet with a 2-way softmax
 *   (the paper's soft loss needs probabilities). softmax([b, o])[1] = sigmoid(o − b), so the
 *   exported logit is the difference of kdet's two rows: the same probabilities, exactly.
 */
export async function exportTorchvision(model: FasterRCNN): Promise<Map<string, SafeTensor>> {
  const out = new Map<string, SafeTensor>();
  for (const [name, p] of model.namedParameters()) {
    const data = (await p.value.data()) as Float32Array;
    const shape = [...p.shape];
    if (name.startsWith('rpn.head.conv.')) {
      out.set(name.replace('rpn.head.conv.', 'rpn.head.conv.0.0.'), { dtype: 'F32', shape, data });
    } else if (name.startsWith('rpn.head.cls_logits.')) {
      const rowSize = data.length / shape[0]!;
      const anchors = shape[0]! / 2;
      const diff = new Float32Array(anchors * rowSize);
      for (let a = 0; a < anchors; a++) {
        for (let j = 0; j < rowSize; j++) diff[a * rowSize + j] = data[(2 * a + 1) * rowSize + j]! - data[2 * a * rowSize + j]!;
      }
      out.set(name, { dtype: 'F32', shape: [anchors, ...shape.slice(1)], data: diff });
    } else {
      out.set(name, { dtype: 'F32', shape, data });
    }
  }
  return out;
}

/**
 * The inverse: torchvision-named weights into kdet's layout (the single objectness logit becomes
 * the pair [0, o], which has the same softmax). Returns tensors by kdet name, as host arrays.
 */
export function importTorchvision(tensors: Map<string, SafeTensor>): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of tensors) {
    if (t.dtype !== 'F32') throw new Error(`kdet.importTorchvision: '${name}' is ${t.dtype}, expected F32`);
    const data = t.data as Float32Array;
    if (name.startsWith('rpn.head.conv.0.0.')) {
      out.set(name.replace('rpn.head.conv.0.0.', 'rpn.head.conv.'), { shape: t.shape, data });
    } else if (name.startsWith('rpn.head.cls_logits.')) {
      const anchors = t.shape[0]!;
      const rowSize = data.length / anchors;
      const pair = new Float32Array(2 * anchors * rowSize);
      for (let a = 0; a < anchors; a++) pair.set(data.subarray(a * rowSize, (a + 1) * rowSize), (2 * a + 1) * rowSize);
      out.set(name, { shape: [2 * anchors, ...t.shape.slice(1)], data: pair });
    } else {
      out.set(name, { shape: t.shape, data });
    }
  }
  return out;
}
