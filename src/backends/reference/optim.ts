import type { SgdParams } from '../../engine/backend.js';

/** torch.optim.SGD's update in float64 (the spec the fused wasm and WebGPU kernels are tested against). */
export function sgdUpdate(p: Float64Array, g: Float64Array, buf: Float64Array | null, scale: number, o: SgdParams): { param: Float64Array; momentum: Float64Array | null } {
  const param = new Float64Array(p.length);
  const momentum = o.momentum ? new Float64Array(p.length) : null;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]! * scale;
    let d = o.weightDecay ? gi + p[i]! * o.weightDecay : gi;
    if (momentum) {
      const b = buf ? buf[i]! * o.momentum + d : d;
      momentum[i] = b;
      d = o.nesterov ? d + b * o.momentum : b;
    }
    param[i] = p[i]! - d * o.lr;
  }
  return { param, momentum };
}
