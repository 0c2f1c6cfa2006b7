import type { Backend } from '../../engine/backend.js';
import type { WebGPUBackendOptions } from './index.js';

export interface BestBackendOptions {
  /** Makes the fallback backend (e.g. `createWasmBackend`); taken as an argument so that this
   * module does not pull the wasm backend into WebGPU-only bundles. */
  fallback: () => Backend | Promise<Backend>;
  webgpu?: WebGPUBackendOptions;
  /** Where the reason for falling back goes (default console.warn). */
  log?: (message: string) => void;
}

/** WebGPU when an adapter and device are available, otherwise `fallback()`, saying why. */
export async function createBestBackend(opts: BestBackendOptions): Promise<Backend> {
  const log = opts.log ?? ((m: string) => console.warn(m));
  try {
    const { createWebGPUBackend } = await import('./index.js');
    return await createWebGPUBackend(opts.webgpu);
  } catch (e) {
    const b = await opts.fallback();
    log(`kdet: WebGPU unavailable, using the '${b.name}' backend instead: ${(e as Error).message}`);
    return b;
  }
}
