import type {
  Backend, BinaryOp, Conv2dParams, MatmulParams, Pool2dParams, ReduceOp, RoiParams, SgdParams, SpmmParams, UnaryOp,
} from '../../engine/backend.js';
import type { DataArray, DType } from '../../engine/dtype.js';
import { isDepthwise } from '../../engine/depthwise.js';
import { KdetError } from '../../engine/errors.js';
import type { Shape } from '../../engine/shape.js';
import type { GpuBuffer, GpuContext } from './context.js';
import { countsSince, type GpuCounts } from './counters.js';
import * as ew from './kernels/elementwise.js';
import * as gemm from './kernels/gemm.js';
import * as det from './kernels/detection.js';
import * as depthwise from './kernels/depthwise.js';
import * as layout from './kernels/layout.js';
import * as optim from './kernels/optim.js';
import * as pool from './kernels/pool2d.js';
import * as red from './kernels/reduce.js';
import * as sparse from './kernels/sparse.js';

/**
 * The Backend contract on WebGPU: every kernel is a WGSL compute shader (shaders/*.wgsl).
 * Kernels only record work; it runs when a read, `sync`, or the batch threshold submits it.
 */
export class WebGPUBackend implements Backend<GpuBuffer> {
  readonly name = 'webgpu';
  readonly canReadSync = false;

  constructor(
    readonly ctx: GpuContext,
    /** Which adapter and how it was found, for logs. */
    readonly description: string,
  ) {}

  // ---- memory ----
  alloc(_dtype: DType, size: number): GpuBuffer {
    return this.ctx.alloc(size * 4);
  }
  upload(data: DataArray): GpuBuffer {
    return this.ctx.upload(data);
  }
  free(buf: GpuBuffer): void {
    this.ctx.free(buf);
  }
  readSync(_buf: GpuBuffer, _dtype: DType, _size: number): DataArray {
    throw new KdetError('webgpu', 'the WebGPU backend reads asynchronously: use await tensor.data() instead of dataSync()');
  }
  read(buf: GpuBuffer, dtype: DType, size: number): Promise<DataArray> {
    return this.ctx.read(buf, dtype, size);
  }
  memory(): { bytes: number; buffers: number } {
    return this.ctx.memory();
  }
  sync(): Promise<void> {
    return this.ctx.sync();
  }
  dispose(): void {
    this.ctx.dispose();
  }

  /**
   * Build pipelines before their first use (see GpuContext.warmUp): pass the keys that
   * `pipelineKeys()` listed after the same work in an earlier run. In a browser the compiles
   * then overlap whatever this thread does next (loading a model) instead of the first step.
   */
  warmUp(keys: readonly string[], opts?: { async?: boolean; concurrency?: number }): Promise<{ built: number; failed: string[] }> {
    return this.ctx.warmUp(keys, opts);
  }
  /** The pipelines built so far, as keys that warmUp takes. */
  pipelineKeys(): string[] {
    return this.ctx.pipelineKeys();
  }

  // ---- counters (see counters.ts) ----
  /** Dispatches, submits, buffer creations, bytes each way and GPU→CPU waits since the start or the last reset. */
  counters(): GpuCounts {
    return this.ctx.counters.snapshot();
  }
  /** Zero the counters; `traceWaits` labels each later wait with the code that caused it. */
  resetCounters(opts: { traceWaits?: boolean } = {}): void {
    this.ctx.counters.reset();
    if (opts.traceWaits !== undefined) this.ctx.counters.traceWaits = opts.traceWaits;
  }
  /** Run `fn` and return its result with the counts of what it did (work it left recorded but unsubmitted included). */
  async measure<T>(fn: () => T | Promise<T>): Promise<{ result: T; counts: GpuCounts }> {
    const before = this.counters();
    const result = await fn();
    return { result, counts: countsSince(this.counters(), before) };
  }

  // ---- elementwise ----
  fill(dtype: DType, size: number, value: number): GpuBuffer {
    return ew.fill(this.ctx, dtype, size, value);
  }
  cast(x: GpuBuffer, size: number, from: DType, to: DType): GpuBuffer {
    return ew.cast(this.ctx, x, size, from, to);
  }
  unary(op: UnaryOp, x: GpuBuffer, size: number): GpuBuffer {
    return ew.unary(this.ctx, op, x, size);
  }
  clamp(x: GpuBuffer, size: number, lo: number, hi: number): GpuBuffer {
    return ew.clamp(this.ctx, x, size, lo, hi);
  }
  sgdUpdate(p: GpuBuffer, g: GpuBuffer, buf: GpuBuffer | null, scale: GpuBuffer | null, size: number, o: SgdParams): { param: GpuBuffer; momentum: GpuBuffer | null } {
    return optim.sgdUpdate(this.ctx, p, g, buf, scale, size, o);
  }
  binary(op: BinaryOp, a: GpuBuffer, aShape: Shape, b: GpuBuffer, bShape: Shape, outShape: Shape): GpuBuffer {
    return ew.binary(this.ctx, op, a, aShape, b, bShape, outShape);
  }
  where(cond: GpuBuffer, condShape: Shape, a: GpuBuffer, aShape: Shape, b: GpuBuffer, bShape: Shape, outShape: Shape): GpuBuffer {
    return ew.where(this.ctx, cond, condShape, a, aShape, b, bShape, outShape);
  }
  oneHot(labels: GpuBuffer, n: number, classes: number): GpuBuffer {
    return ew.oneHot(this.ctx, labels, n, classes);
  }

