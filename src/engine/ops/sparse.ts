import { check, fmtShape } from '../errors.js';
import { record } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { tensor } from './creation.js';
import { backendOf, expectDType, expectRank, out } from './util.js';

/**
 * A constant sparse matrix in CSR form, held on the host: the structure of a linear map that is
 * known before the tensors it acts on (RoIAlign's bilinear weights for given boxes, for one).
 * Checked once here, so the kernels index with it freely. Its values carry no gradient.
 */
export class CsrMatrix {
  private transposed: CsrMatrix | null = null;

  /**
   * rowPtr [rows + 1]: row r's entries are [rowPtr[r], rowPtr[r+1]); colIdx and values [nnz].
   * Throws (op 'CsrMatrix') on a malformed structure or a non-finite value.
   */
  constructor(
    readonly rows: number,
    readonly cols: number,
    readonly rowPtr: Int32Array,
    readonly colIdx: Int32Array,
    readonly values: Float32Array,
  ) {
    const op = 'CsrMatrix';
    check(Number.isInteger(rows) && rows >= 0 && Number.isInteger(cols) && cols >= 0, op, () => `rows and cols must be non-negative integers, got ${rows} × ${cols}`);
    check(rowPtr.length === rows + 1, op, () => `rowPtr has ${rowPtr.length} entries, expected rows + 1 = ${rows + 1}`);
    check(rowPtr[0] === 0, op, () => `rowPtr[0] is ${rowPtr[0]}, expected 0`);
    // Plain loops that only look for the first bad entry: these run over every entry of large
    // matrices (hundreds of thousands for one box head), where a closure per entry would show.
    let r = 0;
    while (r < rows && rowPtr[r + 1]! >= rowPtr[r]!) r++;
    check(r === rows, op, () => `rowPtr decreases at row ${r}: ${rowPtr[r]} → ${rowPtr[r + 1]}`);
    const nnz = rowPtr[rows]!;
    check(colIdx.length === nnz && values.length === nnz, op, () => `rowPtr ends at ${nnz} but colIdx has ${colIdx.length} and values ${values.length} entries`);
    let j = 0;
    while (j < nnz && colIdx[j]! >= 0 && colIdx[j]! < cols && Number.isFinite(values[j]!)) j++;
    if (j < nnz) {
      check(colIdx[j]! >= 0 && colIdx[j]! < cols, op, () => `colIdx[${j}] = ${colIdx[j]} is out of range for ${cols} columns`);
      check(false, op, () => `values[${j}] = ${values[j]} is not finite`);
    }
  }

  get nnz(): number {
    return this.rowPtr[this.rows]!;
  }

  /**
   * The transpose, in CSR (built once, then kept): entries of each new row in increasing order of
   * their old row, so the gradient's sums run in a fixed order.
   */
  transpose(): CsrMatrix {
    if (this.transposed) return this.transposed;
    const { rows, cols, rowPtr, colIdx, values } = this;
    const nnz = this.nnz;
    const tPtr = new Int32Array(cols + 1);
    for (let j = 0; j < nnz; j++) tPtr[colIdx[j]! + 1]!++;
    for (let c = 0; c < cols; c++) tPtr[c + 1]! += tPtr[c]!;
    const fill = tPtr.slice(0, cols);
    const tIdx = new Int32Array(nnz);
    const tVal = new Float32Array(nnz);
    for (let r = 0; r < rows; r++) {
      for (let j = rowPtr[r]!; j < rowPtr[r + 1]!; j++) {
        const at = fill[colIdx[j]!]!++;
        tIdx[at] = r;
        tVal[at] = values[j]!;
      }
    }
    this.transposed = new CsrMatrix(cols, rows, tPtr, tIdx, tVal);
    this.transposed.transposed = this;
    return this.transposed;
  }
}

/**
 * s · x for a constant sparse s [rows, cols] and x [cols, width] → [rows, width], each output row
 * summed over its entries in stored order. The gradient reaches x only (sᵀ · dy).
 */
export function sparseMatmul(s: CsrMatrix, x: Tensor): Tensor {
  const op = 'sparseMatmul';
  expectDType(op, 'x', x, 'float32');
  expectRank(op, 'x', x, 2);
  check(x.shape[0] === s.cols, op, () => `x has shape ${fmtShape(x.shape)} but the sparse matrix is ${s.rows} × ${s.cols}: x needs ${s.cols} rows`);
  const backend = backendOf(op, x);
  const width = x.shape[1]!;
  const rowPtr = tensor(s.rowPtr, [s.rows + 1], { dtype: 'int32', backend });
  const colIdx = tensor(s.colIdx, [s.nnz], { dtype: 'int32', backend });
  const values = tensor(s.values, [s.nnz], { backend });
  let y: Tensor;
  try {
    y = out(backend, backend.spmm(rowPtr.buf, colIdx.buf, values.buf, x.buf, { rows: s.rows, xRows: s.cols, width, nnz: s.nnz }), [s.rows, width]);
  } finally {
    rowPtr.dispose();
    colIdx.dispose();
    values.dispose();
  }
  record(op, [x], [y], () => ([dy]) => [sparseMatmul(s.transpose(), dy!)]);
  return y;
}
