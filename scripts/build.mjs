// Builds the npm package into dist/: ES modules per entry point (shared code split into chunks,
// so importing the engine alone does not pull in the detector), the CLI for Node, and type
// declarations. The .wasm and the WGSL shaders are already embedded by build-assets.mjs.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';

const entries = {
  index: 'src/index.ts',
  engine: 'src/engine/index.ts',
  nn: 'src/nn/index.ts',
  detection: 'src/detection/index.ts',
  distillation: 'src/distillation/index.ts',
  data: 'src/data/index.ts',
  eval: 'src/eval/index.ts',
  models: 'src/models/index.ts',
  interop: 'src/interop/index.ts',
  wasm: 'src/backends/wasm/index.ts',
  webgpu: 'src/backends/webgpu/index.ts',
  reference: 'src/backends/reference/index.ts',
};

rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: entries,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  outdir: 'dist',
  chunkNames: 'chunks/[name]-[hash]',
  // Node built-ins are only reached through dynamic imports on Node; `webgpu` is an optional peer.
  external: ['node:*', 'webgpu'],
  mainFields: ['module', 'main'],
  logLevel: 'warning',
});
await build({
  entryPoints: { cli: 'src/cli/main.ts' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: 'dist',
  external: ['webgpu'],
  packages: 'external',
  logLevel: 'warning',
});
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
console.log('built dist/');
