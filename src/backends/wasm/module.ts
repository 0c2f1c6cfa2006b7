import { wasmBase64 } from './kdet-wasm.generated.js';
import { base64ToBytes } from '../../engine/base64.js';
import { withSharedMemoryImport } from './threads.js';

/**
 * The exports of build/kdet.wasm (assembly/*.ts) as the backend calls them. Pointers and sizes
 * are i32 on the wasm side; a `usize` result above 2^31 arrives negative, so read results with
 * `>>> 0`. Booleans are passed as 0/1.
 */
export interface KdetWasmExports {
  memory: WebAssembly.Memory;
  heapBase(): number;

  fill32(y: number, bits: number, start: number, end: number): void;
  castF32ToI32(x: number, y: number, start: number, end: number): void;
  castI32ToF32(x: number, y: number, start: number, end: number): void;
  oneHot(labels: number, y: number, classes: number, start: number, end: number): void;
  unary(op: number, x: number, y: number, start: number, end: number): void;
  clamp(x: number, y: number, lo: number, hi: number, start: number, end: number): void;
  sgdUpdate(
    p: number, g: number, buf: number, scale: number, pOut: number, bufOut: number, lr: number, momentum: number, weightDecay: number,
    flags: number, start: number, end: number,
  ): void;
  binary(op: number, a: number, b: number, y: number, params: number, rowStart: number, rowEnd: number): void;
  where(cond: number, a: number, b: number, y: number, params: number, rowStart: number, rowEnd: number): void;

  reduceSum(x: number, y: number, n: number, inner: number, scratch: number, start: number, end: number): void;
  reduceMax(x: number, y: number, n: number, inner: number, start: number, end: number): void;
  reduceMin(x: number, y: number, n: number, inner: number, start: number, end: number): void;
  argReduce(x: number, y: number, n: number, inner: number, wantMax: number, best: number, start: number, end: number): void;
  softmax(x: number, y: number, cols: number, log: number, start: number, end: number): void;

  copyStrided(src: number, dst: number, params: number, start: number, end: number): void;
  transpose2d(
    src: number, dst: number, rows: number, cols: number, srcStride: number, dstStride: number,
    srcBatchStride: number, dstBatchStride: number, start: number, end: number,
  ): void;
  copyRows(src: number, dst: number, len: number, srcStride: number, dstStride: number, start: number, end: number): void;
  gather(x: number, indices: number, y: number, n: number, inner: number, nIndex: number, start: number, end: number): number;
  scatterAdd(src: number, indices: number, y: number, nIndex: number, axisSize: number, inner: number, start: number, end: number): number;

  maxPool2dForward(x: number, y: number, argmax: number, params: number, start: number, end: number): void;
  maxPool2dBackward(dy: number, argmax: number, dx: number, params: number, start: number, end: number): void;
  // Sparse × dense (assembly/sparse.ts): ranges of rows and columns.
  spmm(rowPtr: number, colIdx: number, values: number, x: number, out: number, width: number, rStart: number, rEnd: number, cStart: number, cEnd: number): void;
  roiAlignForward(xT: number, rois: number, out: number, params: number, plan: number, cStart: number, cEnd: number): void;
  roiAlignBackward(dy: number, rois: number, dxT: number, params: number, plan: number, cStart: number, cEnd: number): void;
  roiPoolForward(x: number, rois: number, out: number, argmax: number, params: number, cStart: number, cEnd: number): void;
  roiPoolBackward(dy: number, argmax: number, rois: number, dx: number, params: number, cStart: number, cEnd: number): void;
  boxIouPrepare(b: number, nb: number, planes: number, stride: number): void;
  boxIou(a: number, planes: number, stride: number, nb: number, y: number, start: number, end: number): void;
  nms(
    boxes: number, scores: number, n: number, threshold: number, order: number, tmp: number, planes: number, stride: number,
    suppressed: number, keep: number,
  ): number;

  // GEMM and convolution (assembly/gemm.ts, assembly/conv.ts): optional until they are built.
  matmul?(
    a: number, b: number, y: number, batchA: number, batchB: number, m: number, k: number, n: number,
    transA: number, transB: number, scratch: number,
  ): void;
  matmulScratchBytes?(m: number, k: number, n: number, transA: number, transB: number): number;
  conv2dForward?(x: number, w: number, bias: number, y: number, params: number, scratch: number): void;
  conv2dGradInput?(dy: number, w: number, dx: number, params: number, scratch: number): void;
  conv2dGradFilter?(x: number, dy: number, dw: number, params: number, scratch: number): void;
  conv2dScratchBytes?(kind: number, params: number): number;

  // The splittable variants the thread pool runs (assembly/gemm.ts, assembly/conv.ts).
  matmulSplit(
    a: number, b: number, y: number, batchA: number, batchB: number, m: number, k: number, n: number,
    transA: number, transB: number, scratch: number, rStart: number, rEnd: number, jStart: number, jEnd: number,
  ): void;
  conv2dForwardSplit(
    x: number, w: number, bias: number, y: number, params: number, scratch: number, start: number, end: number,
    iStart: number, iEnd: number, jStart: number, jEnd: number,
  ): void;
  conv2dGradInputSplit(
    dy: number, w: number, dx: number, params: number, scratch: number, start: number, end: number,
    iStart: number, iEnd: number, jStart: number, jEnd: number,
  ): void;
  conv2dGradFilterSplit(
    x: number, dy: number, dw: number, params: number, scratch: number, start: number, end: number,
    iStart: number, iEnd: number, jStart: number, jEnd: number,
  ): void;
  conv2dGradInputTransposed(params: number): number;
  conv2dGradFilterIsTransposed(params: number): number;

