// Packing of dense operands into the micro-kernel's panel layout (see gemm-kernel.ts):
//   A block mc × kc → ceil(mc/2) panels of kc × [2] floats (rows past mc are zeros);
//   B block kc × nc → ceil(nc/16) panels of kc × [16] floats (columns past nc are zeros).
// Packing costs O(mc·kc) / O(kc·nc) and is reused by every tile of the block, so it turns the
// transposes into plain layout work and makes the kernel's loads contiguous.
import { MR, NR } from './gemm-kernel';

/** A is row-major: element (i, p) at a[i·lda + p]; `a` points at (i0, p0). */
export function packANormal(dst: usize, a: usize, lda: i32, mc: i32, kc: i32): void {
  const rowBytes = <usize>lda << 2;
  for (let i = 0; i < mc; i += MR) {
    const r0 = a + <usize>i * rowBytes;
    if (i + 1 < mc) {
      const r1 = r0 + rowBytes;
      let p = 0;
      // Interleave four k steps of the two rows: (x0 y0 x1 y1) (x2 y2 x3 y3).
      for (; p + 4 <= kc; p += 4) {
        const x = v128.load(r0 + (<usize>p << 2));
        const y = v128.load(r1 + (<usize>p << 2));
        v128.store(dst, i32x4.shuffle(x, y, 0, 4, 1, 5));
        v128.store(dst, i32x4.shuffle(x, y, 2, 6, 3, 7), 16);
        dst += 32;
      }
      for (; p < kc; p++) {
        store<f32>(dst, load<f32>(r0 + (<usize>p << 2)));
        store<f32>(dst, load<f32>(r1 + (<usize>p << 2)), 4);
        dst += 8;
      }
    } else {
      for (let p = 0; p < kc; p++) {
        store<f32>(dst, load<f32>(r0 + (<usize>p << 2)));
        store<f32>(dst, 0, 4);
        dst += 8;
      }
    }
  }
}

/** A is stored transposed ([k, m]): element (i, p) at a[p·lda + i]; `a` points at (i0, p0). */
export function packATrans(dst: usize, a: usize, lda: i32, mc: i32, kc: i32): void {
  const rowBytes = <usize>lda << 2;
  for (let i = 0; i < mc; i += MR) {
    let src = a + (<usize>i << 2);
    if (i + 1 < mc) {
      for (let p = 0; p < kc; p++) {
        store<u64>(dst, load<u64>(src));
        src += rowBytes;
        dst += 8;
      }
    } else {
      for (let p = 0; p < kc; p++) {
        store<f32>(dst, load<f32>(src));
        store<f32>(dst, 0, 4);
        src += rowBytes;
        dst += 8;
      }
    }
  }
}

/** B is row-major: element (p, j) at b[p·ldb + j]; `b` points at (p0, j0). */
export function packBNormal(dst: usize, b: usize, ldb: i32, kc: i32, nc: i32): void {
  const rowBytes = <usize>ldb << 2;
  for (let j = 0; j < nc; j += NR) {
    const nr = min(NR, nc - j);
    let src = b + (<usize>j << 2);
    if (nr == NR) {
      for (let p = 0; p < kc; p++) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
        v128.store(dst, v128.load(src, 32), 32);
        v128.store(dst, v128.load(src, 48), 48);
        src += rowBytes;
        dst += 64;
      }
    } else {
      for (let p = 0; p < kc; p++) {
        let q = 0;
        for (; q < nr; q++) store<f32>(dst + (<usize>q << 2), load<f32>(src + (<usize>q << 2)));
        for (; q < NR; q++) store<f32>(dst + (<usize>q << 2), 0);
        src += rowBytes;
        dst += 64;
      }
    }
  }
}

/**
 * Stores the 4×4 transpose of rows r0..r3 (each 4 floats) as four 16-byte rows `stride` apart:
 * out row t = (r0[t], r1[t], r2[t], r3[t]).
 */
// @ts-ignore: decorator
@inline
export function storeTransposed4x4(dst: usize, stride: usize, r0: v128, r1: v128, r2: v128, r3: v128): void {
  const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(dst, i32x4.shuffle(t0, t1, 0, 1, 4, 5));
  v128.store(dst + stride, i32x4.shuffle(t0, t1, 2, 3, 6, 7));
  v128.store(dst + 2 * stride, i32x4.shuffle(t2, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * stride, i32x4.shuffle(t2, t3, 2, 3, 6, 7));
}

/** B is stored transposed ([n, k]): element (p, j) at b[j·ldb + p]; `b` points at (p0, j0). */
export function packBTrans(dst: usize, b: usize, ldb: i32, kc: i32, nc: i32): void {
  const rowBytes = <usize>ldb << 2;
  for (let j = 0; j < nc; j += NR) {
    const nr = min(NR, nc - j);
    const src = b + <usize>j * rowBytes;
    if (nr == NR) {
      let p = 0;
      // Four source rows (= four panel columns) × four k steps at a time, transposed in registers.
      for (; p + 4 <= kc; p += 4) {
        const d = dst + (<usize>p << 6);
        for (let g = 0; g < NR; g += 4) {
          const s = src + <usize>g * rowBytes + (<usize>p << 2);
          storeTransposed4x4(d + (<usize>g << 2), 64, v128.load(s), v128.load(s + rowBytes),
            v128.load(s + 2 * rowBytes), v128.load(s + 3 * rowBytes));
        }
      }
      for (; p < kc; p++) {
        const d = dst + (<usize>p << 6);
        for (let q = 0; q < NR; q++) store<f32>(d + (<usize>q << 2), load<f32>(src + <usize>q * rowBytes + (<usize>p << 2)));
      }
    } else {
      for (let p = 0; p < kc; p++) {
        const d = dst + (<usize>p << 6);
        let q = 0;
        for (; q < nr; q++) store<f32>(d + (<usize>q << 2), load<f32>(src + <usize>q * rowBytes + (<usize>p << 2)));
        for (; q < NR; q++) store<f32>(d + (<usize>q << 2), 0);
      }
    }
    dst += <usize>kc << 6;
  }
}
