import type {
  Backend, BinaryOp, Conv2dParams, MatmulParams, Pool2dParams, ReduceOp, RoiParams, SgdParams, SpmmParams, UnaryOp,
} from '../../engine/backend.js';
import type { DataArray, DType } from '../../engine/dtype.js';
import { fmtShape } from '../../engine/errors.js';
import { sizeOf, type Shape } from '../../engine/shape.js';
import { boxIou, nms } from './boxes.js';
import { BufferRegistry, RefBuffer, refFail } from './buffer.js';
import { conv2d, conv2dGradFilter, conv2dGradInput, maxPool2d, maxPool2dGrad } from './conv.js';
import * as ew from './elementwise.js';
import * as layout from './layout.js';
import { matmul } from './linalg.js';
import { argReduce, reduce, softmax } from './reduce.js';
import { sgdUpdate } from './optim.js';
import { roiAlign, roiAlignGrad, roiPool, roiPoolGrad } from './roi.js';
import { spmm } from './sparse.js';

export { RefBuffer, ReferenceBackendError } from './buffer.js';

/**
 * The reference backend: plain loops in float64, the executable specification that the wasm and
 * WebGPU backends are tested against. Every kernel checks that its buffers are live, of the right
 * dtype and of the size its parameters imply, so an engine bug surfaces here as an error.
 */
export interface ReferenceBackend extends Backend {
  /** The float64 contents of a buffer (a copy), for double-precision finite differences. */
  readF64(buf: unknown): Float64Array;
  /** A float32-typed buffer holding these float64 values unrounded. */
  uploadF64(data: Float64Array): RefBuffer;
}

