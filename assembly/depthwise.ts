// Depthwise 2-D convolution: groups = cIn, cOut = M·cIn (channel multiplier M ≥ 1), NCHW, with
// PyTorch's semantics (cross-correlation, zero padding, stride, dilation). The grouped implicit
// GEMM (conv.ts) would run one GEMM per channel with a single row and K = kh·kw, far from what its
// 2×16 tiles are made for; these loops vectorise along the output width instead: a v128 holds 4
// neighbouring outputs of one channel.
//
// The files: depthwise-plane.ts (parameters, the padded phase-split copy of an input plane that
// removes every bounds check and stride from the inner loops), depthwise-forward.ts (the
// forward's inner loops), depthwise-grad-input.ts (a forward of the transposed problem at stride
// 1, else a gather: every dx element written once, no atomics, no zeroing pass),
// depthwise-grad-filter.ts (a reduction per tap over the batch and the plane); this file holds
// the exports the backend calls.
//
// Non-finite values: a NaN or infinity in x or dy reaches exactly the elements it reaches in
// PyTorch's depthwise kernel (the filter gradient never adds a product with padding). The forward
// and input gradient do multiply the padding, so a non-finite weight also reaches the border
// outputs (0 · w), where PyTorch skips those taps.
//
// Forward and input gradient take a [start, end) range of input planes (n·cIn), the filter
// gradient a range of input channels: parts never share an output, and each output element is
// summed in the same order whichever part computes it, so results are bitwise the same for any
// thread count.
import { forwardBand } from './depthwise-forward';
import { planBytes } from './depthwise-grad-filter';
import { directStride2, forwardPlaneStride2 } from './depthwise-stride2';
import { gradInputScratchBytes } from './depthwise-grad-input';
import {
  BAND, C, CO, H, M, OH, OW, TAPS, W, align64, at, buildInputTaps, clearPrepared, inputGeometry, prepareBand, preparedBytes,
  readParams,
} from './depthwise-plane';

export { depthwiseGradInput } from './depthwise-grad-input';
export { depthwiseGradFilter } from './depthwise-grad-filter';

/** Bytes of scratch for kind 0 (forward), 1 (input gradient) or 2 (filter gradient). */
export function depthwiseScratchBytes(kind: i32, params: usize): usize {
  readParams(params);
  if (kind == 1) return gradInputScratchBytes();
  inputGeometry();
  // [tap table][filter gradient: M·TAPS v128 accumulators, column plans][prepared band]
  const acc = kind == 2 ? align64(<usize>M * TAPS << 4) + planBytes() : 0;
  return align64(<usize>TAPS << 2) + acc + preparedBytes();
}

/** y = depthwise(x, w) + bias (bias 0: none) for input planes [start, end). */
export function depthwiseForward(x: usize, w: usize, bias: usize, y: usize, params: usize, scratch: usize, start: i32, end: i32): void {
  readParams(params);
  inputGeometry();
  const tab = scratch;
  buildInputTaps(tab);
  const prep = tab + align64(<usize>TAPS << 2);
  clearPrepared(prep);
  const outPlane = OH * OW;
  if (directStride2()) {
    // The taps read x itself (depthwise-stride2.ts); the tap table's room holds the row pointers
    // and the cleared band (≥ 3·W floats) is the zero row.
    for (let plane = start; plane < end; plane++) {
      const n = plane / C;
      const c = plane - n * C;
      for (let m = 0; m < M; m++) {
        const oc = c * M + m;
        const b: f32 = bias == 0 ? 0 : load<f32>(at(bias, oc));
        forwardPlaneStride2(at(x, plane * H * W), at(w, oc * TAPS), b, at(y, (n * CO + oc) * outPlane), tab, prep);
      }
    }
    return;
  }
  for (let plane = start; plane < end; plane++) {
    const n = plane / C;
    const c = plane - n * C;
    for (let oy0 = 0; oy0 < OH; oy0 += BAND) {
      prepareBand(at(x, plane * H * W), prep, oy0);
      for (let m = 0; m < M; m++) {
        const oc = c * M + m;
        const b: f32 = bias == 0 ? 0 : load<f32>(at(bias, oc));
        forwardBand(prep, tab, at(w, oc * TAPS), b, at(y, (n * CO + oc) * outPlane), oy0);
      }
    }
  }
}
