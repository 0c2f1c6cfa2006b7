import type {
  Backend, BatchNormParams, BinaryOp, Conv2dParams, MatmulParams, Pool2dParams, ReduceOp, RoiParams, SpmmParams, SgdParams, UnaryOp,
} from '../../engine/backend.js';
import type { DataArray, DType } from '../../engine/dtype.js';
import { KdetError } from '../../engine/errors.js';
import type { Shape } from '../../engine/shape.js';
import { WasmContext } from './context.js';
import * as detection from './detection.js';
import * as ew from './elementwise.js';
import * as layout from './layout.js';
import type { WasmBuffer, WasmHeap } from './memory.js';
import * as nn from './nn.js';
import { sgdUpdate } from './optim.js';
import * as bn from './batchnorm.js';
import * as red from './reduce.js';
import * as sparse from './sparse.js';

/**
 * The WebAssembly SIMD backend: tensors live in the module's linear memory (see memory.ts) and
 * every kernel is a call into assembly/*.ts. Synchronous, so reads are synchronous too.
 */
export class WasmBackend implements Backend<WasmBuffer> {
  readonly name = 'wasm';
  readonly canReadSync = true;

  constructor(private readonly ctx: WasmContext) {}

  /** Threads the kernels split their work over (1: all on the calling thread). */
  get threads(): number {
    return this.ctx.threads;
  }

  /** The allocator (tests and diagnostics). */
  get heap(): WasmHeap {
    return this.ctx.heap;
  }

  // ---- memory ----
  alloc(_dtype: DType, size: number): WasmBuffer {
    checkCount('alloc', size);
    return this.ctx.output(size);
  }

  upload(data: DataArray): WasmBuffer {
    const buf = this.ctx.output(data.length);
    const h = this.ctx.heap;
    if (data instanceof Float32Array) h.f32().set(data, buf.ptr >>> 2);
    else if (data instanceof Int32Array) h.i32().set(data, buf.ptr >>> 2);
    else {
      h.free(buf);
      throw new KdetError('upload', `expected a Float32Array or Int32Array, got ${(data as object)?.constructor?.name}`);
    }
    return buf;
  }

  free(buf: WasmBuffer): void {
    this.ctx.heap.free(buf);
  }

  readSync(buf: WasmBuffer, dtype: DType, size: number): DataArray {
    const p = this.ctx.ptr('readSync', 'buf', buf, size) >>> 2;
    // A copy: the memory under a view is reused after free() and detached by memory.grow.
    return dtype === 'int32' ? this.ctx.heap.i32().slice(p, p + size) : this.ctx.heap.f32().slice(p, p + size);
  }

  async read(buf: WasmBuffer, dtype: DType, size: number): Promise<DataArray> {
    return this.readSync(buf, dtype, size);
  }

  memory(): { bytes: number; buffers: number } {
    return this.ctx.heap.stats();
  }

  async sync(): Promise<void> {}

  dispose(): void {
    this.ctx.dispose();
  }

  // ---- elementwise ----
  fill(dtype: DType, size: number, value: number): WasmBuffer {
    checkCount('fill', size);
    return ew.fill(this.ctx, dtype, size, value);
  }

  cast(x: WasmBuffer, size: number, from: DType, to: DType): WasmBuffer {
    return ew.cast(this.ctx, x, size, from, to);
  }

  unary(op: UnaryOp, x: WasmBuffer, size: number): WasmBuffer {
    return ew.unary(this.ctx, op, x, size);
  }

  clamp(x: WasmBuffer, size: number, lo: number, hi: number): WasmBuffer {
    return ew.clamp(this.ctx, x, size, lo, hi);
  }

  sgdUpdate(p: WasmBuffer, g: WasmBuffer, buf: WasmBuffer | null, scale: WasmBuffer | null, size: number, o: SgdParams): { param: WasmBuffer; momentum: WasmBuffer | null } {
    return sgdUpdate(this.ctx, p, g, buf, scale, size, o);
  }

  binary(op: BinaryOp, a: WasmBuffer, aShape: Shape, b: WasmBuffer, bShape: Shape, outShape: Shape): WasmBuffer {
    return ew.binary(this.ctx, op, a, aShape, b, bShape, outShape);
  }

  where(cond: WasmBuffer, condShape: Shape, a: WasmBuffer, aShape: Shape, b: WasmBuffer, bShape: Shape, outShape: Shape): WasmBuffer {
    return ew.where(this.ctx, cond, condShape, a, aShape, b, bShape, outShape);
  }

  oneHot(labels: WasmBuffer, n: number, classes: number): WasmBuffer {
    return ew.oneHot(this.ctx, labels, n, classes);
  }

  // ---- layout ----
  transpose(x: WasmBuffer, shape: Shape, perm: readonly number[], dtype: DType): WasmBuffer {
    return layout.transpose(this.ctx, x, shape, perm, dtype);
  }

  slice(x: WasmBuffer, shape: Shape, begin: readonly number[], size: readonly number[], dtype: DType): WasmBuffer {
    return layout.slice(this.ctx, x, shape, begin, size, dtype);
  }

