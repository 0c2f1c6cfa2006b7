// Convolution as implicit GEMM: im2col is never materialised; the GEMM driver packs its B panels
// straight from the image through a table of tap offsets.
//
// The image (one sample, one group) is first copied into a "prepared" layout: zero padding
// applied, and for stride s > 1 split into s×s phase planes (row r, column q of plane (py, px)
// holds padded pixel (r·s + py, q·s + px)). Then for every tap (channel c, ky, kx) the inputs of
// consecutive output pixels of one output row are consecutive floats, whatever the padding,
// stride or dilation: tap k of output pixel (oy, ox) lives at
//     src + tab[k] + oy·Wq + ox,   tab[k] = plane(c, phase) + ((ky·dH) div sH)·Wq + (kx·dW) div sW.
// So B panels are copied with v128 loads, no bounds checks. Stride 1 without padding needs no copy
// at all (the table indexes the input directly).
//
// State lives in module globals (set by conv.ts before calling the driver): each wasm instance,
// hence each future worker thread, has its own globals.
import { NR } from './gemm-kernel';
import { storeTransposed4x4 } from './gemm-pack';

/** Prepared (or raw) input of the current sample and group. */
let gSrc: usize = 0;
/** Row stride of the prepared planes (floats). */
let gWq: i32 = 0;
/** Output width of the convolution being computed (pixels are flattened oy·outW + ox). */
let gOutW: i32 = 0;
/** i32 table of tap offsets (floats), one per k = (channel, ky, kx). */
let gTab: usize = 0;
/** 16 i32 of scratch for the per-column offsets of a panel that spans output rows. */
let gColOff: usize = 0;
/** Weights of the group (for packAConvFlipped): rows o, each cg·taps floats. */
let gW: usize = 0;
let gCg: i32 = 0;
let gTaps: i32 = 0;

export function setConvSource(src: usize, wq: i32, outW: i32, tab: usize, colOff: usize): void {
  gSrc = src;
  gWq = wq;
  gOutW = outW;
  gTab = tab;
  gColOff = colOff;
}

export function setFlippedWeights(w: usize, cg: i32, taps: i32): void {
  gW = w;
  gCg = cg;
  gTaps = taps;
}

/**
 * Copies `cn` channel planes (h × w each) into the prepared layout: per channel, sH·sW planes of
 * hq × wq, value src[(r·sH + py) − padT][(q·sW + px) − padL] or 0 outside the image. Pads may be
 * negative (a crop), which the transposed convolution of the input gradient needs.
 */
export function preparePadded(
  dst: usize, src: usize, cn: i32, h: i32, w: i32, padT: i32, padL: i32, sH: i32, sW: i32, hq: i32, wq: i32,
): void {
  const planeBytes = <usize>hq * wq * 4;
  for (let c = 0; c < cn; c++) {
    const srcC = src + <usize>c * h * w * 4;
    for (let py = 0; py < sH; py++) {
      for (let px = 0; px < sW; px++) {
        for (let r = 0; r < hq; r++) {
          const row = dst + <usize>r * wq * 4;
          const iy = r * sH + py - padT;
          if (iy < 0 || iy >= h) {
            memory.fill(row, 0, <usize>wq * 4);
            continue;
          }
          const srcRow = srcC + <usize>iy * w * 4;
          if (sW == 1) {
            // Columns q with 0 ≤ q − padL < w come from the image; the rest are zeros.
            const q0 = min(max(padL, 0), wq);
            const q1 = max(min(padL + w, wq), q0);
            memory.fill(row, 0, <usize>q0 * 4);
            memory.copy(row + <usize>q0 * 4, srcRow + <usize>(q0 - padL) * 4, <usize>(q1 - q0) * 4);
            memory.fill(row + <usize>q1 * 4, 0, <usize>(wq - q1) * 4);
          } else {
            for (let q = 0; q < wq; q++) {
              const ix = q * sW + px - padL;
              store<f32>(row + (<usize>q << 2), ix >= 0 && ix < w ? load<f32>(srcRow + (<usize>ix << 2)) : 0);
            }
          }
        }
        dst += planeBytes;
      }
    }
  }
}

