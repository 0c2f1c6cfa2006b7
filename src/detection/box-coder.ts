import type { Boxes } from './boxes.js';

/** Upper bound on dw/dh before exp, as torchvision: log(1000 / 16). */
export const BBOX_XFORM_CLIP = Math.log(1000 / 16);

/**
 * torchvision's BoxCoder: boxes ↔ deltas (dx, dy, dw, dh) relative to reference boxes, scaled by
 * per-coordinate weights (RPN 1,1,1,1; ROI head 10,10,5,5).
 */
export class BoxCoder {
  constructor(readonly weights: readonly [number, number, number, number] = [1, 1, 1, 1]) {}

  /** Deltas that move each `reference` box onto the matching `target` box ([n, 4] each). */
  encode(reference: Boxes, target: Boxes): Float32Array {
    const [wx, wy, ww, wh] = this.weights;
    const out = new Float32Array(reference.length);
    for (let i = 0; i < reference.length; i += 4) {
      const pw = reference[i + 2]! - reference[i]!;
      const ph = reference[i + 3]! - reference[i + 1]!;
      const px = reference[i]! + 0.5 * pw;
      const py = reference[i + 1]! + 0.5 * ph;
      const gw = target[i + 2]! - target[i]!;
      const gh = target[i + 3]! - target[i + 1]!;
      const gx = target[i]! + 0.5 * gw;
      const gy = target[i + 1]! + 0.5 * gh;
      out[i] = (wx * (gx - px)) / pw;
      out[i + 1] = (wy * (gy - py)) / ph;
      out[i + 2] = ww * Math.log(gw / pw);
      out[i + 3] = wh * Math.log(gh / ph);
    }
    return out;
  }

  /**
   * Apply deltas [n, 4·k] to reference boxes [n, 4] (k boxes per reference, e.g. one per class),
   * giving [n, 4·k] boxes.
   */
  decode(reference: Boxes, deltas: Float32Array, perRef = 1): Float32Array {
    const [wx, wy, ww, wh] = this.weights;
    const out = new Float32Array(deltas.length);
    const n = reference.length / 4;
    for (let i = 0; i < n; i++) {
      const w = reference[i * 4 + 2]! - reference[i * 4]!;
      const h = reference[i * 4 + 3]! - reference[i * 4 + 1]!;
      const cx = reference[i * 4]! + 0.5 * w;
      const cy = reference[i * 4 + 1]! + 0.5 * h;
      for (let j = 0; j < perRef; j++) {
        const o = (i * perRef + j) * 4;
        const dx = deltas[o]! / wx;
        const dy = deltas[o + 1]! / wy;
        const dw = Math.min(deltas[o + 2]! / ww, BBOX_XFORM_CLIP);
        const dh = Math.min(deltas[o + 3]! / wh, BBOX_XFORM_CLIP);
        const pcx = dx * w + cx;
        const pcy = dy * h + cy;
        const pw = Math.exp(dw) * w;
        const ph = Math.exp(dh) * h;
        out[o] = pcx - 0.5 * pw;
        out[o + 1] = pcy - 0.5 * ph;
        out[o + 2] = pcx + 0.5 * pw;
        out[o + 3] = pcy + 0.5 * ph;
      }
    }
    return out;
  }
}
