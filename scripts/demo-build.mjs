// Builds the browser demo into build/demo/ (or the folder given): index.html, main.js (the page),
// worker.js (training; the .wasm, the WGSL and the Fashion-MNIST subset are embedded in it) and
// the shipped teacher checkpoint, which the worker fetches. A static folder: any web server works;
// one that sends COOP / COEP (the _headers file written here says which) gives the wasm backend
// its thread pool (demo/README.md).
// Usage: node scripts/demo-build.mjs [outdir]
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

export async function buildDemo(outdir = resolve('build/demo')) {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: { main: 'demo/main.ts', worker: 'demo/worker.ts' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir,
    // Node-only branches (file reading, the Dawn package) are dynamic imports never taken here.
    external: ['node:*', 'webgpu'],
    minify: true,
    sourcemap: true,
    logLevel: 'warning',
  });
  copyFileSync('demo/index.html', resolve(outdir, 'index.html'));
  copyFileSync('models/teacher.safetensors', resolve(outdir, 'teacher.safetensors'));
  // Static hosts cannot be told headers by the files they serve, but Netlify and Cloudflare Pages
  // read this file; elsewhere configure the server to send the same two (demo/README.md).
  writeFileSync(resolve(outdir, '_headers'), '/*\n  Cross-Origin-Opener-Policy: same-origin\n  Cross-Origin-Embedder-Policy: require-corp\n');
  return outdir;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = await buildDemo(process.argv[2] ? resolve(process.argv[2]) : undefined);
  console.log(`demo built in ${out}`);
}
