import type { Backend } from '../../engine/backend.js';
import { WasmBackend } from './backend.js';
import { PARAM_BYTES, WasmContext } from './context.js';
import { ALIGN, WasmHeap } from './memory.js';
import { instantiateKdetWasm } from './module.js';

export { WasmBackend } from './backend.js';
export { WasmBuffer, WasmHeap, sizeClass } from './memory.js';
export { hasWasmSimd } from './module.js';

export interface WasmBackendOptions {
  /** The module's bytes, to load a different build; defaults to the one embedded in the package. */
  wasmBytes?: Uint8Array;
}

/**
 * Creates the WebAssembly SIMD backend. The module is embedded in the package (base64), so this
 * works the same in Node, Deno, browsers and workers, with no fetch and no file access. Throws a
 * clear error where WebAssembly SIMD is unavailable.
 */
export async function createWasmBackend(opts: WasmBackendOptions = {}): Promise<Backend> {
  const wasm = await instantiateKdetWasm(opts.wasmBytes);
  // The parameter block sits on the first aligned address above the static data; the heap after.
  const params = wasm.heapBase() >>> 0;
  const heap = new WasmHeap(wasm.memory, Math.ceil((params + PARAM_BYTES) / ALIGN) * ALIGN);
  return new WasmBackend(new WasmContext(wasm, heap, params));
}
