import { refFail } from './buffer.js';

/** out[r, :] = Σ values[j] · x[colIdx[j], :] over row r's entries, in float64. */
export function spmm(rowPtr: Float64Array, colIdx: Float64Array, values: Float64Array, x: Float64Array, rows: number, xRows: number, width: number): Float64Array {
  const out = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) {
    for (let j = rowPtr[r]!; j < rowPtr[r + 1]!; j++) {
      const c = colIdx[j]!;
      if (!(c >= 0 && c < xRows)) refFail('spmm', `colIdx[${j}] = ${c} is out of range for ${xRows} rows`);
      const v = values[j]!;
      const src = c * width;
      const dst = r * width;
      for (let i = 0; i < width; i++) out[dst + i]! += v * x[src + i]!;
    }
  }
  return out;
}
