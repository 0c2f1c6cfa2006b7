import type { Backend } from '../../engine/backend.js';
import { WebGPUBackend } from './backend.js';
import { type ContextOptions, GpuContext, isCpuAdapter } from './context.js';
import { acquireDevice, type DeviceOptions } from './device.js';

export type WebGPUBackendOptions = DeviceOptions & ContextOptions;

/**
 * A backend whose kernels are WGSL compute shaders. The device comes from `opts.device`, else
 * navigator.gpu (browsers, Deno), else in Node the optional npm package `webgpu` (Dawn).
 * Rejects with a KdetError that says why when no adapter or device is available.
 */
export async function createWebGPUBackend(opts: WebGPUBackendOptions = {}): Promise<Backend> {
  const { device, owned, description, gpu, info } = await acquireDevice(opts);
  const cpuEmulated = opts.cpuEmulated ?? (info ? isCpuAdapter(info) : undefined);
  return new WebGPUBackend(new GpuContext(device, owned, { ...opts, cpuEmulated }, gpu), description);
}

export { WebGPUBackend } from './backend.js';
export { GpuBuffer } from './context.js';
export { countsSince, type GpuCounts } from './counters.js';
export { createBestBackend } from './fallback.js';
export { SoftwareAdapterError } from './device.js';
