import type { Backend } from '../engine/backend.js';
import { setBackend } from '../engine/state.js';
import { UsageError } from './args.js';

export type BackendName = 'wasm' | 'webgpu' | 'reference';
export const BACKEND_NAMES: readonly BackendName[] = ['wasm', 'webgpu', 'reference'];

/**
 * Create and install the backend a command asked for; a missing WebGPU is one clear line.
 * `threads`: the wasm backend's thread count (default KDET_THREADS, else every core).
 */
export async function useBackend(name: string, threads?: number): Promise<Backend> {
  let backend: Backend;
  switch (name) {
    case 'wasm': {
      const { createWasmBackend } = await import('../backends/wasm/index.js');
      backend = await createWasmBackend(threads !== undefined ? { threads } : {});
      break;
    }
    case 'webgpu': {
      const { createWebGPUBackend } = await import('../backends/webgpu/index.js');
      try {
        backend = await createWebGPUBackend();
      } catch (e) {
        throw new UsageError(`--backend webgpu: no WebGPU here (${(e as Error).message}); use --backend wasm`);
      }
      break;
    }
    case 'reference': {
      const { createReferenceBackend } = await import('../backends/reference/index.js');
      backend = createReferenceBackend();
      break;
    }
    default:
      throw new UsageError(`--backend must be one of ${BACKEND_NAMES.join(', ')}, got '${name}'`);
  }
  setBackend(backend);
  return backend;
}
