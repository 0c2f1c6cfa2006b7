// The cache-blocked GEMM driver (the BLIS loop nest) shared by matmul and the convolutions.
//
//   for jc over N in NC blocks            ← the splittable outer range [jStart, jEnd) (threads)
//     for pc over K in KC blocks          pack B block kc × nc     (L2: 512 KB)
//       for ic over M in MC blocks        pack A block mc × kc     (L2: 128 KB), range [iStart, iEnd)
//         for jr over nc by 16            B micro-panel kc × 16    (L1: 16 KB at kc = 256)
//           for ir over mc by 2           (inside kernel2x16) A micro-panels stream from L2,
//                                         a 2×16 tile of C in registers
//
// Operands are described by a kind so that convolutions reuse the same loop nest: their B panels
// are packed straight from the image (im2col fused into packing, see conv-pack.ts).
// The summation order of every C element is fixed by k alone (see MODE_ACC), so results do not
// depend on the blocking of M or N nor on how [jStart, jEnd) is split.
import { MR, NR, MODE_ACC, kernel2x16, kernelEdge } from './gemm-kernel';
import { packANormal, packATrans, packBNormal, packBTrans } from './gemm-pack';
import { packAConvFlipped, packAIm2col, packBIm2col, packBIm2colT } from './conv-pack';

export const A_NORMAL: i32 = 0; // a[i·lda + p]
export const A_TRANS: i32 = 1; // a[p·lda + i]
export const A_CONV_FLIPPED: i32 = 2; // weights of the transposed convolution (conv-pack.ts)
export const A_IM2COL: i32 = 3; // k = (channel, tap) rows, p = output pixels (conv-pack.ts)
export const B_NORMAL: i32 = 0; // b[p·ldb + j]
export const B_TRANS: i32 = 1; // b[j·ldb + p]
export const B_IM2COL: i32 = 2; // k = (channel, tap) rows, j = output pixels (conv-pack.ts)
export const B_IM2COL_T: i32 = 3; // k = output pixels, j = (channel, tap) (conv-pack.ts)

// Block sizes (floats). KC·16·4 B = 16 KB keeps a B micro-panel in a 32 KB L1 with room for the
// A stream; the A block MC·KC·4 B = 128 KB and the B block KC·NC·4 B = 512 KB both stay in a 1 MB
// L2 (a B block is packed and then consumed at once, so it should not spill to L3 in between).
// Measured with bench/tune/tune.ts (bench/RESULTS.md): NC 512 ≥ NC 2048 on every shape; MC and KC
// between 64 and 512 were within noise of each other.
let KC: i32 = 256;
let MC: i32 = 128;
let NC: i32 = 512;

/** For tuning runs only (bench): changes the block sizes; scratch sizes follow. */
export function setBlocking(mc: i32, kc: i32, nc: i32): void {
  MC = (mc + MR - 1) / MR * MR;
  KC = kc;
  NC = (nc + NR - 1) / NR * NR;
}

// @ts-ignore: decorator
@inline
function roundUp(x: i32, to: i32): i32 {
  return (x + to - 1) / to * to;
}

// @ts-ignore: decorator
@inline
function align64(p: usize): usize {
  return (p + 63) & ~(<usize>63);
}

/** Splits `total` into equal blocks of at most `block`, each a multiple of `unit` (≤ block). */
// @ts-ignore: decorator
@inline
function evenStep(total: i32, block: i32, unit: i32): i32 {
  const blocks = max(1, (total + block - 1) / block);
  return min(block, roundUp((total + blocks - 1) / blocks, unit));
}

/** Bytes of scratch `gemm` needs for these sizes (including 64 bytes of alignment slack). */
export function gemmScratchBytes(m: i32, n: i32, k: i32): usize {
  const mc = min(MC, roundUp(max(m, 1), MR));
  const kc = min(KC, max(k, 1));
  const nc = min(NC, roundUp(max(n, 1), NR));
  return 64 + align64(<usize>mc * kc * 4) + align64(<usize>kc * nc * 4) + 64 * 4;
}