  // ---- layout (32-bit words: float32 and int32 move alike) ----
  transpose(x: GpuBuffer, shape: Shape, perm: readonly number[], _dtype: DType): GpuBuffer {
    return layout.transpose(this.ctx, x, shape, perm);
  }
  slice(x: GpuBuffer, shape: Shape, begin: readonly number[], size: readonly number[], _dtype: DType): GpuBuffer {
    return layout.slice(this.ctx, x, shape, begin, size);
  }
  pad(x: GpuBuffer, shape: Shape, outShape: Shape, begin: readonly number[], _dtype: DType): GpuBuffer {
    return layout.pad(this.ctx, x, shape, outShape, begin);
  }
  concat(xs: readonly GpuBuffer[], shapes: readonly Shape[], axis: number, _dtype: DType): GpuBuffer {
    return layout.concat(this.ctx, xs, shapes, axis);
  }
  gather(x: GpuBuffer, shape: Shape, indices: GpuBuffer, nIndex: number, axis: number, _dtype: DType): GpuBuffer {
    return layout.gather(this.ctx, x, shape, indices, nIndex, axis);
  }
  scatterAdd(src: GpuBuffer, shape: Shape, indices: GpuBuffer, axis: number, outAxisSize: number): GpuBuffer {
    return layout.scatterAdd(this.ctx, src, shape, indices, axis, outAxisSize);
  }

  // ---- reductions ----
  reduce(op: ReduceOp, x: GpuBuffer, outer: number, n: number, inner: number): GpuBuffer {
    return red.reduce(this.ctx, op, x, outer, n, inner);
  }
  argReduce(op: 'argmax' | 'argmin', x: GpuBuffer, outer: number, n: number, inner: number): GpuBuffer {
    return red.argReduce(this.ctx, op, x, outer, n, inner);
  }
  softmax(x: GpuBuffer, rows: number, cols: number, log: boolean): GpuBuffer {
    return red.softmax(this.ctx, x, rows, cols, log);
  }

  // ---- linear algebra ----
  matmul(a: GpuBuffer, b: GpuBuffer, p: MatmulParams): GpuBuffer {
    return gemm.matmul(this.ctx, a, b, p);
  }
  spmm(rowPtr: GpuBuffer, colIdx: GpuBuffer, values: GpuBuffer, x: GpuBuffer, p: SpmmParams): GpuBuffer {
    return sparse.spmm(this.ctx, rowPtr, colIdx, values, x, p);
  }
  conv2d(x: GpuBuffer, w: GpuBuffer, bias: GpuBuffer | null, p: Conv2dParams): GpuBuffer {
    return isDepthwise(p) ? depthwise.conv2d(this.ctx, x, w, bias, p) : gemm.conv2d(this.ctx, x, w, bias, p);
  }
  conv2dGradInput(dy: GpuBuffer, w: GpuBuffer, p: Conv2dParams): GpuBuffer {
    return isDepthwise(p) ? depthwise.conv2dGradInput(this.ctx, dy, w, p) : gemm.conv2dGradInput(this.ctx, dy, w, p);
  }
  conv2dGradFilter(x: GpuBuffer, dy: GpuBuffer, p: Conv2dParams): GpuBuffer {
    return isDepthwise(p) ? depthwise.conv2dGradFilter(this.ctx, x, dy, p) : gemm.conv2dGradFilter(this.ctx, x, dy, p);
  }
  maxPool2d(x: GpuBuffer, p: Pool2dParams): { out: GpuBuffer; argmax: GpuBuffer } {
    return pool.maxPool2d(this.ctx, x, p);
  }
  maxPool2dGrad(dy: GpuBuffer, argmax: GpuBuffer, p: Pool2dParams): GpuBuffer {
    return pool.maxPool2dGrad(this.ctx, dy, argmax, p);
  }

  // ---- detection ----
  roiAlign(x: GpuBuffer, rois: GpuBuffer, p: RoiParams): GpuBuffer {
    return det.roiAlign(this.ctx, x, rois, p);
  }
  roiAlignGrad(dy: GpuBuffer, rois: GpuBuffer, p: RoiParams): GpuBuffer {
    return det.roiAlignGrad(this.ctx, dy, rois, p);
  }
  roiPool(x: GpuBuffer, rois: GpuBuffer, p: RoiParams): { out: GpuBuffer; argmax: GpuBuffer } {
    return det.roiPool(this.ctx, x, rois, p);
  }
  roiPoolGrad(dy: GpuBuffer, argmax: GpuBuffer, rois: GpuBuffer, p: RoiParams): GpuBuffer {
    return det.roiPoolGrad(this.ctx, dy, argmax, rois, p);
  }
  boxIou(a: GpuBuffer, na: number, b: GpuBuffer, nb: number): GpuBuffer {
    return det.boxIou(this.ctx, a, na, b, nb);
  }
  nms(boxes: GpuBuffer, scores: GpuBuffer, n: number, iouThreshold: number): Promise<Int32Array> {
    return det.nms(this.ctx, boxes, scores, n, iouThreshold);
  }
}
