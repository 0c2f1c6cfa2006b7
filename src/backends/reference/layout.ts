import { fmtShape } from '../../engine/errors.js';
import type { Shape } from '../../engine/shape.js';
import { refFail } from './buffer.js';
import { aroundAxis, mapIndices, sizeOf, stridesOf } from './indexing.js';

/** out[i_0, …, i_r] = x[i at positions perm]: output axis j is input axis perm[j]. */
export function transpose(x: Float64Array, shape: Shape, perm: readonly number[]): Float64Array {
  const inStrides = stridesOf(shape);
  const outShape = perm.map((p) => shape[p]!);
  const src = mapIndices(outShape, perm.map((p) => inStrides[p]!));
  return gatherOffsets(x, src);
}

export function slice(x: Float64Array, shape: Shape, begin: readonly number[], size: readonly number[]): Float64Array {
  shape.forEach((d, i) => {
    if (!(begin[i]! >= 0 && size[i]! >= 0 && begin[i]! + size[i]! <= d)) {
      refFail('slice', `begin ${JSON.stringify(begin)} size ${JSON.stringify(size)} outside ${fmtShape(shape)}`);
    }
  });
  const strides = stridesOf(shape);
  const base = begin.reduce((acc, b, i) => acc + b * strides[i]!, 0);
  const src = mapIndices(size, strides);
  const out = new Float64Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = x[base + src[i]!]!;
  return out;
}

export function pad(x: Float64Array, shape: Shape, outShape: Shape, begin: readonly number[]): Float64Array {
  shape.forEach((d, i) => {
    if (!(begin[i]! >= 0 && begin[i]! + d <= outShape[i]!)) {
      refFail('pad', `${fmtShape(shape)} at ${JSON.stringify(begin)} does not fit in ${fmtShape(outShape)}`);
    }
  });
  const outStrides = stridesOf(outShape);
  const base = begin.reduce((acc, b, i) => acc + b * outStrides[i]!, 0);
  const dst = mapIndices(shape, outStrides);
  const out = new Float64Array(sizeOf(outShape));
  for (let i = 0; i < dst.length; i++) out[base + dst[i]!] = x[i]!;
  return out;
}

export function concat(xs: readonly Float64Array[], shapes: readonly Shape[], axis: number): Float64Array {
  const first = shapes[0]!;
  const [outer, , inner] = aroundAxis(first, axis);
  const total = shapes.reduce((s, sh) => s + sh[axis]!, 0);
  const out = new Float64Array(outer * total * inner);
  let offset = 0;
  xs.forEach((x, t) => {
    const len = shapes[t]![axis]!;
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < len; j++) {
        for (let k = 0; k < inner; k++) out[(o * total + offset + j) * inner + k] = x[(o * len + j) * inner + k]!;
      }
    }
    offset += len;
  });
  return out;
}

export function gather(x: Float64Array, shape: Shape, indices: Float64Array, axis: number): Float64Array {
  const [outer, dim, inner] = aroundAxis(shape, axis);
  const nIndex = indices.length;
  checkIndices('gather', indices, dim);
  const out = new Float64Array(outer * nIndex * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < nIndex; j++) {
      const src = indices[j]!;
      for (let k = 0; k < inner; k++) out[(o * nIndex + j) * inner + k] = x[(o * dim + src) * inner + k]!;
    }
  }
  return out;
}

export function scatterAdd(src: Float64Array, shape: Shape, indices: Float64Array, axis: number, outAxisSize: number): Float64Array {
  const [outer, nIndex, inner] = aroundAxis(shape, axis);
  if (indices.length !== nIndex) refFail('scatterAdd', `${indices.length} indices for axis ${axis} of ${fmtShape(shape)}`);
  checkIndices('scatterAdd', indices, outAxisSize);
  const out = new Float64Array(outer * outAxisSize * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < nIndex; j++) {
      const dst = indices[j]!;
      for (let k = 0; k < inner; k++) out[(o * outAxisSize + dst) * inner + k]! += src[(o * nIndex + j) * inner + k]!;
    }
  }
  return out;
}

function checkIndices(kernel: string, indices: Float64Array, size: number): void {
  for (let i = 0; i < indices.length; i++) {
    const v = indices[i]!;
    if (!(Number.isInteger(v) && v >= 0 && v < size)) refFail(kernel, `indices[${i}] = ${v} is out of range [0, ${size})`);
  }
}

function gatherOffsets(x: Float64Array, src: Int32Array): Float64Array {
  const out = new Float64Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = x[src[i]!]!;
  return out;
}
