// sparseMatmul (CSR × dense): the engine's checks, the transpose, the gradient by finite
// differences on the reference backend, and the wasm kernel against the reference on fresh random
// inputs (column blocks of 32, the 4- and 1-wide tails, empty rows, repeated columns, a NaN, split
// over threads or not) without leaks. WebGPU: test/ops/sparse-webgpu.test.ts.
import { expect, it } from 'vitest';
import * as k from '../../src/engine/index.js';
import { assertClose } from '../helpers/assert.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { gradcheck, referenceBackend } from '../helpers/gradcheck.js';
import { expectMemoryFlat } from '../helpers/memory.js';
import { randn, Rng } from '../helpers/random.js';

function randomCsr(rng: Rng, rows: number, cols: number, maxPerRow: number): k.CsrMatrix {
  const rowPtr = new Int32Array(rows + 1);
  const idx: number[] = [];
  const val: number[] = [];
  for (let r = 0; r < rows; r++) {
    const n = r % 5 === 3 ? 0 : rng.int(1, maxPerRow + 1); // every fifth row empty
    for (let e = 0; e < n; e++) {
      idx.push(e > 0 && r % 3 === 0 ? idx[idx.length - 1]! : rng.int(0, cols)); // repeats in some rows
      val.push(Math.fround(rng.uniform(0.1, 2) * (rng.next() < 0.5 ? -1 : 1)));
    }
    rowPtr[r + 1] = idx.length;
  }
  return new k.CsrMatrix(rows, cols, rowPtr, Int32Array.from(idx), Float32Array.from(val));
}

/** The dense product in float64, the test's own oracle. */
function denseProduct(s: k.CsrMatrix, x: ArrayLike<number>, width: number): Float64Array {
  const y = new Float64Array(s.rows * width);
  for (let r = 0; r < s.rows; r++) {
    for (let j = s.rowPtr[r]!; j < s.rowPtr[r + 1]!; j++) {
      for (let i = 0; i < width; i++) y[r * width + i]! += s.values[j]! * x[s.colIdx[j]! * width + i]!;
    }
  }
  return y;
}

it('CsrMatrix refuses a malformed structure with the argument named', () => {
  const ok = { ptr: Int32Array.from([0, 1, 2]), idx: Int32Array.from([0, 2]), val: Float32Array.from([1, 2]) };
  expect(() => new k.CsrMatrix(2, 3, Int32Array.from([0, 1]), ok.idx, ok.val)).toThrow(/CsrMatrix.*rowPtr has 2 entries, expected rows \+ 1 = 3/);
  expect(() => new k.CsrMatrix(2, 3, Int32Array.from([0, 2, 1]), ok.idx, ok.val)).toThrow(/rowPtr decreases at row 1/);
  expect(() => new k.CsrMatrix(2, 2, ok.ptr, ok.idx, ok.val)).toThrow(/colIdx\[1\] = 2 is out of range for 2 columns/);
  expect(() => new k.CsrMatrix(2, 3, ok.ptr, ok.idx, Float32Array.from([1, NaN]))).toThrow(/values\[1\] = NaN is not finite/);
  expect(() => new k.CsrMatrix(2, 3, ok.ptr, Int32Array.from([0]), ok.val)).toThrow(/rowPtr ends at 2 but colIdx has 1/);
});

it('the transpose has every entry once, in row order within each new row, and transposes back', () => {
  const s = randomCsr(new Rng('csr-transpose'), 7, 5, 4);
  const t = s.transpose();
  expect([t.rows, t.cols, t.nnz]).toEqual([5, 7, s.nnz]);
  const dense = (m: k.CsrMatrix) => {
    const d = new Float64Array(m.rows * m.cols);
    for (let r = 0; r < m.rows; r++) for (let j = m.rowPtr[r]!; j < m.rowPtr[r + 1]!; j++) d[r * m.cols + m.colIdx[j]!]! += m.values[j]!;
    return d;
  };
  const a = dense(s);
  const b = dense(t);
  for (let r = 0; r < 7; r++) for (let c = 0; c < 5; c++) expect(b[c * 7 + r]).toBe(a[r * 5 + c]);
  for (let r = 0; r < t.rows; r++) {
    const rows = Array.from(t.colIdx.subarray(t.rowPtr[r]!, t.rowPtr[r + 1]!));
    expect(rows).toEqual([...rows].sort((p, q) => p - q));
  }
  expect(t.transpose()).toBe(s);
});