export function createReferenceBackend(): ReferenceBackend {
  const reg = new BufferRegistry();
  let disposed = false;
  const make = (data: Float64Array, dtype: DType = 'float32'): RefBuffer => {
    if (disposed) refFail('alloc', 'the backend was disposed');
    return reg.create(data, dtype);
  };
  const f32 = (kernel: string, arg: string, buf: unknown, size?: number) => reg.get(kernel, arg, buf, 'float32', size);
  const i32 = (kernel: string, arg: string, buf: unknown, size?: number) => reg.get(kernel, arg, buf, 'int32', size);
  const any = (kernel: string, arg: string, buf: unknown, dtype: DType, size: number) => reg.get(kernel, arg, buf, dtype, size);
  const pooledSize = (p: RoiParams) => p.k * p.c * p.pooledH * p.pooledW;

  const backend: ReferenceBackend = {
    name: 'reference',
    canReadSync: true,

    alloc: (dtype, size) => make(new Float64Array(checkSize('alloc', size)), dtype),
    upload: (data: DataArray) => make(Float64Array.from(data), data instanceof Int32Array ? 'int32' : 'float32'),
    uploadF64: (data) => make(Float64Array.from(data)),
    free: (buf) => reg.free(buf),
    readSync: (buf, dtype, size) => toDataArray(reg.get('readSync', 'buf', buf, dtype), dtype, size),
    read: async (buf, dtype, size) => toDataArray(reg.get('read', 'buf', buf, dtype), dtype, size),
    readF64: (buf) => reg.get('readF64', 'buf', buf).slice(),
    memory: () => reg.stats(),
    sync: async () => {},
    dispose: () => {
      disposed = true;
      reg.clear();
    },

    fill: (dtype, size, value) =>
      make(new Float64Array(checkSize('fill', size)).fill(dtype === 'int32' ? Math.trunc(value) : value), dtype),
    cast: (x, size, from, to) => make(ew.cast(any('cast', 'x', x, from, size), to), to),
    unary: (op: UnaryOp, x, size) => make(ew.unary(op, f32('unary', 'x', x, size))),
    clamp: (x, size, lo, hi) => make(ew.clamp(f32('clamp', 'x', x, size), lo, hi)),
    sgdUpdate: (p, g, buf, scale, size, o: SgdParams) => {
      const s = scale === null ? 1 : f32('sgdUpdate', 'scale', scale, 1)[0]!;
      const r = sgdUpdate(f32('sgdUpdate', 'p', p, size), f32('sgdUpdate', 'g', g, size), buf === null ? null : f32('sgdUpdate', 'buf', buf, size), s, o);
      return { param: make(r.param), momentum: r.momentum && make(r.momentum) };
    },
    binary: (op: BinaryOp, a, aShape, b, bShape, outShape) =>
      make(ew.binary(op, f32(op, 'a', a, sizeOf(aShape)), aShape, f32(op, 'b', b, sizeOf(bShape)), bShape, outShape)),
    where: (cond, condShape, a, aShape, b, bShape, outShape) =>
      make(ew.where(
        f32('where', 'cond', cond, sizeOf(condShape)), condShape,
        f32('where', 'a', a, sizeOf(aShape)), aShape,
        f32('where', 'b', b, sizeOf(bShape)), bShape,
        outShape,
      )),
    oneHot: (labels, n, classes) => make(ew.oneHot(i32('oneHot', 'labels', labels, n), classes)),

    transpose: (x, shape, perm, dtype) => {
      checkPerm(shape, perm);
      return make(layout.transpose(any('transpose', 'x', x, dtype, sizeOf(shape)), shape, perm), dtype);
    },
    slice: (x, shape, begin, size, dtype) => make(layout.slice(any('slice', 'x', x, dtype, sizeOf(shape)), shape, begin, size), dtype),
    pad: (x, shape, outShape, begin, dtype) =>
      make(layout.pad(any('pad', 'x', x, dtype, sizeOf(shape)), shape, outShape, begin), dtype),
    concat: (xs, shapes, axis, dtype) => {
      checkConcat(shapes, axis);
      return make(layout.concat(xs.map((x, i) => any('concat', `xs[${i}]`, x, dtype, sizeOf(shapes[i]!))), shapes, axis), dtype);
    },
    gather: (x, shape, indices, nIndex, axis, dtype) =>
      make(layout.gather(any('gather', 'x', x, dtype, sizeOf(shape)), shape, i32('gather', 'indices', indices, nIndex), axis), dtype),
    scatterAdd: (src, shape, indices, axis, outAxisSize) =>
      make(layout.scatterAdd(f32('scatterAdd', 'src', src, sizeOf(shape)), shape, i32('scatterAdd', 'indices', indices), axis, outAxisSize)),

    reduce: (op: ReduceOp, x, outer, n, inner) => make(reduce(op, f32('reduce', 'x', x, outer * n * inner), outer, n, inner)),
    argReduce: (op, x, outer, n, inner) => make(argReduce(op, f32(op, 'x', x, outer * n * inner), outer, n, inner), 'int32'),
    softmax: (x, rows, cols, log) => make(softmax(f32('softmax', 'x', x, rows * cols), rows, cols, log)),

    spmm: (rowPtr, colIdx, values, x, p: SpmmParams) =>
      make(spmm(i32('spmm', 'rowPtr', rowPtr, p.rows + 1), i32('spmm', 'colIdx', colIdx, p.nnz), f32('spmm', 'values', values, p.nnz),
        f32('spmm', 'x', x, p.xRows * p.width), p.rows, p.xRows, p.width)),
    matmul: (a, b, p: MatmulParams) =>
      make(matmul(f32('matmul', 'a', a, p.batchA * p.m * p.k), f32('matmul', 'b', b, p.batchB * p.k * p.n), p)),
    conv2d: (x, w, bias, p: Conv2dParams) => {
      checkConv(p);
      return make(conv2d(
        f32('conv2d', 'x', x, p.n * p.cIn * p.h * p.w),
        f32('conv2d', 'w', w, filterSize(p)),
        bias === null ? null : f32('conv2d', 'bias', bias, p.cOut),
        p,
      ));
    },
    conv2dGradInput: (dy, w, p) => {
      checkConv(p);
      return make(conv2dGradInput(f32('conv2dGradInput', 'dy', dy, convOutSize(p)), f32('conv2dGradInput', 'w', w, filterSize(p)), p));
    },
    conv2dGradFilter: (x, dy, p) => {
      checkConv(p);
      return make(conv2dGradFilter(
        f32('conv2dGradFilter', 'x', x, p.n * p.cIn * p.h * p.w),
        f32('conv2dGradFilter', 'dy', dy, convOutSize(p)),
        p,
      ));
    },
    maxPool2d: (x, p: Pool2dParams) => {
      checkPool(p);
      const r = maxPool2d(f32('maxPool2d', 'x', x, p.n * p.c * p.h * p.w), p);
      return { out: make(r.out), argmax: make(r.argmax, 'int32') };
    },
    maxPool2dGrad: (dy, argmax, p) => {
      const outSize = p.n * p.c * p.outH * p.outW;
      return make(maxPool2dGrad(f32('maxPool2dGrad', 'dy', dy, outSize), i32('maxPool2dGrad', 'argmax', argmax, outSize), p));
    },

    roiAlign: (x, rois, p) =>
      make(roiAlign(f32('roiAlign', 'x', x, p.n * p.c * p.h * p.w), f32('roiAlign', 'rois', rois, p.k * 5), p)),
    roiAlignGrad: (dy, rois, p) =>
      make(roiAlignGrad(f32('roiAlignGrad', 'dy', dy, pooledSize(p)), f32('roiAlignGrad', 'rois', rois, p.k * 5), p)),
    roiPool: (x, rois, p) => {
      const r = roiPool(f32('roiPool', 'x', x, p.n * p.c * p.h * p.w), f32('roiPool', 'rois', rois, p.k * 5), p);
      return { out: make(r.out), argmax: make(r.argmax, 'int32') };
    },
    roiPoolGrad: (dy, argmax, rois, p) =>
      make(roiPoolGrad(
        f32('roiPoolGrad', 'dy', dy, pooledSize(p)),
        i32('roiPoolGrad', 'argmax', argmax, pooledSize(p)),
        f32('roiPoolGrad', 'rois', rois, p.k * 5),
        p,
      )),
    boxIou: (a, na, b, nb) => make(boxIou(f32('boxIou', 'a', a, na * 4), na, f32('boxIou', 'b', b, nb * 4), nb)),
    nms: async (boxes, scores, n, iouThreshold) =>
      nms(f32('nms', 'boxes', boxes, n * 4), f32('nms', 'scores', scores, n), n, iouThreshold),
  };
  return backend;
}

