import { afterAll, describe, it } from 'vitest';
import type { ReduceOp } from '../../src/engine/backend.js';
import { downF, downI, expectClose, expectEqual, openBackend, randf, rng, title, up } from './helpers.js';

const o = await openBackend();
const b = o.backend!;

function reduceRef(op: ReduceOp, x: Float32Array, outer: number, n: number, inner: number): { out: number[]; mag: number[] } {
  const out: number[] = [];
  const mag: number[] = [];
  for (let a = 0; a < outer; a++) {
    for (let c = 0; c < inner; c++) {
      let acc = op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity;
      let m = 0;
      for (let k = 0; k < n; k++) {
        const v = x[(a * n + k) * inner + c]!;
        m += Math.abs(v);
        if (op === 'sum') acc += v;
        else if (Number.isNaN(v) || Number.isNaN(acc)) acc = NaN;
        else acc = op === 'max' ? Math.max(acc, v) : Math.min(acc, v);
      }
      out.push(acc);
      mag.push(m);
    }
  }
  return { out, mag };
}

/** First index of the extreme; NaN is the extreme (torch.argmax). */
function argRef(op: 'argmax' | 'argmin', x: Float32Array, outer: number, n: number, inner: number): number[] {
  const out: number[] = [];
  for (let a = 0; a < outer; a++) {
    for (let c = 0; c < inner; c++) {
      let bi = 0;
      for (let k = 1; k < n; k++) {
        const v = x[(a * n + k) * inner + c]!;
        const best = x[(a * n + bi) * inner + c]!;
        if (Number.isNaN(best)) break;
        if (Number.isNaN(v) || (op === 'argmax' ? v > best : v < best)) bi = k;
      }
      out.push(bi);
    }
  }
  return out;
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1], [7, 1, 1], [5, 13, 1], [3, 1000, 1], [4, 9, 3], [2, 33, 40], [3, 5, 100], [1, 70000, 1], [2, 5000, 3], [1, 3000, 64], [70000, 1, 1],
];

describe.skipIf(!o.backend)(title('webgpu reductions', o), () => {
  afterAll(() => b.dispose());
  const r = rng(3);

  for (const op of ['sum', 'max', 'min'] as ReduceOp[]) {
    it(`${op} over the middle axis of [outer, n, inner] (tree, columns, chunked)`, async () => {
      for (const [outer, n, inner] of SHAPES) {
        const x = randf(r, outer * n * inner, -2, 2);
        const want = reduceRef(op, x, outer, n, inner);
        const got = await downF(b, b.reduce(op, up(b, x), outer, n, inner), outer * inner);
        expectClose(got, want.out, op === 'sum' ? { scale: want.mag, rtol: 1e-6 } : { rtol: 0 }, `${op} ${[outer, n, inner]}`);
      }
    });
  }

  // CPU-emulated devices (SwiftShader) reduce without workgroup memory (reduce_direct), in the
  // tree's order: a backend that takes the device for the other kind must give the same bits.
  it('the workgroup tree and reduce_direct give the same bits', async () => {
    const other = (await openBackend({ cpuEmulated: !b.ctx.cpuEmulated })).backend!;
    try {
      for (const op of ['sum', 'max', 'min'] as ReduceOp[]) {
        for (const [outer, n, inner] of SHAPES) {
          const x = randf(r, outer * n * inner, -2, 2);
          if (x.length > 10) x[7] = op === 'sum' ? 1e30 : NaN;
          const [p, q] = await Promise.all([b, other].map(async (be) => downF(be, be.reduce(op, up(be, x), outer, n, inner), outer * inner)));
          expectEqual(Array.from(new Uint32Array(q!.buffer)), Array.from(new Uint32Array(p!.buffer)), `${op} ${[outer, n, inner]} bits`);
        }
      }
    } finally {
      other.dispose();
    }
  });

  it('max / min propagate NaN; sum over an empty axis is 0', async () => {
    const x = new Float32Array([1, NaN, 3, 4, 5, 6, -Infinity, 2]);
    expectEqual(await downF(b, b.reduce('max', up(b, x), 2, 4, 1), 2), [NaN, 6], 'max NaN');
    expectEqual(await downF(b, b.reduce('min', up(b, x), 2, 4, 1), 2), [NaN, -Infinity], 'min NaN');
    expectEqual(await downF(b, b.reduce('sum', up(b, x), 3, 0, 2), 6), [0, 0, 0, 0, 0, 0], 'empty sum');
  });

  for (const op of ['argmax', 'argmin'] as const) {
    it(`${op}: first extreme, NaN wins`, async () => {
      for (const [outer, n, inner] of SHAPES.filter(([, n]) => n <= 5000)) {
        // Coarse values so that ties are common.
        const x = randf(r, outer * n * inner, -4, 4).map((v) => Math.round(v));
        const got = await downI(b, b.argReduce(op, up(b, x), outer, n, inner), outer * inner);
        expectEqual(got, argRef(op, x, outer, n, inner), `${op} ${[outer, n, inner]}`);
      }
      const x = new Float32Array([3, NaN, 5, NaN, 1, 1, 0, 1]);
      expectEqual(await downI(b, b.argReduce(op, up(b, x), 2, 4, 1), 2), op === 'argmax' ? [1, 0] : [1, 2], `${op} NaN`);
    });
  }

  it('softmax and log-softmax rows (short rows share a workgroup)', async () => {
    for (const [rows, cols] of [[1, 1], [9, 5], [40, 21], [3, 300], [2, 1500], [3, 64]]) {
      const x = randf(r, rows! * cols!, -30, 30);
      if (cols! > 2) x[1] = -Infinity;
      for (const log of [false, true]) {
        const want: number[] = [];
        for (let i = 0; i < rows!; i++) {
          const row = Array.from(x.subarray(i * cols!, (i + 1) * cols!));
          const m = Math.max(...row);
          const s = row.reduce((a, v) => a + Math.exp(v - m), 0);
          for (const v of row) want.push(log ? v - m - Math.log(s) : Math.exp(v - m) / s);
        }
        const got = await downF(b, b.softmax(up(b, x), rows!, cols!, log), rows! * cols!);
        // log-softmax values near 0 are differences of O(|x|) terms: absolute error relative to that.
        expectClose(got, want, log ? { rtol: 1e-5, atol: 1e-5 } : { rtol: 1e-5, atol: 1e-30 }, `${log ? 'log' : ''}softmax ${[rows, cols]}`);
      }
    }
    // More rows than one grid dimension of workgroups holds (one row per workgroup here).
    const rows = 66000;
    const big = randf(r, rows * 64, -3, 3);
    const gotBig = await downF(b, b.softmax(up(b, big), rows, 64, true), rows * 64);
    const last = Array.from(big.subarray((rows - 1) * 64));
    const m = Math.max(...last);
    const ls = Math.log(last.reduce((a, v) => a + Math.exp(v - m), 0));
    expectClose(gotBig.subarray((rows - 1) * 64), last.map((v) => v - m - ls), { rtol: 1e-5, atol: 1e-5 }, 'last row');
    const nan = new Float32Array([1, NaN, 2, 0, 1, 2]);
    const got = await downF(b, b.softmax(up(b, nan), 2, 3, false), 6);
    expectEqual(got.slice(0, 3), [NaN, NaN, NaN], 'a NaN poisons its row');
  });
});
