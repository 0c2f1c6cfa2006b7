// sparseMatmul (CSR × dense) on the WebGPU backend (shaders/spmm.wgsl,
// src/backends/webgpu/kernels/sparse.ts), checked against the reference backend on fresh random
// inputs: widths below, at and above the kernel's tile widths and not multiples of 4, empty rows,
// repeated column indices in a row, empty operands (rows, width, nnz or x's rows 0), more tiles
// than one dispatch dimension holds, a NaN in x reaching exactly the rows that use its column,
// the gradient through the engine's tape, and no leak. Runs where KDET_TEST_BACKENDS names webgpu;
// the other backends have their own sparse tests.
import { afterAll, expect, it } from 'vitest';
import { createReferenceBackend } from '../../src/backends/reference/index.js';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { assertClose } from '../helpers/assert.js';
import { backendsUnderTest, describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { expectMemoryFlat } from '../helpers/memory.js';
import { randn, Rng } from '../helpers/random.js';

const selected = backendsUnderTest().some((b) => b.name === 'webgpu');
const loaded = selected ? (await loadBackendsUnderTest()).filter((b) => b.name === 'webgpu') : [];
const reference: Backend = createReferenceBackend();
afterAll(() => reference.dispose());

if (!selected) {
  it.skip("SKIPPED: KDET_TEST_BACKENDS does not name 'webgpu'", () => {});
}

/** A random CSR matrix. Row r has `counts(r)` entries; repeated columns are allowed (and forced by `dup`). */
interface CsrSpec {
  rows: number;
  cols: number;
  /** Entries of row r (0: an empty row). */
  counts: (r: number, rng: Rng) => number;
  /** Rows whose entries all share one column. */
  dup?: (r: number) => boolean;
}

function randomCsr(rng: Rng, spec: CsrSpec): k.CsrMatrix {
  const { rows, cols } = spec;
  const rowPtr = new Int32Array(rows + 1);
  const idx: number[] = [];
  const val: number[] = [];
  for (let r = 0; r < rows; r++) {
    const n = cols === 0 ? 0 : spec.counts(r, rng);
    const shared = rng.int(0, Math.max(1, cols));
    for (let e = 0; e < n; e++) {
      idx.push(spec.dup?.(r) ? shared : rng.int(0, cols));
      // Never zero, so that every entry shows in the sum (and a NaN it meets spreads).
      let v = rng.uniform(-2, 2);
      if (Math.abs(v) < 0.05) v = 0.5;
      val.push(v);
    }
    rowPtr[r + 1] = idx.length;
  }
  return new k.CsrMatrix(rows, cols, rowPtr, Int32Array.from(idx), Float32Array.from(val));
}

function randomX(rng: Rng, rows: number, width: number): Float32Array {
  const x = Float32Array.from(randn(rng, rows * width));
  for (let i = 0; i < x.length; i++) if (x[i] === 0) x[i] = 0.25;
  return x;
}

/** sparseMatmul(s, x) on `backend`, read back, everything disposed. */
async function run(backend: Backend, s: k.CsrMatrix, x: Float32Array, width: number): Promise<{ shape: number[]; data: Float32Array }> {
  const xt = k.tensor(x, [s.cols, width], { backend });
  const y = k.sparseMatmul(s, xt);
  try {
    return { shape: [...y.shape], data: (await y.data()) as Float32Array };
  } finally {
    k.dispose([xt, y]);
  }
}

async function compare(backend: Backend, s: k.CsrMatrix, x: Float32Array, width: number, what: string): Promise<Float32Array> {
  const got = await run(backend, s, x, width);
  const want = await run(reference, s, x, width);
  expect(got.shape, what).toEqual([s.rows, width]);
  expect(got.data.length, what).toBe(s.rows * width);
  assertClose(got.data, want.data, { rtol: 1e-5, what, shape: [s.rows, width] });
  return got.data;
}

describeEachBackend(loaded, (backend) => {
  it('matches the reference over widths 1…130 (tile widths 4…64, several column tiles), empty rows and repeated columns', async () => {
    const rng = new Rng('spmm-webgpu-shapes');
    // [rows, cols, width]
    const shapes: [number, number, number][] = [
      [1, 1, 1], [7, 5, 3], [33, 17, 5], [12, 9, 2], [40, 23, 17], [130, 64, 61], [9, 11, 64], [5, 9, 130], [300, 40, 1], [70, 3, 7],
    ];
    for (const [rows, cols, width] of shapes) {
      const s = randomCsr(rng, {
        rows,
        cols,
        // Row 0, the last row and every 5th row empty; some long rows.
        counts: (r, g) => ((r === 0 && rows > 1) || (r === rows - 1 && rows > 2) || r % 5 === 3) ? 0 : r % 7 === 1 ? g.int(10, 25) : g.int(1, 6),
        dup: (r) => r % 4 === 2,
      });
      expect(s.nnz).toBeGreaterThan(0);
      const x = randomX(rng, cols, width);
      const got = await compare(backend, s, x, width, `${rows}×${cols} · ${cols}×${width} (nnz ${s.nnz})`);
      // Empty rows are exact zeros.
      for (let r = 0; r < rows; r++) {
        if (s.rowPtr[r] !== s.rowPtr[r + 1]) continue;
        for (let c = 0; c < width; c++) expect(Object.is(got[r * width + c], 0), `row ${r} is empty: out[${r}, ${c}] = ${got[r * width + c]}`).toBe(true);
      }
    }
  });

  it('repeated column indices in a row add up, in stored order', async () => {
    const rng = new Rng('spmm-webgpu-dup');
    // Row 0: column 2 three times; row 1: columns 0, 2, 0, 2; row 2: one entry; row 3 empty.
    const rowPtr = Int32Array.from([0, 3, 7, 8, 8]);
    const colIdx = Int32Array.from([2, 2, 2, 0, 2, 0, 2, 1]);
    const values = Float32Array.from([0.5, -1.25, 2, 1.5, 0.75, -0.5, 3, -2]);
    const s = new k.CsrMatrix(4, 3, rowPtr, colIdx, values);
    const width = 6;
    const x = randomX(rng, 3, width);
    const got = await compare(backend, s, x, width, 'repeated columns');
    // Against the float32 sum in j order, written here.
    for (let r = 0; r < 4; r++) {
      for (let c = 0; c < width; c++) {
        let acc = 0;
        for (let j = rowPtr[r]!; j < rowPtr[r + 1]!; j++) acc = Math.fround(acc + Math.fround(values[j]! * x[colIdx[j]! * width + c]!));
        expect(got[r * width + c]).toBeCloseTo(acc, 5);
      }
    }
  });

  it('empty operands: rows 0, width 0, nnz 0, x with 0 rows', async () => {
    const rng = new Rng('spmm-webgpu-empty');
    const empty = (rows: number, cols: number) => new k.CsrMatrix(rows, cols, new Int32Array(rows + 1), new Int32Array(0), new Float32Array(0));
    // rows = 0 (x still has rows and columns).
    await compare(backend, empty(0, 4), randomX(rng, 4, 3), 3, 'rows 0');
    // width = 0 with entries.
    const s = randomCsr(rng, { rows: 5, cols: 4, counts: (_r, g) => g.int(1, 4) });
    await compare(backend, s, new Float32Array(0), 0, 'width 0');
    // nnz = 0: every row empty, zeros out.
    const z = await compare(backend, empty(6, 4), randomX(rng, 4, 5), 5, 'nnz 0');
    expect(Array.from(z)).toEqual(new Array(30).fill(0));
    // x has no rows (the sparse matrix has no columns, so no entries).
    const z2 = await compare(backend, empty(3, 0), new Float32Array(0), 7, 'x with 0 rows');
    expect(Array.from(z2)).toEqual(new Array(21).fill(0));
    // Everything 0.
    await compare(backend, empty(0, 0), new Float32Array(0), 0, 'all 0');
  });

  it('more tiles than one dispatch dimension holds (the grid splits over x and y)', async () => {
    const rng = new Rng('spmm-webgpu-large');
    // Width 1 runs 4 × 64 tiles: 4.2 M rows are 65 625 tiles > 65 535.
    const rows = 4_200_000;
    const cols = 50;
    const s = randomCsr(rng, { rows, cols, counts: (r, g) => (r % 3 === 0 ? 0 : g.int(1, 3)) });
    const x = randomX(rng, cols, 1);
    // compare() checks every row, those of the tiles past the first grid row included.
    const got = await compare(backend, s, x, 1, `${rows} rows, width 1`);
    expect(got[rows - 2]).not.toBe(0); // (rows - 2) % 3 !== 0: a row with entries in the last tile
  }, 120_000);

  it('a NaN in x reaches exactly the output rows that use its column', async () => {
    const rng = new Rng('spmm-webgpu-nan');
    const rows = 40;
    const cols = 12;
    const width = 9;
    const s = randomCsr(rng, { rows, cols, counts: (r, g) => (r % 6 === 0 ? 0 : g.int(1, 4)), dup: (r) => r % 5 === 1 });
    const x = randomX(rng, cols, width);
    const nanRow = s.colIdx[Math.floor(s.nnz / 2)]!;
    const nanCol = 4;
    x[nanRow * width + nanCol] = NaN;
    const got = await compare(backend, s, x, width, 'NaN in x');
    let hit = 0;
    for (let r = 0; r < rows; r++) {
      let uses = false;
      for (let j = s.rowPtr[r]!; j < s.rowPtr[r + 1]!; j++) uses ||= s.colIdx[j] === nanRow;
      if (uses) hit++;
      for (let c = 0; c < width; c++) {
        const v = got[r * width + c]!;
        expect(Number.isNaN(v), `out[${r}, ${c}] = ${v} (row ${uses ? 'uses' : 'does not use'} x row ${nanRow})`).toBe(uses && c === nanCol);
      }
    }
    expect(hit).toBeGreaterThan(0);
  });

  it('gradient through the tape (sᵀ · dy, itself a spmm) matches the reference', async () => {
    const rng = new Rng('spmm-webgpu-grad');
    for (const [rows, cols, width] of [[23, 14, 5], [8, 30, 33], [50, 7, 1]] as [number, number, number][]) {
      // Some columns unused (zero gradient rows), repeated columns, empty rows.
      const s = randomCsr(rng, { rows, cols, counts: (r, g) => (r % 4 === 0 ? 0 : g.int(1, 5)), dup: (r) => r % 3 === 1 });
      const x = randomX(rng, cols, width);
      const w = Float32Array.from(randn(rng, rows * width));
      const lossAndGrad = async (b: Backend) => {
        const xt = k.tensor(x, [cols, width], { backend: b });
        const wt = k.tensor(w, [rows, width], { backend: b });
        const { value, grads } = k.valueAndGrads(() => k.sum(k.mul(k.sparseMatmul(s, xt), wt)), [xt]);
        try {
          return { loss: (await value.data())[0]!, dx: (await grads[0]!.data()) as Float32Array };
        } finally {
          k.dispose([xt, wt, value, ...grads]);
        }
      };
      const got = await lossAndGrad(backend);
      const want = await lossAndGrad(reference);
      const what = `${rows}×${cols} · ${cols}×${width}`;
      assertClose([got.loss], [want.loss], { rtol: 1e-4, what: `loss ${what}` });
      assertClose(got.dx, want.dx, { rtol: 1e-5, what: `dx ${what}`, shape: [cols, width] });
    }
  });

  it('leaks nothing: memory() is back where it started once the tensors are disposed', async () => {
    const rng = new Rng('spmm-webgpu-leak');
    const s = randomCsr(rng, { rows: 31, cols: 19, counts: (r, g) => (r % 3 === 0 ? 0 : g.int(1, 6)) });
    const empty = new k.CsrMatrix(4, 19, new Int32Array(5), new Int32Array(0), new Float32Array(0));
    const x = randomX(rng, 19, 10);
    await backend.sync();
    const start = backend.memory();
    const tensorsAtStart = k.memoryStats(backend).tensors;
    const step = () => {
      const xt = k.tensor(x, [19, 10], { backend });
      const y = k.sparseMatmul(s, xt);
      const y0 = k.sparseMatmul(empty, xt);
      const { value, grads } = k.valueAndGrads(() => k.sum(k.sparseMatmul(s, xt)), [xt]);
      k.dispose([xt, y, y0, value, ...grads]);
    };
    step();
    await backend.sync();
    expect(backend.memory()).toEqual(start);
    expect(k.memoryStats(backend).tensors).toBe(tensorsAtStart);
    await expectMemoryFlat(backend, step, 3);
    // With outputs read back in between.
    const xs: Tensor[] = [];
    for (let i = 0; i < 3; i++) {
      xs.push(k.tensor(x, [19, 10], { backend }));
      const y = k.sparseMatmul(s, xs[i]!);
      await y.data();
      y.dispose();
    }
    k.dispose(xs);
    await backend.sync();
    expect(backend.memory()).toEqual(start);
  });
});