/** Fills tab[k] for k = (c, ky, kx) over cn channels of the prepared layout (see top). */
export function buildTapTable(
  tab: usize, cn: i32, kh: i32, kw: i32, dH: i32, dW: i32, sH: i32, sW: i32, hq: i32, wq: i32,
): void {
  const plane = hq * wq;
  for (let c = 0; c < cn; c++) {
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        const ty = ky * dH;
        const tx = kx * dW;
        const phase = (ty % sH) * sW + tx % sW;
        const off = (c * sH * sW + phase) * plane + (ty / sH) * wq + tx / sW;
        store<i32>(tab, off);
        tab += 4;
      }
    }
  }
}

/**
 * B panels for the forward convolution: B[k, j] = input of tap k for output pixel j.
 * Rows k ∈ [p0, p0+kc), columns j ∈ [j0, j0+nc) (flattened output pixels).
 */
export function packBIm2col(dst: usize, p0: i32, j0: i32, kc: i32, nc: i32): void {
  const tab = gTab + (<usize>p0 << 2);
  const outW = gOutW;
  for (let j = 0; j < nc; j += NR) {
    const nr = min(NR, nc - j);
    const q = j0 + j;
    const oy = q / outW;
    const ox = q - oy * outW;
    if (ox + nr <= outW) {
      // All columns in one output row: each k row is one contiguous run of the prepared input.
      const base = gSrc + ((<usize>oy * gWq + ox) << 2);
      if (nr == NR) {
        for (let kk = 0; kk < kc; kk++) {
          const s = base + (<usize>load<i32>(tab + (<usize>kk << 2)) << 2);
          v128.store(dst, v128.load(s));
          v128.store(dst, v128.load(s, 16), 16);
          v128.store(dst, v128.load(s, 32), 32);
          v128.store(dst, v128.load(s, 48), 48);
          dst += 64;
        }
      } else {
        for (let kk = 0; kk < kc; kk++) {
          const s = base + (<usize>load<i32>(tab + (<usize>kk << 2)) << 2);
          let jj = 0;
          for (; jj < nr; jj++) store<f32>(dst + (<usize>jj << 2), load<f32>(s + (<usize>jj << 2)));
          for (; jj < NR; jj++) store<f32>(dst + (<usize>jj << 2), 0);
          dst += 64;
        }
      }
    } else {
      // The panel wraps to the next output row(s): gather through per-column offsets.
      let y = oy;
      let x = ox;
      for (let jj = 0; jj < nr; jj++) {
        store<i32>(gColOff + (<usize>jj << 2), y * gWq + x);
        if (++x == outW) {
          x = 0;
          y++;
        }
      }
      for (let kk = 0; kk < kc; kk++) {
        const s = gSrc + (<usize>load<i32>(tab + (<usize>kk << 2)) << 2);
        let jj = 0;
        for (; jj < nr; jj++) {
          store<f32>(dst + (<usize>jj << 2), load<f32>(s + (<usize>load<i32>(gColOff + (<usize>jj << 2)) << 2)));
        }
        for (; jj < NR; jj++) store<f32>(dst + (<usize>jj << 2), 0);
        dst += 64;
      }
    }
  }
}

/**
 * B panels for the filter gradient: B[p, j] = input of tap j for output pixel p (im2col
 * transposed). Rows p ∈ [p0, p0+kc) (pixels), columns j ∈ [j0, j0+nc) (taps). Each output row
 * gives, per tap, a contiguous run of pixels; four taps × four pixels are transposed in registers.
 */