  pad(x: WasmBuffer, shape: Shape, outShape: Shape, begin: readonly number[], dtype: DType): WasmBuffer {
    return layout.pad(this.ctx, x, shape, outShape, begin, dtype);
  }

  concat(xs: readonly WasmBuffer[], shapes: readonly Shape[], axis: number, dtype: DType): WasmBuffer {
    return layout.concat(this.ctx, xs, shapes, axis, dtype);
  }

  gather(x: WasmBuffer, shape: Shape, indices: WasmBuffer, nIndex: number, axis: number, dtype: DType): WasmBuffer {
    return layout.gather(this.ctx, x, shape, indices, nIndex, axis, dtype);
  }

  scatterAdd(src: WasmBuffer, shape: Shape, indices: WasmBuffer, axis: number, outAxisSize: number): WasmBuffer {
    return layout.scatterAdd(this.ctx, src, shape, indices, axis, outAxisSize);
  }

  // ---- reductions ----
  reduce(op: ReduceOp, x: WasmBuffer, outer: number, n: number, inner: number): WasmBuffer {
    return red.reduce(this.ctx, op, x, outer, n, inner);
  }

  argReduce(op: 'argmax' | 'argmin', x: WasmBuffer, outer: number, n: number, inner: number): WasmBuffer {
    return red.argReduce(this.ctx, op, x, outer, n, inner);
  }

  softmax(x: WasmBuffer, rows: number, cols: number, log: boolean): WasmBuffer {
    return red.softmax(this.ctx, x, rows, cols, log);
  }

  // ---- linear algebra ----
  spmm(rowPtr: WasmBuffer, colIdx: WasmBuffer, values: WasmBuffer, x: WasmBuffer, p: SpmmParams): WasmBuffer {
    return sparse.spmm(this.ctx, rowPtr, colIdx, values, x, p);
  }

  matmul(a: WasmBuffer, b: WasmBuffer, p: MatmulParams): WasmBuffer {
    return nn.matmul(this.ctx, a, b, p);
  }

  conv2d(x: WasmBuffer, w: WasmBuffer, bias: WasmBuffer | null, p: Conv2dParams): WasmBuffer {
    return nn.conv2d(this.ctx, x, w, bias, p);
  }

  conv2dGradInput(dy: WasmBuffer, w: WasmBuffer, p: Conv2dParams): WasmBuffer {
    return nn.conv2dGradInput(this.ctx, dy, w, p);
  }

  conv2dGradFilter(x: WasmBuffer, dy: WasmBuffer, p: Conv2dParams): WasmBuffer {
    return nn.conv2dGradFilter(this.ctx, x, dy, p);
  }

  batchNormTrain(x: WasmBuffer, weight: WasmBuffer | null, bias: WasmBuffer | null, p: BatchNormParams): { y: WasmBuffer; mean: WasmBuffer; variance: WasmBuffer } {
    return bn.batchNormTrain(this.ctx, x, weight, bias, p);
  }

  batchNormTrainGrad(dy: WasmBuffer, x: WasmBuffer, mean: WasmBuffer, variance: WasmBuffer, weight: WasmBuffer | null, p: BatchNormParams): { dx: WasmBuffer; dweight: WasmBuffer; dbias: WasmBuffer } {
    return bn.batchNormTrainGrad(this.ctx, dy, x, mean, variance, weight, p);
  }

  maxPool2d(x: WasmBuffer, p: Pool2dParams): { out: WasmBuffer; argmax: WasmBuffer } {
    return nn.maxPool2d(this.ctx, x, p);
  }

  maxPool2dGrad(dy: WasmBuffer, argmax: WasmBuffer, p: Pool2dParams): WasmBuffer {
    return nn.maxPool2dGrad(this.ctx, dy, argmax, p);
  }

  // ---- detection ----
  roiAlign(x: WasmBuffer, rois: WasmBuffer, p: RoiParams): WasmBuffer {
    return detection.roiAlign(this.ctx, x, rois, p);
  }

  roiAlignGrad(dy: WasmBuffer, rois: WasmBuffer, p: RoiParams): WasmBuffer {
    return detection.roiAlignGrad(this.ctx, dy, rois, p);
  }

  roiPool(x: WasmBuffer, rois: WasmBuffer, p: RoiParams): { out: WasmBuffer; argmax: WasmBuffer } {
    return detection.roiPool(this.ctx, x, rois, p);
  }

  roiPoolGrad(dy: WasmBuffer, argmax: WasmBuffer, rois: WasmBuffer, p: RoiParams): WasmBuffer {
    return detection.roiPoolGrad(this.ctx, dy, argmax, rois, p);
  }

  boxIou(a: WasmBuffer, na: number, b: WasmBuffer, nb: number): WasmBuffer {
    return detection.boxIou(this.ctx, a, na, b, nb);
  }

  nms(boxes: WasmBuffer, scores: WasmBuffer, n: number, iouThreshold: number): Promise<Int32Array> {
    try {
      return Promise.resolve(detection.nms(this.ctx, boxes, scores, n, iouThreshold));
    } catch (e) {
      return Promise.reject(e);
    }
  }
}

function checkCount(op: string, size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new KdetError(op, `size must be a non-negative integer, got ${size}`);
}