  // Depthwise convolution (assembly/depthwise.ts): ranges of input planes (channels for the filter gradient).
  depthwiseScratchBytes(kind: number, params: number): number;
  depthwiseForward(x: number, w: number, bias: number, y: number, params: number, scratch: number, start: number, end: number): void;
  depthwiseGradInput(dy: number, w: number, dx: number, params: number, scratch: number, start: number, end: number): void;
  depthwiseGradFilter(x: number, dy: number, dw: number, params: number, scratch: number, start: number, end: number): void;

  // Batch norm with batch statistics (assembly/batchnorm.ts): ranges of channels.
  batchNormForward(x: number, y: number, mean: number, variance: number, weight: number, bias: number, flags: number, n: number, c: number, hw: number, eps: number, start: number, end: number): void;
  batchNormBackward(dy: number, x: number, mean: number, variance: number, weight: number, dx: number, dweight: number, dbias: number, flags: number, n: number, c: number, hw: number, eps: number, sums: number, start: number, end: number): void;
}

/** Kernels every build must export (the GEMM/conv ones are checked when called). */
const REQUIRED: readonly (keyof KdetWasmExports)[] = [
  'memory', 'heapBase', 'fill32', 'castF32ToI32', 'castI32ToF32', 'oneHot', 'unary', 'clamp', 'sgdUpdate', 'binary', 'where',
  'reduceSum', 'reduceMax', 'reduceMin', 'argReduce', 'softmax', 'copyStrided', 'transpose2d', 'copyRows', 'gather',
  'scatterAdd', 'maxPool2dForward', 'maxPool2dBackward', 'roiAlignForward', 'roiAlignBackward', 'roiPoolForward',
  'roiPoolBackward', 'spmm', 'boxIouPrepare', 'boxIou', 'nms', 'matmulSplit', 'conv2dForwardSplit', 'conv2dGradInputSplit',
  'conv2dGradFilterSplit', 'conv2dGradInputTransposed', 'conv2dGradFilterIsTransposed', 'depthwiseScratchBytes',
  'depthwiseForward', 'depthwiseGradInput', 'depthwiseGradFilter', 'batchNormForward', 'batchNormBackward',
];

/**
 * The smallest module using a v128 instruction: (func (result v128) (v128.const i32x4 0 0 0 0)).
 * An engine without SIMD fails to validate it.
 */
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type section: () -> v128
  0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
  0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, // code: v128.const
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x0b, // end
]);

export function hasWasmSimd(): boolean {
  return typeof WebAssembly === 'object' && typeof WebAssembly.validate === 'function' && WebAssembly.validate(SIMD_PROBE);
}

function checkRuntime(): void {
  if (typeof WebAssembly !== 'object') {
    throw new Error('kdet.wasm: this runtime has no WebAssembly; use the reference backend');
  }
  if (!hasWasmSimd()) {
    throw new Error(
      'kdet.wasm: this runtime does not support WebAssembly SIMD (fixed-width v128), which the wasm backend ' +
        'requires: use Node ≥ 16.4, Deno ≥ 1.9, Chrome ≥ 91, Firefox ≥ 89 or Safari ≥ 16.4, or the reference backend',
    );
  }
}

function checkExports(exports: KdetWasmExports): KdetWasmExports {
  const missing = REQUIRED.filter((name) => !(name in exports));
  if (missing.length > 0) {
    throw new Error(`kdet.wasm: the embedded module lacks ${missing.join(', ')}: rebuild it with \`npm run build:wasm\``);
  }
  return exports;
}

/** Instantiates the embedded module (no fetch, no file access: the bytes are in the bundle). */
export async function instantiateKdetWasm(bytes: Uint8Array = base64ToBytes(wasmBase64)): Promise<KdetWasmExports> {
  checkRuntime();
  const { instance } = await WebAssembly.instantiate(bytes as Uint8Array<ArrayBuffer>, {});
  return checkExports(instance.exports as unknown as KdetWasmExports);
}

/** Maximum sizes (pages) tried for the shared memory, largest first: 4 GiB, then 1 GiB. */
const SHARED_MAXIMUM_PAGES = [65536, 16384];

/**
 * The module rewritten to import a shared memory (see withSharedMemoryImport), compiled once so
 * that every worker instantiates the same code over the same memory, and its first instance.
 */
export async function instantiateSharedKdetWasm(
  bytes: Uint8Array = base64ToBytes(wasmBase64),
): Promise<{ exports: KdetWasmExports; module: WebAssembly.Module; memory: WebAssembly.Memory }> {
  checkRuntime();
  let lastError: unknown = null;
  for (const maximum of SHARED_MAXIMUM_PAGES) {
    try {
      const variant = withSharedMemoryImport(bytes, maximum);
      const memory = new WebAssembly.Memory({ initial: variant.initialPages, maximum, shared: true });
      const module = await WebAssembly.compile(variant.bytes as Uint8Array<ArrayBuffer>);
      const instance = await WebAssembly.instantiate(module, { env: { memory } });
      return { exports: checkExports(instance.exports as unknown as KdetWasmExports), module, memory };
    } catch (e) {
      lastError = e;
    }
  }
  throw new Error(`kdet.wasm: cannot create a shared memory: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
}
