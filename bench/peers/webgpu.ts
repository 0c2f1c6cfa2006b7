// The WebGPU columns (issue 4): kdet's WebGPU backend and tfjs's webgpu backend on the same
// adapter. In Node the GPU comes from the optional npm package `webgpu` (Dawn), exposed as
// navigator.gpu so that tfjs finds it too; without a hardware GPU a software Vulkan driver
// serves (VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json: SwiftShader), whose
// numbers are for completeness only.
import { createWebGPUBackend, type WebGPUBackend } from '../../src/backends/webgpu/index.js';
import { backendEngine, type Engine } from './common.js';
import { registerTfWebGpu, tfEngine, type Tf } from './tfjs.js';

export interface WebGpuPeer {
  /** The adapter kdet's backend got (vendor, architecture, device, description, and how). */
  description: string;
  engines: Engine[];
  /** Why a column is missing although the adapter was found (tfjs-webgpu failing to load). */
  notes: string[];
}

/**
 * Gives Node a navigator.gpu from the `webgpu` package; browsers and Deno have their own.
 * True when it did, false when the runtime had one, else why there is none.
 */
async function provideNavigatorGpu(): Promise<string | boolean> {
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (g.navigator?.gpu) return false;
  if (typeof process === 'undefined' || !process.versions?.node) return 'this runtime has no navigator.gpu';
  let dawn: { create(flags: string[]): GPU; globals: object };
  try {
    const name = 'webgpu'; // optional dependency: resolved at run time
    dawn = (await import(/* @vite-ignore */ name)) as typeof dawn;
  } catch (e) {
    return `the optional package 'webgpu' (Dawn) could not be loaded: ${(e as Error).message.split('\n')[0]}`;
  }
  Object.assign(globalThis, dawn.globals); // GPUBufferUsage, GPUShaderStage, … (tfjs uses them)
  const gpu = dawn.create([]);
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  return true;
}

/** SwiftShader, llvmpipe/lavapipe and the like: a GPU emulated on the CPU. */
export function isSoftwareAdapter(description: string): boolean {
  return /swiftshader|llvmpipe|lavapipe|software/i.test(description);
}

/** kdet-webgpu and tfjs-webgpu engines, or a one-line reason why there is no WebGPU here. */
export async function loadWebGpu(tf: Tf | null): Promise<WebGpuPeer | string> {
  const provided = await provideNavigatorGpu();
  if (typeof provided === 'string') return provided;
  let backend: WebGPUBackend;
  try {
    backend = (await createWebGPUBackend()) as WebGPUBackend;
  } catch (e) {
    // KdetError messages carry a hint after the first sentence; the note keeps the first.
    let first = (e as Error).message.replace(/^kdet\.webgpu: /, '').split('. ')[0]!;
    if (provided) first = first.replace('navigator.gpu', "the npm package 'webgpu' (Dawn)");
    return /no WebGPU adapter/i.test(first)
      ? `${first} (without a GPU: VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json selects SwiftShader)`
      : first;
  }
  // On a software GPU, roi_align forward + backward took 40 s a call (SwiftShader, 2 cores):
  // it is left out there; the issue asks for the convolutions and matmul.
  const software = isSoftwareAdapter(backend.description);
  const kdet = backendEngine(backend, 'kdet-webgpu', 'webgpu', true,
    (c) => (software && c.kind === 'roiAlign' ? 'n/a (not timed on a software GPU)' : undefined));
  kdet.close = () => backend.dispose();
  const engines = [kdet];
  const notes: string[] = [];
  if (tf) {
    const why = registerTfWebGpu(tf);
    if (why) notes.push(`tfjs-webgpu: ${why}`);
    else engines.push(tfEngine(tf, 'webgpu'));
  }
  // The GPU object came from Dawn here (put on navigator.gpu for tfjs): say so.
  const description = provided ? backend.description.replace(/via navigator\.gpu$/, "via the npm package 'webgpu' (Dawn)") : backend.description;
  return { description, engines, notes };
}
