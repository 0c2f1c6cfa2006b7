import type { DataArray, DType } from './dtype.js';
import type { Shape } from './shape.js';

/**
 * The contract every backend (reference JS, WebAssembly, WebGPU) fulfils.
 *
 * It is deliberately thin: kernels see only contiguous row-major buffers plus the sizes they
 * need, and every kernel returns a freshly allocated buffer (never aliases an input). Shape
 * checking, broadcasting rules, dtype rules and gradients live in the engine's ops, once, so a
 * backend is only arithmetic. A buffer handle `B` is opaque to the engine.
 *
 * Conventions shared by all kernels (the PyTorch ones, so that fixtures interchange):
 * - tensors are NCHW, row-major, contiguous; filters are [cOut, cIn/groups, kh, kw];
 * - ROIs are [K, 5] rows of (batchIndex, x1, y1, x2, y2) in input-image coordinates;
 * - boxes are [N, 4] rows of (x1, y1, x2, y2);
 * - comparisons produce float32 0/1; `where` treats a non-zero float32 condition as true.
 */
export interface Backend<B = unknown> {
  readonly name: string;
  /** True when `readSync` works (wasm, reference); WebGPU reads are asynchronous only. */
  readonly canReadSync: boolean;

  // ---- memory ----
  /** Uninitialised storage for `size` elements. */
  alloc(dtype: DType, size: number): B;
  upload(data: DataArray): B;
  free(buf: B): void;
  readSync(buf: B, dtype: DType, size: number): DataArray;
  read(buf: B, dtype: DType, size: number): Promise<DataArray>;
  /** Bytes and buffers currently allocated for live tensors (pools excluded). */
  memory(): { bytes: number; buffers: number };
  /** Wait until queued work is done (no-op on synchronous backends). */
  sync(): Promise<void>;
  /** Release every resource of the backend. */
  dispose(): void;

  // ---- elementwise ----
  fill(dtype: DType, size: number, value: number): B;
  cast(x: B, size: number, from: DType, to: DType): B;
  unary(op: UnaryOp, x: B, size: number): B;
  /** min(max(x, lo), hi). */
  clamp(x: B, size: number, lo: number, hi: number): B;
  /** float32 only; shapes broadcast to `outShape` (already validated by the engine). */
  binary(op: BinaryOp, a: B, aShape: Shape, b: B, bShape: Shape, outShape: Shape): B;
  where(cond: B, condShape: Shape, a: B, aShape: Shape, b: B, bShape: Shape, outShape: Shape): B;
  /** labels int32 [n] → float32 [n, classes]; a label outside [0, classes) gives a zero row. */
  oneHot(labels: B, n: number, classes: number): B;

  // ---- layout ----
  transpose(x: B, shape: Shape, perm: readonly number[], dtype: DType): B;
  slice(x: B, shape: Shape, begin: readonly number[], size: readonly number[], dtype: DType): B;
  /** Zeros of `outShape` with `x` (of `shape`) written at offset `begin`: the adjoint of slice. */
  pad(x: B, shape: Shape, outShape: Shape, begin: readonly number[], dtype: DType): B;
  concat(xs: readonly B[], shapes: readonly Shape[], axis: number, dtype: DType): B;
  /** index_select: out has `shape` with `axis` replaced by `nIndex`; indices int32 in range (engine-checked). */
  gather(x: B, shape: Shape, indices: B, nIndex: number, axis: number, dtype: DType): B;
  /** index_add into zeros: out has `shape` with `axis` replaced by `outAxisSize`; float32. */
  scatterAdd(src: B, shape: Shape, indices: B, axis: number, outAxisSize: number): B;

  // ---- reductions over the middle axis of [outer, n, inner] ----
  reduce(op: ReduceOp, x: B, outer: number, n: number, inner: number): B;
  /** int32 index of the first maximum (minimum) along the middle axis. */
  argReduce(op: 'argmax' | 'argmin', x: B, outer: number, n: number, inner: number): B;
  /** softmax / log-softmax over the last axis of [rows, cols]. */
  softmax(x: B, rows: number, cols: number, log: boolean): B;

  // ---- optimiser ----
  /**
   * One torch.optim.SGD step over `size` float32 elements, in one pass: g = g·scale[0] when
   * `scale` (one float32, the gradient clipping's coefficient) is given; d = g + wd·p (d = g when
   * wd is 0); buf' = μ·buf + d, or d when `buf` is null; d = nesterov ? d + μ·buf' : buf' (when
   * μ > 0); p' = p − lr·d. The float32 operations are those of the unfused ops, in their order.
   * Returns new buffers (the inputs are untouched); `momentum` is null when μ is 0.
   */
  sgdUpdate(p: B, g: B, buf: B | null, scale: B | null, size: number, o: SgdParams): { param: B; momentum: B | null };