it('the gradient matches finite differences (reference backend, float64)', () => {
  const rng = new Rng('spmm-grad');
  const s = randomCsr(rng, 6, 4, 3);
  gradcheck('sparseMatmul', (x) => k.sparseMatmul(s, x), [{ data: randn(rng, 4 * 5), shape: [4, 5] }]);
});

it('sparseMatmul names the op and the shapes on a wrong x', () => {
  k.setBackend(referenceBackend());
  const s = randomCsr(new Rng('spmm-err'), 3, 4, 2);
  const x = k.tensor(new Float32Array(15).fill(1), [5, 3]);
  expect(() => k.sparseMatmul(s, x)).toThrow(/sparseMatmul: x has shape \[5, 3\] but the sparse matrix is 3 × 4: x needs 4 rows/);
  x.dispose();
});

const loaded = await loadBackendsUnderTest({ exclude: ['webgpu'] });
describeEachBackend(loaded, (backend) => {
  // Widths: the 32-column blocks, a 4-wide and a 1-wide tail, one narrower than a block; row
  // counts that split over threads by rows (narrow) and by columns (wide).
  for (const [rows, cols, width] of [[37, 23, 75], [9, 40, 3], [300, 64, 1024], [1, 1, 32], [5, 7, 0], [0, 7, 8]] as const) {
    it(`matches the dense product for ${rows} × ${cols} sparse and ${cols} × ${width} dense`, async () => {
      k.setBackend(backend);
      const rng = new Rng(`spmm-${rows}-${cols}-${width}`);
      const s = randomCsr(rng, rows, cols, 9);
      const xs = Float32Array.from(randn(rng, cols * width));
      const x = k.tensor(xs, [cols, width]);
      const y = k.sparseMatmul(s, x);
      expect(y.shape).toEqual([rows, width]);
      assertClose(await y.data(), denseProduct(s, xs, width), { rtol: 1e-5, atol: 1e-5, what: 'spmm' });
      k.dispose([x, y]);
    });
  }

  it('a NaN in x reaches exactly the rows that read its row', async () => {
    k.setBackend(backend);
    const rng = new Rng('spmm-nan');
    const s = randomCsr(rng, 20, 10, 3);
    const xs = Float32Array.from(randn(rng, 10 * 40));
    xs[4 * 40 + 33] = NaN;
    const x = k.tensor(xs, [10, 40]);
    const y = await k.sparseMatmul(s, x).data();
    for (let r = 0; r < 20; r++) {
      const reads = Array.from(s.colIdx.subarray(s.rowPtr[r]!, s.rowPtr[r + 1]!)).includes(4);
      for (let i = 0; i < 40; i++) expect(Number.isNaN(y[r * 40 + i]!)).toBe(reads && i === 33);
    }
    x.dispose();
  });

  it('forward and gradient agree with the reference backend and leak nothing', async () => {
    const rng = new Rng('spmm-grad-backend');
    const s = randomCsr(rng, 50, 30, 6);
    const xs = Float32Array.from(randn(rng, 30 * 70));
    const dys = Float32Array.from(randn(rng, 50 * 70));
    const run = async (b: k.Backend) => {
      k.setBackend(b);
      const x = k.tensor(xs, [30, 70]);
      const dy = k.tensor(dys, [50, 70]);
      const { value, grads } = k.valueAndGrads(() => k.sum(k.mul(k.sparseMatmul(s, x), dy)), [x]);
      const out = { value: (await value.data())[0]!, grad: await grads[0]!.data() };
      k.dispose([x, dy, value, ...grads]);
      return out;
    };
    const want = await run(referenceBackend());
    const got = await run(backend);
    assertClose([got.value], [want.value], { rtol: 1e-5, what: 'loss' });
    assertClose(got.grad, want.grad, { rtol: 1e-5, atol: 1e-5, what: 'dx' });
    k.setBackend(backend);
    const x = k.tensor(xs, [30, 70]);
    await expectMemoryFlat(backend, () => k.sparseMatmul(s, x).dispose());
    x.dispose();
  });
});
