import type { Backend } from '../../engine/backend.js';
import { WasmBackend } from './backend.js';
import { PARAM_BYTES, WasmContext } from './context.js';
import { ALIGN, WasmHeap } from './memory.js';
import { instantiateKdetWasm, instantiateSharedKdetWasm, type KdetWasmExports } from './module.js';
import { availableCores, canBlock, MAX_THREADS, ThreadPool, threadsFromEnv, envFlag } from './threads.js';

export { WasmBackend } from './backend.js';
export { WasmBuffer, WasmHeap, sizeClass } from './memory.js';
export { hasWasmSimd } from './module.js';

export interface WasmBackendOptions {
  /** The module's bytes, to load a different build; defaults to the one embedded in the package. */
  wasmBytes?: Uint8Array;
  /**
   * Threads the kernels split their work over (the calling thread plus `threads − 1` workers on
   * a shared memory). Defaults to KDET_THREADS, else to the cores available. Results are
   * bitwise the same for any count. Falls back to 1 where threads cannot work: no
   * SharedArrayBuffer (a browser page without cross-origin isolation) or a thread that may not
   * block (a browser's main thread); `backend.threads` says what was granted.
   */
  threads?: number;
  /**
   * Debugging: fill every block the heap hands out with NaN bytes (0xFF), and a kernel's scratch
   * again before each of its parts on the calling thread. A kernel that reads memory it did not
   * write then gives NaN or other numbers instead of stale values that happen to be harmless, or
   * that depend on what ran before (which can depend on the thread schedule). Slower; defaults to
   * KDET_WASM_POISON=1.
   */
  poison?: boolean;
}

/** The exports the thread pool may run (each takes a range it can be split on). */
const POOL_KERNELS: readonly (keyof KdetWasmExports)[] = [
  'matmulSplit', 'conv2dForwardSplit', 'conv2dGradInputSplit', 'conv2dGradFilterSplit', 'fill32', 'castF32ToI32',
  'castI32ToF32', 'unary', 'clamp', 'sgdUpdate', 'binary', 'where', 'reduceSum', 'reduceMax', 'reduceMin', 'softmax',
  'maxPool2dForward', 'maxPool2dBackward', 'roiAlignForward', 'roiAlignBackward', 'roiPoolForward', 'roiPoolBackward',
  'transpose2d', 'boxIou', 'depthwiseForward', 'depthwiseGradInput', 'depthwiseGradFilter', 'batchNormForward',
  'batchNormBackward', 'spmm',
];

/**
 * Creates the WebAssembly SIMD backend. The module is embedded in the package (base64), so this
 * works the same in Node, Deno, browsers and workers, with no fetch and no file access. Throws a
 * clear error where WebAssembly SIMD is unavailable.
 */
export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<Backend> {
  const requested = opts.threads ?? threadsFromEnv();
  const poison = opts.poison ?? envFlag('KDET_WASM_POISON');
  if (requested !== undefined && (!Number.isInteger(requested) || requested < 1)) {
    throw new Error(`createWasmBackend: threads must be a positive integer, got ${requested}`);
  }
  let threads = Math.min(requested ?? (await availableCores()), MAX_THREADS);
  if (threads > 1 && !canBlock()) threads = 1;
  if (threads > 1) {
    const shared = await instantiateSharedKdetWasm(opts.wasmBytes);
    const pool = await ThreadPool.start(threads, shared.module, shared.memory, POOL_KERNELS);
    return backendOver(shared.exports, shared.memory, pool, poison);
  }
  const wasm = await instantiateKdetWasm(opts.wasmBytes);
  return backendOver(wasm, wasm.memory, null, poison);
}

function backendOver(wasm: KdetWasmExports, memory: WebAssembly.Memory, pool: ThreadPool | null, poison: boolean): WasmBackend {
  // The parameter block sits on the first aligned address above the static data; the heap after.
  const params = wasm.heapBase() >>> 0;
  const heap = new WasmHeap(memory, Math.ceil((params + PARAM_BYTES) / ALIGN) * ALIGN);
  heap.poison = poison;
  return new WasmBackend(new WasmContext(wasm, heap, params, pool));
}
