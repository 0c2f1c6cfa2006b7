// Imported first by webgpu-bench.ts. Deno 2 defines Node's `process`, which makes
// TensorFlow.js pick its Node platform (require('util') and friends) inside a browser-style
// bundle; without it tfjs takes its browser path, which is what a Deno WebGPU run needs.
// (The export is used so that bundlers keep this module despite "sideEffects": false.)
export const runtime = 'Deno' in globalThis ? 'deno' : 'other';
if (runtime === 'deno') delete (globalThis as { process?: unknown }).process;
