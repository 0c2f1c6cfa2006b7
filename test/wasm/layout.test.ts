// Layout kernels against index arithmetic in JS: transpose, slice, pad, concat, gather and
// scatterAdd, for float32 and int32 alike (they move 32-bit words).
import { describe, expect, it } from 'vitest';
import { Rng } from '../helpers/random.js';
import { newBackend, sizeOf, stridesOf, takeF32, takeI32, unravel, upF32, upI32 } from './helpers.js';

const b = await newBackend();
const rng = new Rng('wasm-layout');
// Never 0, so that a zero written by pad (or left by a missed copy) cannot pass for data.
const randomInts = (n: number) => Array.from({ length: n }, () => rng.int(1, 1_000_000) * (rng.next() < 0.5 ? -1 : 1));

function naiveTranspose(xs: number[], shape: number[], perm: number[]): number[] {
  const outShape = perm.map((p) => shape[p]!);
  const st = stridesOf(shape);
  return Array.from({ length: sizeOf(shape) }, (_, i) => {
    const idx = unravel(i, outShape);
    return xs[idx.reduce((acc, v, d) => acc + v * st[perm[d]!]!, 0)]!;
  });
}

function randomPerm(r: number): number[] {
  return rng.shuffle([...Array(r).keys()]);
}

describe('wasm transpose', () => {
  it('random permutations of ranks 1 to 7 (int32 payload, exact)', () => {
    for (let t = 0; t < 60; t++) {
      const rank = 1 + (t % 7);
      const shape = Array.from({ length: rank }, () => rng.int(1, rank > 4 ? 3 : 6));
      const perm = randomPerm(rank);
      const xs = randomInts(sizeOf(shape));
      const x = upI32(b, xs);
      const got = takeI32(b, b.transpose(x, shape, perm, 'int32'), xs.length);
      expect(Array.from(got), `${JSON.stringify(shape)} perm ${JSON.stringify(perm)}`).toEqual(naiveTranspose(xs, shape, perm));
      b.free(x);
    }
  });

  it('blocked 2-D and batched paths, sizes off the 4×4 and 32×32 grids', () => {
    for (const [shape, perm] of [[[67, 45], [1, 0]], [[3, 33, 70], [0, 2, 1]], [[2, 5, 7, 9], [0, 2, 3, 1]], [[2, 9, 6, 5], [0, 3, 1, 2]], [[4, 6, 5], [2, 0, 1]],
      // Destination rows 1024 floats apart (the column-wise tile order), with a partial last tile
      // of columns and a batch.
      [[1024, 40], [1, 0]], [[2, 2048, 35], [0, 2, 1]]] as [number[], number[]][]) {
      const xs = Array.from({ length: sizeOf(shape) }, () => Math.fround(rng.normal()));
      const x = upF32(b, xs);
      expect(Array.from(takeF32(b, b.transpose(x, shape, perm, 'float32'), xs.length))).toEqual(naiveTranspose(xs, shape, perm));
      b.free(x);
    }
  });
});

