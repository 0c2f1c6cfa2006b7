// Runs a TypeScript entry point on Node 20 (which cannot strip types itself): esbuild bundles it
// into build/run/ with the same loaders as the package build, then the bundle is imported.
// Usage: node scripts/run.mjs <file.ts> [args...]
import { build } from 'esbuild';
import { mkdirSync, rmSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('usage: node scripts/run.mjs <file.ts> [args...]');
  process.exit(2);
}
const outdir = resolve('build/run');
mkdirSync(outdir, { recursive: true });
// One bundle per process: two runs of the same entry (or of two entries with the same file
// name) must not overwrite each other's bundle while it loads.
const outfile = resolve(outdir, `${basename(entry).replace(/\.ts$/, '')}-${process.pid}.mjs`);
await build({
  entryPoints: [entry],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile,
  sourcemap: 'inline',
  logLevel: 'warning',
  // Keep real packages (peers like tfjs, webgpu) external: they are resolved from node_modules.
  packages: 'external',
  banner: { js: "import { createRequire as __kdetCreateRequire } from 'node:module'; const require = __kdetCreateRequire(import.meta.url);" },
});
process.argv = [process.argv[0], entry, ...args];
try {
  await import(pathToFileURL(outfile).href);
} finally {
  rmSync(outfile, { force: true });
}
