import { afterAll, describe, it } from 'vitest';
import type { DataArray, DType } from '../../src/engine/dtype.js';
import { down, downF, expectClose, expectEqual, openBackend, prod, randf, randi, rng, stridesOf, title, unravel, up } from './helpers.js';

const o = await openBackend();
const b = o.backend!;

function data(r: () => number, dtype: DType, n: number): DataArray {
  return dtype === 'float32' ? randf(r, n, -10, 10) : randi(r, n, -1000000, 1000000);
}

function transposeRef(x: DataArray, shape: number[], perm: number[]): number[] {
  const out = perm.map((p) => shape[p]!);
  const st = stridesOf(shape);
  return Array.from({ length: prod(out) }, (_, i) => x[unravel(i, out).reduce((a, c, d) => a + c * st[perm[d]!]!, 0)]!);
}

describe.skipIf(!o.backend)(title('webgpu layout kernels', o), () => {
  afterAll(() => b.dispose());
  const r = rng(2);

  it('transpose: tiled matrix path, batched, and general permutations, both dtypes', async () => {
    const cases: [number[], number[]][] = [
      [[70, 33], [1, 0]],
      [[3, 37, 45], [0, 2, 1]],
      [[2, 3, 4, 5], [0, 1, 3, 2]],
      [[2, 3, 4, 5], [3, 1, 0, 2]],
      [[2, 3, 4, 5], [1, 0, 2, 3]],
      [[5, 1, 6], [2, 1, 0]],
      [[4, 6], [0, 1]],
      [[2, 1, 3, 1, 2, 2], [5, 4, 3, 2, 1, 0]],
    ];
    // A CPU-emulated device (SwiftShader) copies matrices with the strided kernel instead of
    // the tiled one: a second backend that takes the device for the other kind checks both.
    const other = (await openBackend({ cpuEmulated: !b.ctx.cpuEmulated })).backend!;
    try {
      for (const be of [b, other]) {
        for (const dtype of ['float32', 'int32'] as DType[]) {
          for (const [shape, perm] of cases) {
            const x = data(r, dtype, prod(shape));
            const got = await down(be, be.transpose(up(be, x), shape, perm, dtype), dtype, x.length);
            expectEqual(got, transposeRef(x, shape, perm), `transpose ${dtype} ${JSON.stringify([shape, perm])} (cpuEmulated ${be.ctx.cpuEmulated})`);
          }
        }
      }
    } finally {
      other.dispose();
    }
  });

  it('slice and pad (its adjoint)', async () => {
    const shape = [4, 5, 6, 3];
    const x = randf(r, prod(shape));
    for (const [begin, size] of [[[1, 0, 2, 0], [2, 5, 3, 3]], [[0, 4, 0, 1], [4, 1, 6, 2]], [[3, 2, 5, 2], [1, 1, 1, 1]], [[0, 0, 0, 0], [4, 5, 6, 3]]]) {
      const st = stridesOf(shape);
      const want = Array.from({ length: prod(size!) }, (_, i) => x[unravel(i, size!).reduce((a, c, d) => a + (c + begin![d]!) * st[d]!, 0)]!);
      expectEqual(await downF(b, b.slice(up(b, x), shape, begin!, size!, 'float32'), want.length), want, `slice ${JSON.stringify([begin, size])}`);
      // pad puts the slice back at `begin` in zeros of `shape`.
      const piece = Float32Array.from(want);
      const padded = await downF(b, b.pad(up(b, piece), size!, shape, begin!, 'float32'), prod(shape));
      const wantPad = Array.from({ length: prod(shape) }, (_, i) => {
        const c = unravel(i, shape);
        const inside = c.every((v, d) => v >= begin![d]! && v < begin![d]! + size![d]!);
        return inside ? x[i]! : 0;
      });
      expectEqual(padded, wantPad, `pad ${JSON.stringify([begin, size])}`);
    }
    const ints = randi(r, 12, -5, 5);
    expectEqual(await down(b, b.pad(up(b, ints), [3, 4], [5, 7], [1, 2], 'int32'), 'int32', 35), Array.from({ length: 35 }, (_, i) => {
      const [y, xx] = [Math.floor(i / 7), i % 7];
      return y >= 1 && y < 4 && xx >= 2 && xx < 6 ? ints[(y - 1) * 4 + xx - 2]! : 0;
    }), 'pad int32');
  });

  it('concat along each axis, both dtypes, with an empty piece', async () => {
    for (const dtype of ['float32', 'int32'] as DType[]) {
      for (const axis of [0, 1, 2]) {
        const shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]].map((s, i) => s.map((d, j) => (j === axis ? [1, 3, 0][i]! : d)));
        const xs = shapes.map((s) => data(r, dtype, prod(s)));
        const total = shapes.reduce((a, s) => a + s[axis]!, 0);
        const outShape = shapes[0]!.map((d, j) => (j === axis ? total : d));
        const got = await down(b, b.concat(xs.map((x) => up(b, x)), shapes, axis, dtype), dtype, prod(outShape));
        const want = Array.from({ length: prod(outShape) }, (_, i) => {
          const c = unravel(i, outShape);
          let k = 0;
          let at = c[axis]!;
          while (at >= shapes[k]![axis]!) at -= shapes[k++]![axis]!;
          c[axis] = at;
          return xs[k]![c.reduce((a, v, d) => a + v * stridesOf(shapes[k]!)[d]!, 0)]!;
        });
        expectEqual(got, want, `concat ${dtype} axis ${axis}`);
      }
    }
  });

  it('gather (index_select) with repeats; an index out of range reads zero', async () => {
    const shape = [3, 7, 5];
    for (const axis of [0, 1, 2]) {
      for (const dtype of ['float32', 'int32'] as DType[]) {
        const x = data(r, dtype, prod(shape));
        const idx = randi(r, 9, 0, shape[axis]!);
        idx[4] = idx[1]!;
        const outShape = shape.map((d, j) => (j === axis ? idx.length : d));
        const got = await down(b, b.gather(up(b, x), shape, up(b, idx), idx.length, axis, dtype), dtype, prod(outShape));
        const want = Array.from({ length: prod(outShape) }, (_, i) => {
          const c = unravel(i, outShape);
          c[axis] = idx[c[axis]!]!;
          return x[c.reduce((a, v, d) => a + v * stridesOf(shape)[d]!, 0)]!;
        });
        expectEqual(got, want, `gather ${dtype} axis ${axis}`);
      }
    }
    const got = await downF(b, b.gather(up(b, new Float32Array([1, 2, 3])), [3], up(b, new Int32Array([2, -1, 3, 0])), 4, 0, 'float32'), 4);
    expectEqual(got, [3, 0, 0, 1], 'out-of-range gather');
  });

  it('scatterAdd (index_add) sums repeated indices deterministically', async () => {
    for (const [shape, axis, outAxis] of [[[4, 50, 3], 1, 20], [[300], 0, 7], [[6, 40], 1, 500], [[5, 2, 3], 0, 9]] as [number[], number, number][]) {
      const src = randf(r, prod(shape));
      const idx = randi(r, shape[axis]!, 0, outAxis);
      const outShape = shape.map((d, j) => (j === axis ? outAxis : d));
      const want = new Float64Array(prod(outShape));
      const mag = new Float64Array(want.length);
      for (let i = 0; i < src.length; i++) {
        const c = unravel(i, shape);
        c[axis] = idx[c[axis]!]!;
        const t = c.reduce((a, v, d) => a + v * stridesOf(outShape)[d]!, 0);
        want[t]! += src[i]!;
        mag[t]! += Math.abs(src[i]!);
      }
      const runs = [];
      for (let k = 0; k < 2; k++) runs.push(await downF(b, b.scatterAdd(up(b, src), shape, up(b, idx), axis, outAxis), want.length));
      expectClose(runs[0]!, want, { scale: mag, rtol: 1e-5 }, `scatterAdd ${JSON.stringify(shape)}`);
      expectEqual(runs[1]!, runs[0]!, 'scatterAdd is deterministic');
    }
    // One target receiving every source: the longest CSR row.
    const n = 2000;
    const src = randf(r, n);
    const got = await downF(b, b.scatterAdd(up(b, src), [n], up(b, new Int32Array(n).fill(1)), 0, 3), 3);
    expectClose(got, [0, src.reduce((a, v) => a + v, 0), 0], { scale: [1, src.reduce((a, v) => a + Math.abs(v), 0), 1], rtol: 1e-5 }, 'one row');
    // Indices out of range contribute nothing.
    const skip = await downF(b, b.scatterAdd(up(b, new Float32Array([1, 2, 4, 8])), [4], up(b, new Int32Array([0, -1, 5, 1])), 0, 2), 2);
    expectEqual(skip, [1, 8], 'out-of-range scatter');
  });
});
