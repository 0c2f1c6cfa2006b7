// Node: wasm always works; asking for WebGPU where there is none gives one clear message, from the
// package API and from the CLI, instead of a crash deep inside.
import { describe, expect, it } from 'vitest';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { requireDist, run } from './runtimes.js';

// No Vulkan driver at all: Dawn finds no adapter.
const noGpu = { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json', XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };

describe('Node without a GPU', () => {
  it('the package: createWebGPUBackend rejects with a message that says why and what to do', async () => {
    requireDist();
    const code = `
      import { createWebGPUBackend } from 'kdet/webgpu';
      import { createWasmBackend } from 'kdet/wasm';
      try { await createWebGPUBackend(); console.log('UNEXPECTED webgpu'); }
      catch (e) { console.log('MSG ' + e.message); }
      const b = await createWasmBackend(); console.log('WASM ' + b.name);
      // Exit explicitly: at adc3411 the wasm thread pool keeps Node alive after the last line.
      process.exit(0);`;
    // A module file inside the package, so that 'kdet' resolves to this package's exports.
    mkdirSync('build', { recursive: true });
    const file = `build/webgpu-absent-${process.pid}.mjs`;
    writeFileSync(file, code);
    const { stdout } = await run('node', [file], { env: noGpu }).finally(() => rmSync(file, { force: true }));
    expect(stdout).toMatch(/MSG .*(adapter|WebGPU)/i);
    expect(stdout).toMatch(/VK_ICD_FILENAMES|wasm/);
    expect(stdout).toContain('WASM wasm');
  }, 60_000);

  it('the example exits 2 with one clear line', async () => {
    const err = await run('node', ['examples/node-steps.mjs', 'webgpu', '1'], { env: noGpu }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    // Dawn itself warns about the missing Vulkan driver first; ours is the one line after.
    const ours = err!.stderr.trim().split('\n').filter((l) => l.startsWith('kdet:'));
    expect(ours).toHaveLength(1);
    expect(ours[0]).toMatch(/no WebGPU adapter.*VK_ICD_FILENAMES.*wasm backend/);
  }, 60_000);
});
