import { KdetError } from '../../engine/errors.js';
import { isCpuAdapter } from './context.js';

export interface DeviceOptions {
  /** Use this device instead of requesting one (the backend then does not destroy it). */
  device?: GPUDevice;
  powerPreference?: GPUPowerPreference;
  /** Node only: options for Dawn's `create()` (e.g. 'enable-dawn-features=…'). */
  dawnFlags?: string[];
  /**
   * Refuse a software adapter (SwiftShader, llvmpipe, WARP: shaders run on the CPU, slower than
   * the wasm kernels on the same cores) with a SoftwareAdapterError, before a device is
   * requested: creating one costs the GPU process CPU time that a page starting up needs.
   */
  rejectSoftwareAdapter?: boolean;
}

/** The adapter is a CPU emulation and `rejectSoftwareAdapter` was set. */
export class SoftwareAdapterError extends KdetError {
  constructor(readonly adapter: string) {
    super('webgpu', `the WebGPU adapter is a software one (${adapter}); rejectSoftwareAdapter was set`);
    this.name = 'SoftwareAdapterError';
  }
}

interface DawnModule {
  create(flags: string[]): GPU;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node && !('Deno' in globalThis);

/**
 * navigator.gpu where the runtime has one (browsers, Deno); in Node, the optional npm package
 * `webgpu` (Dawn). The package name goes through a variable so that bundlers targeting a
 * browser leave the import alone.
 */
async function findGpu(dawnFlags: string[]): Promise<{ gpu: GPU; source: string }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, source: 'navigator.gpu' };
  if (isNode) {
    const name = 'webgpu';
    let dawn: DawnModule;
    try {
      dawn = (await import(/* @vite-ignore */ name)) as DawnModule;
    } catch (e) {
      throw new KdetError('webgpu', `WebGPU is not available: Node has no navigator.gpu and the optional package 'webgpu' (Dawn) could not be loaded (npm install webgpu): ${(e as Error).message}`);
    }
    return { gpu: dawn.create(dawnFlags), source: "the npm package 'webgpu' (Dawn)" };
  }
  throw new KdetError('webgpu', 'WebGPU is not available: this runtime has no navigator.gpu (use a browser with WebGPU, Deno, or Node with the npm package webgpu)');
}

const NO_ADAPTER_HINT =
  'Without a GPU, a software Vulkan driver works: on Linux set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json ' +
  '(Debian package chromium) before starting; or use the wasm backend.';

/** A device with the adapter's largest buffer limits (tensors can be large). */
export interface Acquired {
  device: GPUDevice;
  owned: boolean;
  description: string;
  /** The GPU object the device came from. Dawn for Node tears its instance down (and crashes
   * work in flight) when that object is garbage collected, so the backend holds it until
   * dispose; dropping it then also lets Node exit. */
  gpu: GPU | null;
  /** The adapter's description, where the device was requested here. */
  info?: GPUAdapterInfo;
}

export async function acquireDevice(opts: DeviceOptions): Promise<Acquired> {
  if (opts.device) return { device: opts.device, owned: false, description: 'a caller-provided device', gpu: null };
  const { gpu, source } = await findGpu(opts.dawnFlags ?? []);
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter(opts.powerPreference ? { powerPreference: opts.powerPreference } : {});
  } catch (e) {
    throw new KdetError('webgpu', `requesting a WebGPU adapter from ${source} failed: ${(e as Error).message}. ${NO_ADAPTER_HINT}`);
  }
  if (!adapter) throw new KdetError('webgpu', `no WebGPU adapter is available from ${source}. ${NO_ADAPTER_HINT}`);
  const info = adapter.info;
  const name = [info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' ');
  if (opts.rejectSoftwareAdapter && isCpuAdapter(info)) {
    throw new SoftwareAdapterError(`${name || 'unknown adapter'} via ${source}`);
  }
  const limits = adapter.limits;
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      requiredLimits: {
        maxBufferSize: limits.maxBufferSize,
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      },
    });
  } catch (e) {
    throw new KdetError('webgpu', `the WebGPU adapter from ${source} refused a device: ${(e as Error).message}`);
  }
  return { device, owned: true, description: `${name || 'unknown adapter'} via ${source}`, gpu, info };
}