function toDataArray(data: Float64Array, dtype: DType, size: number): DataArray {
  if (size !== data.length) refFail('read', `asked for ${size} elements of a buffer of ${data.length}`);
  return dtype === 'float32' ? Float32Array.from(data) : Int32Array.from(data);
}

function checkSize(kernel: string, size: number): number {
  if (!(Number.isInteger(size) && size >= 0)) refFail(kernel, `invalid size ${size}`);
  return size;
}

function checkPerm(shape: Shape, perm: readonly number[]): void {
  const ok = perm.length === shape.length && [...perm].sort((a, b) => a - b).every((v, i) => v === i);
  if (!ok) refFail('transpose', `perm ${JSON.stringify(perm)} is not a permutation of the axes of ${fmtShape(shape)}`);
}

function checkConcat(shapes: readonly Shape[], axis: number): void {
  const first = shapes[0];
  if (!first) refFail('concat', 'no inputs');
  for (const s of shapes) {
    if (s.length !== first.length || s.some((d, j) => j !== axis && d !== first[j])) {
      refFail('concat', `shape ${fmtShape(s)} does not match ${fmtShape(first)} off axis ${axis}`);
    }
  }
}

function filterSize(p: Conv2dParams): number {
  return p.cOut * (p.cIn / p.groups) * p.kh * p.kw;
}

function convOutSize(p: Conv2dParams): number {
  return p.n * p.cOut * p.outH * p.outW;
}

/** The output size must follow from the other parameters, as in PyTorch. */
function checkConv(p: Conv2dParams): void {
  const outH = Math.floor((p.h + 2 * p.padH - p.dilationH * (p.kh - 1) - 1) / p.strideH) + 1;
  const outW = Math.floor((p.w + 2 * p.padW - p.dilationW * (p.kw - 1) - 1) / p.strideW) + 1;
  if (outH !== p.outH || outW !== p.outW || p.cIn % p.groups !== 0 || p.cOut % p.groups !== 0) {
    refFail('conv2d', `inconsistent parameters ${JSON.stringify(p)}`);
  }
}

function checkPool(p: Pool2dParams): void {
  const outH = Math.floor((p.h + 2 * p.padH - p.kh) / p.strideH) + 1;
  const outW = Math.floor((p.w + 2 * p.padW - p.kw) / p.strideW) + 1;
  if (outH !== p.outH || outW !== p.outW || 2 * p.padH > p.kh || 2 * p.padW > p.kw) {
    refFail('maxPool2d', `inconsistent parameters ${JSON.stringify(p)}`);
  }
}
