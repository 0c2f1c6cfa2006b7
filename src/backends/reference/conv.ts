import type { Conv2dParams, Pool2dParams } from '../../engine/backend.js';

/**
 * Cross-correlation as torch.nn.functional.conv2d. The three conv kernels share one loop nest
 * (`forEachTap`) so that forward, input gradient and filter gradient cannot disagree about which
 * input pixel meets which filter tap.
 */
function forEachTap(p: Conv2dParams, visit: (xIndex: number, wIndex: number, yIndex: number) => void): void {
  const cInG = p.cIn / p.groups;
  const cOutG = p.cOut / p.groups;
  for (let b = 0; b < p.n; b++) {
    for (let oc = 0; oc < p.cOut; oc++) {
      const g = Math.floor(oc / cOutG);
      for (let oy = 0; oy < p.outH; oy++) {
        for (let ox = 0; ox < p.outW; ox++) {
          const yIndex = ((b * p.cOut + oc) * p.outH + oy) * p.outW + ox;
          for (let ic = 0; ic < cInG; ic++) {
            const c = g * cInG + ic;
            for (let ky = 0; ky < p.kh; ky++) {
              const iy = oy * p.strideH - p.padH + ky * p.dilationH;
              if (iy < 0 || iy >= p.h) continue;
              for (let kx = 0; kx < p.kw; kx++) {
                const ix = ox * p.strideW - p.padW + kx * p.dilationW;
                if (ix < 0 || ix >= p.w) continue;
                visit(((b * p.cIn + c) * p.h + iy) * p.w + ix, ((oc * cInG + ic) * p.kh + ky) * p.kw + kx, yIndex);
              }
            }
          }
        }
      }
    }
  }
}

export function conv2d(x: Float64Array, w: Float64Array, bias: Float64Array | null, p: Conv2dParams): Float64Array {
  const y = new Float64Array(p.n * p.cOut * p.outH * p.outW);
  if (bias) {
    const plane = p.outH * p.outW;
    for (let i = 0; i < y.length; i++) y[i] = bias[Math.floor(i / plane) % p.cOut]!;
  }
  forEachTap(p, (xi, wi, yi) => {
    y[yi]! += x[xi]! * w[wi]!;
  });
  return y;
}

export function conv2dGradInput(dy: Float64Array, w: Float64Array, p: Conv2dParams): Float64Array {
  const dx = new Float64Array(p.n * p.cIn * p.h * p.w);
  forEachTap(p, (xi, wi, yi) => {
    dx[xi]! += dy[yi]! * w[wi]!;
  });
  return dx;
}

export function conv2dGradFilter(x: Float64Array, dy: Float64Array, p: Conv2dParams): Float64Array {
  const dw = new Float64Array(p.cOut * (p.cIn / p.groups) * p.kh * p.kw);
  forEachTap(p, (xi, wi, yi) => {
    dw[wi]! += x[xi]! * dy[yi]!;
  });
  return dw;
}

/**
 * Max pooling exactly as PyTorch's CPU kernel: the window is clipped to the image (padding acts
 * as −∞), the running maximum starts at −∞ with the argmax on the first in-bounds pixel, a strictly
 * greater value (or a NaN) replaces it, so the first maximum wins ties. argmax is the flat index
 * in the h×w plane.
 */
export function maxPool2d(x: Float64Array, p: Pool2dParams): { out: Float64Array; argmax: Float64Array } {
  const size = p.n * p.c * p.outH * p.outW;
  const out = new Float64Array(size);
  const argmax = new Float64Array(size);
  for (let plane = 0; plane < p.n * p.c; plane++) {
    const base = plane * p.h * p.w;
    for (let oy = 0; oy < p.outH; oy++) {
      const y0 = Math.max(oy * p.strideH - p.padH, 0);
      const y1 = Math.min(oy * p.strideH - p.padH + p.kh, p.h);
      for (let ox = 0; ox < p.outW; ox++) {
        const x0 = Math.max(ox * p.strideW - p.padW, 0);
        const x1 = Math.min(ox * p.strideW - p.padW + p.kw, p.w);
        let best = -Infinity;
        let at = y0 * p.w + x0;
        for (let iy = y0; iy < y1; iy++) {
          for (let ix = x0; ix < x1; ix++) {
            const v = x[base + iy * p.w + ix]!;
            if (v > best || Number.isNaN(v)) {
              best = v;
              at = iy * p.w + ix;
            }
          }
        }
        const o = (plane * p.outH + oy) * p.outW + ox;
        out[o] = best;
        argmax[o] = at;
      }
    }
  }
  return { out, argmax };
}

export function maxPool2dGrad(dy: Float64Array, argmax: Float64Array, p: Pool2dParams): Float64Array {
  const dx = new Float64Array(p.n * p.c * p.h * p.w);
  const outPlane = p.outH * p.outW;
  for (let i = 0; i < dy.length; i++) {
    const plane = Math.floor(i / outPlane);
    dx[plane * p.h * p.w + argmax[i]!]! += dy[i]!;
  }
  return dx;
}