  // ---- linear algebra ----
  /**
   * Batched matmul. a is [batchA, m, k] ([batchA, k, m] when transA), b is [batchB, k, n]
   * ([batchB, n, k] when transB); batchA and batchB are equal or one of them is 1 (broadcast).
   * Out: [max(batchA, batchB), m, n].
   */
  matmul(a: B, b: B, p: MatmulParams): B;
  /**
   * Sparse (CSR) × dense: out[r, :] = Σ values[j] · x[colIdx[j], :] over j in [rowPtr[r],
   * rowPtr[r+1]), summed in j order, out [rows, width] (a row with no entries is zero). rowPtr int32
   * [rows + 1] (0 first, non-decreasing, nnz last), colIdx int32 [nnz] in [0, xRows), values
   * float32 [nnz], x float32 [xRows, width]: all engine-checked.
   */
  spmm(rowPtr: B, colIdx: B, values: B, x: B, p: SpmmParams): B;
  conv2d(x: B, w: B, bias: B | null, p: Conv2dParams): B;
  conv2dGradInput(dy: B, w: B, p: Conv2dParams): B;
  conv2dGradFilter(x: B, dy: B, p: Conv2dParams): B;
  /** out float32 [n,c,outH,outW] and argmax int32 (flat index into each h×w plane, as PyTorch). */
  maxPool2d(x: B, p: Pool2dParams): { out: B; argmax: B };
  maxPool2dGrad(dy: B, argmax: B, p: Pool2dParams): B;

  // ---- detection ----
  roiAlign(x: B, rois: B, p: RoiParams): B;
  roiAlignGrad(dy: B, rois: B, p: RoiParams): B;

  // ---- batch norm (optional: where a backend has none, the engine composes it from the ops above) ----
  /**
   * BatchNorm2d with the batch's statistics over x [n, c, hw]: y = x·α + β per channel with
   * α = weight·invstd, β = bias − mean·α, invstd = 1/√(variance + eps); also the per-channel mean
   * and biased variance [c]. `weight` / `bias` null: 1 / 0.
   */
  batchNormTrain?(x: B, weight: B | null, bias: B | null, p: BatchNormParams): { y: B; mean: B; variance: B };
  /** Its gradients from dy and the forward's x, mean and variance: dx, dweight, dbias. */
  batchNormTrainGrad?(dy: B, x: B, mean: B, variance: B, weight: B | null, p: BatchNormParams): { dx: B; dweight: B; dbias: B };
  /** out float32 [k,c,ph,pw] and argmax int32 (flat h×w index, -1 for an empty bin). */
  roiPool(x: B, rois: B, p: RoiParams): { out: B; argmax: B };
  roiPoolGrad(dy: B, argmax: B, rois: B, p: RoiParams): B;
  /** [na, 4] × [nb, 4] → [na, nb] IoU (no +1 pixel convention, as torchvision). */
  boxIou(a: B, na: number, b: B, nb: number): B;
  /** Indices kept by greedy NMS, in descending score order (ties: lower index first), as torchvision.ops.nms. */
  nms(boxes: B, scores: B, n: number, iouThreshold: number): Promise<Int32Array>;
}

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'relu' | 'sigmoid' | 'tanh'
  | 'square' | 'sign' | 'reciprocal' | 'step'; // step: 1 where x > 0 else 0 (relu's derivative)

export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'pow'
  | 'gt' | 'ge' | 'lt' | 'le' | 'eq' | 'ne';

export type ReduceOp = 'sum' | 'max' | 'min';

export interface SgdParams {
  lr: number;
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

export interface MatmulParams {
  batchA: number;
  batchB: number;
  m: number;
  k: number;
  n: number;
  transA: boolean;
  transB: boolean;
}

export interface Conv2dParams {
  n: number;
  cIn: number;
  h: number;
  w: number;
  cOut: number;
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilationH: number;
  dilationW: number;
  groups: number;
  outH: number;
  outW: number;
}

export interface Pool2dParams {
  n: number;
  c: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  outH: number;
  outW: number;
}

export interface BatchNormParams {
  n: number;
  c: number;
  /** h·w. */
  hw: number;
  eps: number;
}

export interface SpmmParams {
  /** Rows of the sparse matrix and of the output. */
  rows: number;
  /** Rows of the dense operand. */
  xRows: number;
  /** Columns of the dense operand and of the output. */
  width: number;
  /** Stored entries: rowPtr[rows]. */
  nnz: number;
}

export interface RoiParams {
  /** Feature map [n, c, h, w]. */
  n: number;
  c: number;
  h: number;
  w: number;
  /** Number of ROIs. */
  k: number;
  pooledH: number;
  pooledW: number;
  spatialScale: number;
  /** roi_align only: samples per bin side; ≤ 0 means adaptive ceil(roi_size / pooled). */
  samplingRatio: number;
  /** roi_align only: shift by half a pixel (torchvision `aligned=True`). */
  aligned: boolean;
}