export function packBIm2colT(dst: usize, p0: i32, j0: i32, kc: i32, nc: i32): void {
  const outW = gOutW;
  for (let j = 0; j < nc; j += NR) {
    const nr = min(NR, nc - j);
    const tab = gTab + (<usize>(j0 + j) << 2);
    let kk = 0;
    let q = p0;
    while (kk < kc) {
      const oy = q / outW;
      const ox = q - oy * outW;
      const len = min(outW - ox, kc - kk);
      const pix = gSrc + ((<usize>oy * gWq + ox) << 2);
      const d = dst + (<usize>kk << 6);
      if (nr == NR) {
        for (let g = 0; g < NR; g += 4) {
          const t4 = tab + (<usize>g << 2);
          const s0 = pix + (<usize>load<i32>(t4) << 2);
          const s1 = pix + (<usize>load<i32>(t4, 4) << 2);
          const s2 = pix + (<usize>load<i32>(t4, 8) << 2);
          const s3 = pix + (<usize>load<i32>(t4, 12) << 2);
          const dg = d + (<usize>g << 2);
          let t = 0;
          for (; t + 4 <= len; t += 4) {
            const o = <usize>t << 2;
            storeTransposed4x4(dg + (<usize>t << 6), 64, v128.load(s0 + o), v128.load(s1 + o), v128.load(s2 + o), v128.load(s3 + o));
          }
          for (; t < len; t++) {
            const o = <usize>t << 2;
            const dt = dg + (<usize>t << 6);
            store<f32>(dt, load<f32>(s0 + o));
            store<f32>(dt, load<f32>(s1 + o), 4);
            store<f32>(dt, load<f32>(s2 + o), 8);
            store<f32>(dt, load<f32>(s3 + o), 12);
          }
        }
      } else {
        for (let t = 0; t < len; t++) {
          const dt = d + (<usize>t << 6);
          let jj = 0;
          for (; jj < nr; jj++) {
            const s = pix + (<usize>load<i32>(tab + (<usize>jj << 2)) << 2);
            store<f32>(dt + (<usize>jj << 2), load<f32>(s + (<usize>t << 2)));
          }
          for (; jj < NR; jj++) store<f32>(dt + (<usize>jj << 2), 0);
        }
      }
      kk += len;
      q += len;
    }
    dst += <usize>kc << 6;
  }
}

/**
 * A panels from im2col rows, for the filter gradient computed transposed (dWᵀ = im2col · dYᵀ):
 * A[k, p] = input of tap k for output pixel p, rows k ∈ [i0, i0+mc), pixels p ∈ [p0, p0+kc).
 * Pairs of taps are interleaved four pixels at a time from their contiguous runs along an output row.
 */
export function packAIm2col(dst: usize, i0: i32, p0: i32, mc: i32, kc: i32): void {
  const outW = gOutW;
  for (let i = 0; i < mc; i += 2) {
    const t0 = gSrc + (<usize>load<i32>(gTab + (<usize>(i0 + i) << 2)) << 2);
    const two = i + 1 < mc;
    const t1 = two ? gSrc + (<usize>load<i32>(gTab + (<usize>(i0 + i + 1) << 2)) << 2) : t0;
    let kk = 0;
    let q = p0;
    while (kk < kc) {
      const oy = q / outW;
      const ox = q - oy * outW;
      const len = min(outW - ox, kc - kk);
      const pix = (<usize>oy * gWq + ox) << 2;
      const r0 = t0 + pix;
      const r1 = t1 + pix;
      let t = 0;
      if (two) {
        for (; t + 4 <= len; t += 4) {
          const x = v128.load(r0 + (<usize>t << 2));
          const y = v128.load(r1 + (<usize>t << 2));
          v128.store(dst, i32x4.shuffle(x, y, 0, 4, 1, 5));
          v128.store(dst, i32x4.shuffle(x, y, 2, 6, 3, 7), 16);
          dst += 32;
        }
      }
      for (; t < len; t++) {
        store<f32>(dst, load<f32>(r0 + (<usize>t << 2)));
        store<f32>(dst, two ? load<f32>(r1 + (<usize>t << 2)) : 0, 4);
        dst += 8;
      }
      kk += len;
      q += len;
    }
  }
}

/**
 * A panels for the input gradient computed as a convolution of dY: A[ci, k'] with
 * k' = (o, ky', kx') is w[o, ci, kh−1−ky', kw−1−kx'] — the filter transposed over channels and
 * flipped in space. With t = ky'·kw + kx', the flipped tap index is simply taps − 1 − t.
 */
export function packAConvFlipped(dst: usize, i0: i32, p0: i32, mc: i32, kc: i32): void {
  const taps = gTaps;
  const rowFloats = gCg * taps;
  for (let i = 0; i < mc; i += 2) {
    const ci = i0 + i;
    const two = i + 1 < mc;
    let o = p0 / taps;
    let t = p0 - o * taps;
    for (let p = 0; p < kc; p++) {
      const src = gW + ((<usize>o * rowFloats + <usize>ci * taps + (taps - 1 - t)) << 2);
      store<f32>(dst, load<f32>(src));
      store<f32>(dst, two ? load<f32>(src + (<usize>taps << 2)) : 0, 4);
      dst += 8;
      if (++t == taps) {
        t = 0;
        o++;
      }
    }
  }
}
