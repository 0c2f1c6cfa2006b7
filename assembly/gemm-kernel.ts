// The SGEMM micro-kernel: a 2×16 tile of C held in eight v128 accumulators.
//
// Why 2×16: V8 (TurboFan, x64) gives wasm about 15 allocatable xmm registers and schedules the
// loads of one loop iteration ahead of the arithmetic, so a tile with more than eight
// accumulators spills inside the inner loop (checked in the generated machine code with
// `node --no-liftoff --print-wasm-code`). Of the spill-free shapes, 2×16 measured fastest on this
// machine (bench/tune/microkernels.ts, L1-resident panels, kc = 256, best of interleaved rounds):
// 2×16 51 GFLOP/s, 1×28 45, 4×8 44, 3×8 38; the 10–12-accumulator tiles 20–27. It needs only two
// broadcasts per k step (v128.load32_splat → vbroadcastss) against four for 4×8. Unrolling k made
// things worse: Binaryen fuses the unrolled steps into longer add chains and the extra live B
// vectors spill.
//
// Panels (written by the packers): A as kc × [2] floats, B as kc × [16] floats, both k-major, so
// the loop walks two pointers with immediate offsets and does no index arithmetic.

/** Rows of the register tile. */
export const MR: i32 = 2;
/** Columns of the register tile. */
export const NR: i32 = 16;

/** C = A·B (overwrite). */
export const MODE_STORE: i32 = 0;
/** C = C + A·B; accumulators start from C, so the sum is sequential in k whatever the blocking. */
export const MODE_ACC: i32 = 1;
/** C = bias[row] + A·B, bias one float per row of the tile. */
export const MODE_BIAS: i32 = 2;

/**
 * `tiles` full 2×16 tiles stacked down C: tile t is C[2t..2t+2, 0..16] (+)= A_t[2, kc] · B[kc, 16],
 * with the A panels of consecutive tiles contiguous (as packed) and one shared B panel.
 * a, b: packed panels; c: top-left of the first tile; ldc: C's row stride in bytes; kc ≥ 1.
 * Looping over the tiles in here rather than calling once per tile saves the call and loop
 * overhead, which matters when kc is small (a 3×3 convolution of 3 channels has kc = 27).
 * Kept as a separate (non-inlined) function: V8 tiers a wasm function up to TurboFan on entry,
 * so a hot small function gets optimised code within the first large call.
 */
export function kernel2x16(tiles: i32, kc: i32, a: usize, b: usize, c: usize, ldc: usize, mode: i32, bias: usize): void {
  do {
    let c00 = f32x4.splat(0);
    let c01 = c00;
    let c02 = c00;
    let c03 = c00;
    let c10 = c00;
    let c11 = c00;
    let c12 = c00;
    let c13 = c00;
    const c1 = c + ldc;
    if (mode == MODE_ACC) {
      c00 = v128.load(c);
      c01 = v128.load(c, 16);
      c02 = v128.load(c, 32);
      c03 = v128.load(c, 48);
      c10 = v128.load(c1);
      c11 = v128.load(c1, 16);
      c12 = v128.load(c1, 32);
      c13 = v128.load(c1, 48);
    } else if (mode == MODE_BIAS) {
      c00 = v128.load32_splat(bias);
      c01 = c00;
      c02 = c00;
      c03 = c00;
      c10 = v128.load32_splat(bias, 4);
      c11 = c10;
      c12 = c10;
      c13 = c10;
    }
    let bp = b;
    let p = kc;
    do {
      const b0 = v128.load(bp);
      const b1 = v128.load(bp, 16);
      const b2 = v128.load(bp, 32);
      const b3 = v128.load(bp, 48);
      const a0 = v128.load32_splat(a);
      c00 = f32x4.add(c00, f32x4.mul(a0, b0));
      c01 = f32x4.add(c01, f32x4.mul(a0, b1));
      c02 = f32x4.add(c02, f32x4.mul(a0, b2));
      c03 = f32x4.add(c03, f32x4.mul(a0, b3));
      const a1 = v128.load32_splat(a, 4);
      c10 = f32x4.add(c10, f32x4.mul(a1, b0));
      c11 = f32x4.add(c11, f32x4.mul(a1, b1));
      c12 = f32x4.add(c12, f32x4.mul(a1, b2));
      c13 = f32x4.add(c13, f32x4.mul(a1, b3));
      a += 8; // after the loop, a is the next tile's A panel
      bp += 64;
    } while (--p);
    v128.store(c, c00);
    v128.store(c, c01, 16);
    v128.store(c, c02, 32);
    v128.store(c, c03, 48);
    v128.store(c1, c10);
    v128.store(c1, c11, 16);
    v128.store(c1, c12, 32);
    v128.store(c1, c13, 48);
    c = c1 + ldc;
    bias += 8;
  } while (--tiles);
}

/**
 * A partial tile (mr ≤ 2 rows, nr ≤ 16 columns) at the edge of C. The packers zero-fill panels
 * past the edge, so the full kernel runs on a 2×16 staging tile `tmp` (32 floats + 2 for the
 * bias) and only the valid part is copied in and out: same arithmetic, same order as a full tile.
 */
export function kernelEdge(
  mr: i32, nr: i32, kc: i32, a: usize, b: usize, c: usize, ldc: usize, mode: i32, bias: usize, tmp: usize,
): void {
  if (mode == MODE_ACC) {
    for (let i = 0; i < MR; i++) {
      for (let j = 0; j < NR; j++) {
        const v: f32 = i < mr && j < nr ? load<f32>(c + <usize>i * ldc + (<usize>j << 2)) : 0;
        store<f32>(tmp + (<usize>(i * NR + j) << 2), v);
      }
    }
  }
  const tb = tmp + (<usize>(MR * NR) << 2);
  if (mode == MODE_BIAS) {
    for (let i = 0; i < MR; i++) store<f32>(tb + (<usize>i << 2), i < mr ? load<f32>(bias + (<usize>i << 2)) : 0);
  }
  kernel2x16(1, kc, a, b, tmp, <usize>(NR << 2), mode, tb);
  for (let i = 0; i < mr; i++) {
    for (let j = 0; j < nr; j++) {
      store<f32>(c + <usize>i * ldc + (<usize>j << 2), load<f32>(tmp + (<usize>(i * NR + j) << 2)));
    }
  }
}