function packA(kind: i32, dst: usize, a: usize, lda: i32, i0: i32, p0: i32, mc: i32, kc: i32): void {
  if (kind == A_NORMAL) packANormal(dst, a + ((<usize>i0 * lda + p0) << 2), lda, mc, kc);
  else if (kind == A_TRANS) packATrans(dst, a + ((<usize>p0 * lda + i0) << 2), lda, mc, kc);
  else if (kind == A_CONV_FLIPPED) packAConvFlipped(dst, i0, p0, mc, kc);
  else packAIm2col(dst, i0, p0, mc, kc);
}

function packB(kind: i32, dst: usize, b: usize, ldb: i32, p0: i32, j0: i32, kc: i32, nc: i32): void {
  if (kind == B_NORMAL) packBNormal(dst, b + ((<usize>p0 * ldb + j0) << 2), ldb, kc, nc);
  else if (kind == B_TRANS) packBTrans(dst, b + ((<usize>j0 * ldb + p0) << 2), ldb, kc, nc);
  else if (kind == B_IM2COL) packBIm2col(dst, p0, j0, kc, nc);
  else packBIm2colT(dst, p0, j0, kc, nc);
}

/**
 * C[m × n] (row stride ldc floats) = op(A)·op(B), restricted to rows [iStart, iEnd) and columns
 * [jStart, jEnd): any split of either range gives bit-identical elements (threads split them).
 * mode: MODE_STORE, MODE_ACC (add to C) or MODE_BIAS (bias[i] per row i, `bias` = float*).
 * Requires k ≥ 1 (callers handle k = 0).
 */
export function gemm(
  m: i32, n: i32, k: i32,
  aKind: i32, a: usize, lda: i32,
  bKind: i32, b: usize, ldb: i32,
  c: usize, ldc: i32, mode: i32, bias: usize,
  scratch: usize, iStart: i32, iEnd: i32, jStart: i32, jEnd: i32,
): void {
  if (iEnd <= iStart || jEnd <= jStart) return;
  const mcMax = min(MC, roundUp(max(m, 1), MR));
  const kcMax = min(KC, max(k, 1));
  const ncMax = min(NC, roundUp(max(n, 1), NR));
  const aBuf = align64(scratch);
  const bBuf = aBuf + align64(<usize>mcMax * kcMax * 4);
  const tmp = bBuf + align64(<usize>kcMax * ncMax * 4);
  const ldcBytes = <usize>ldc << 2;
  // Equal blocks rather than full blocks plus a remainder: no short trailing K block that pays a
  // whole pass over C for little work. The K split depends on k alone (determinism).
  const kcStep = evenStep(k, KC, 1);
  const mcStep = evenStep(iEnd - iStart, MC, MR);
  const ncStep = evenStep(jEnd - jStart, NC, NR);
  for (let jc = jStart; jc < jEnd; jc += ncStep) {
    const nc = min(ncStep, jEnd - jc);
    for (let pc = 0; pc < k; pc += kcStep) {
      const kc = min(kcStep, k - pc);
      packB(bKind, bBuf, b, ldb, pc, jc, kc, nc);
      const tileMode = pc == 0 ? mode : MODE_ACC;
      for (let ic = iStart; ic < iEnd; ic += mcStep) {
        const mc = min(mcStep, iEnd - ic);
        packA(aKind, aBuf, a, lda, ic, pc, mc, kc);
        const cBlock = c + <usize>ic * ldcBytes + (<usize>jc << 2);
        const biasBlock = bias + (<usize>ic << 2);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const bPanel = bBuf + <usize>jr * kc * 4;
          // Full row tiles in one call; a last single row (odd mc) or a narrow panel takes the edge path.
          const fullTiles = nr == NR ? mc / MR : 0;
          if (fullTiles > 0) kernel2x16(fullTiles, kc, aBuf, bPanel, cBlock + (<usize>jr << 2), ldcBytes, tileMode, biasBlock);
          for (let ir = fullTiles * MR; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const aPanel = aBuf + <usize>ir * kc * 4;
            const cTile = cBlock + <usize>ir * ldcBytes + (<usize>jr << 2);
            kernelEdge(mr, nr, kc, aPanel, bPanel, cTile, ldcBytes, tileMode, biasBlock + (<usize>ir << 2), tmp);
          }
        }
      }
    }
  }
}
