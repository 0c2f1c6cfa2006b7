import { shaders } from './shaders.generated.js';

/**
 * Shader modules are built from the .wgsl files in shaders/ (embedded as text at build time).
 * WGSL has no include, so a module is its files concatenated: the shared prelude, the family's
 * own file and, for the GEMM-based kernels, the tiled core last. WGSL allows any declaration
 * order, but Deno's naga (29) panics on override constants used in a function declared after
 * its caller, so every file declares helpers before their users and the core, which calls the
 * loaders, comes after them.
 */
const MODULES = {
  elementwise: ['common', 'elementwise'],
  layout: ['common', 'layout'],
  scatter: ['common', 'scatter'],
  reduce: ['common', 'reduce'],
  softmax: ['common', 'softmax'],
  matmul: ['common', 'matmul', 'gemm'],
  conv: ['common', 'conv', 'gemm'],
  depthwise: ['common', 'depthwise'],
  pool2d: ['common', 'pool2d'],
  roi_align: ['common', 'roi_align'],
  roi_pool: ['common', 'roi_pool'],
  boxes: ['common', 'boxes'],
  optim: ['common', 'optim'],
  sparse: ['common', 'spmm'],
} as const;

export type ModuleName = keyof typeof MODULES;
export const moduleNames = Object.keys(MODULES) as ModuleName[];

export function moduleSource(name: ModuleName): string {
  return MODULES[name]
    .map((file) => {
      const text = shaders[file];
      if (text === undefined) {
        throw new Error(`kdet.webgpu: shader '${file}.wgsl' is not embedded; run \`npm run build:wasm\` (scripts/build-assets.mjs)`);
      }
      return `// ---- ${file}.wgsl ----\n${text}`;
    })
    .join('\n');
}

/**
 * One entry point of a module. `bindings` spells the bind group layout, one letter per binding
 * from 0: 'u' uniform, 'r' read-only storage, 'w' read-write storage.
 */
export interface Kernel {
  readonly module: ModuleName;
  readonly entry: string;
  readonly bindings: string;
}

export const kernel = (module: ModuleName, entry: string, bindings: string): Kernel => ({ module, entry, bindings });