describe('wasm slice, pad, concat', () => {
  it('slice then pad round-trips random windows', () => {
    for (let t = 0; t < 40; t++) {
      const rank = rng.int(1, 6);
      const shape = Array.from({ length: rank }, () => rng.int(1, 7));
      const begin = shape.map((d) => rng.int(0, d));
      const size = shape.map((d, i) => rng.int(0, d - begin[i]! + 1));
      const xs = randomInts(sizeOf(shape));
      const x = upI32(b, xs);
      const st = stridesOf(shape);
      const want = Array.from({ length: sizeOf(size) }, (_, i) =>
        xs[unravel(i, size).reduce((acc, v, d) => acc + (v + begin[d]!) * st[d]!, 0)]!);
      const s = b.slice(x, shape, begin, size, 'int32');
      expect(Array.from(b.readSync(s, 'int32', want.length))).toEqual(want);
      // pad is slice's adjoint: the window back in place, zeros elsewhere.
      const padded = takeI32(b, b.pad(s, size, shape, begin, 'int32'), xs.length);
      const inside = (i: number) => unravel(i, shape).every((v, d) => v >= begin[d]! && v < begin[d]! + size[d]!);
      expect(Array.from(padded)).toEqual(xs.map((v, i) => (inside(i) ? v : 0)));
      b.free(s);
      b.free(x);
    }
  });

  it('concat along every axis, including empty parts', () => {
    for (let axis = 0; axis < 3; axis++) {
      const base = [3, 4, 5];
      const parts = [2, 0, 3].map((len) => base.map((d, i) => (i === axis ? len : d)));
      const datas = parts.map((s) => randomInts(sizeOf(s)));
      const bufs = datas.map((d) => upI32(b, d));
      const outShape = base.map((d, i) => (i === axis ? 5 : d));
      const got = takeI32(b, b.concat(bufs, parts, axis, 'int32'), sizeOf(outShape));
      const want = Array.from({ length: sizeOf(outShape) }, (_, i) => {
        const idx = unravel(i, outShape);
        let k = 0;
        while (idx[axis]! >= parts[k]![axis]!) idx[axis]! -= parts[k++]![axis]!;
        return datas[k]![idx.reduce((acc, v, d) => acc + v * stridesOf(parts[k]!)[d]!, 0)]!;
      });
      expect(Array.from(got)).toEqual(want);
      bufs.forEach((x) => b.free(x));
    }
  });
});

describe('wasm gather and scatterAdd', () => {
  for (const axis of [0, 1, 2]) {
    it(`index_select and index_add along axis ${axis}, with repeated indices`, () => {
      const shape = [4, 5, 6];
      const n = shape[axis]!;
      const indices = [n - 1, 0, 2, 0, n - 1, 1, 0];
      const xs = Array.from({ length: sizeOf(shape) }, () => Math.fround(rng.normal()));
      const x = upF32(b, xs);
      const idx = upI32(b, indices);
      const outShape = shape.map((d, i) => (i === axis ? indices.length : d));
      const st = stridesOf(shape);
      const gathered = Array.from({ length: sizeOf(outShape) }, (_, i) => {
        const at = unravel(i, outShape);
        at[axis] = indices[at[axis]!]!;
        return xs[at.reduce((acc, v, d) => acc + v * st[d]!, 0)]!;
      });
      const g = b.gather(x, shape, idx, indices.length, axis, 'float32');
      expect(Array.from(b.readSync(g, 'float32', gathered.length))).toEqual(gathered);
      // index_add of the gathered rows back: each source row times its multiplicity, in index order.
      const scattered = new Float64Array(xs.length);
      const gst = stridesOf(outShape);
      for (let i = 0; i < gathered.length; i++) {
        const at = unravel(i, outShape);
        const src = gathered[at.reduce((acc, v, d) => acc + v * gst[d]!, 0)]!;
        at[axis] = indices[at[axis]!]!;
        const o = at.reduce((acc, v, d) => acc + v * st[d]!, 0);
        scattered[o] = Math.fround(scattered[o]! + src);
      }
      expect(Array.from(takeF32(b, b.scatterAdd(g, outShape, idx, axis, n), xs.length))).toEqual(Array.from(scattered));
      b.free(g);
      b.free(x);
      b.free(idx);
    });
  }

  it('rejects indices out of range and frees the output', () => {
    const x = upF32(b, [1, 2, 3, 4, 5, 6]);
    const idx = upI32(b, [0, -1, 3]);
    expect(() => b.gather(x, [3, 2], idx, 3, 0, 'float32')).toThrow(/outside \[0, 3\)/);
    expect(() => b.scatterAdd(x, [3, 2], idx, 0, 3)).toThrow(/outside \[0, 3\)/);
    b.free(x);
    b.free(idx);
    expect(b.memory()).toEqual({ bytes: 0, buffers: 0 });
  });
});
