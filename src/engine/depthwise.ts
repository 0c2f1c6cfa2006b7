import type { Conv2dParams } from './backend.js';

/**
 * Whether a convolution is depthwise: each input channel convolved on its own (groups = cIn > 1)
 * into cOut / cIn output channels (the channel multiplier; MobileNet's is 1). Backends send these
 * to dedicated kernels, since the grouped implicit GEMM would run one GEMM per channel with a
 * single row and K = kh·kw, far from what its tiles are made for.
 */
export function isDepthwise(p: Conv2dParams): boolean {
  return p.groups > 1 && p.groups === p.cIn && p.cOut % p.cIn === 0;
}
