// onnxruntime-web's wasm backend as a benchmark peer (issue 7): Conv (NCHW) and MatMul, each a
// one-node ONNX model (bench/peers/onnx-model.ts) with the weight as an initializer, timed by
// session.run. ORT cannot train, so the gradient cases are n/a.
//
// Threads. ORT-web fixes its thread count once per module instance: `env.wasm.numThreads` is read
// when the wasm backend initialises (the first InferenceSession.create), which builds one global
// thread pool; a second initialisation is refused ("multiple calls to 'initializeWebAssembly()'").
// Its default in Node is min(4, ceil(cores / 2)), i.e. 1 thread on 2 cores, so the count is always
// set here. To time 1 thread and all threads side by side in one process, each count gets its own
// instance of the whole library: ort.node.min.mjs imports the shared package onnxruntime-common
// (where `env` and the backend registry live), so it is bundled once with that package inlined
// (esbuild, into build/run/) and the bundle is imported once per thread count under a distinct
// URL query, which gives separate module records, hence separate env, registry and wasm module.
// The Node build (unlike ort.wasm.min.mjs, which fetches its worker script into a blob URL that
// Node's fetch cannot load from file:) starts Emscripten's pthreads as worker_threads.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomArray } from '../wasm-raw.js';
import type { Case, Engine, Prepared } from './common.js';
import { convModel, matmulModel } from './onnx-model.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Ort = any;

export interface OrtPeer { version: string; engines: Engine[] }

/** One engine per thread count, or a reason why onnxruntime-web is not available. */
export async function loadOrt(threadCounts: number[]): Promise<OrtPeer | string> {
  const loaded = await loadOrtModules(threadCounts);
  if (typeof loaded === 'string') return loaded;
  return { version: loaded.version, engines: loaded.modules.map(({ ort, threads }) => ortEngine(ort, threads)) };
}

/** One onnxruntime-web module instance per thread count (see above), for whole-model peers. */
export async function loadOrtModules(threadCounts: number[]): Promise<{ version: string; modules: { threads: number; ort: Ort }[] } | string> {
  let dist: string;
  try {
    // The package's "node" export is dist/ort.node.min.mjs; its folder holds the wasm artefacts.
    dist = dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
  } catch {
    return 'onnxruntime-web not installed';
  }
  const bundle = resolve('build/run/ort-node-bundle.mjs');
  const { build } = await import('esbuild');
  await build({
    entryPoints: [resolve(dist, 'ort.node.min.mjs')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: bundle,
    logLevel: 'error',
  });
  const wasmBinary = readFileSync(resolve(dist, 'ort-wasm-simd-threaded.wasm'));
  const modules: { threads: number; ort: Ort }[] = [];
  let version = 'unknown';
  for (const threads of [...new Set(threadCounts)]) {
    const ort: Ort = await import(`${pathToFileURL(bundle).href}?threads=${threads}`);
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.simd = true;
    ort.env.wasm.proxy = false;
    // The Emscripten glue, also one instance per thread count; the binary given directly (the
    // bundle no longer sits beside it, and Node's fetch cannot read file: URLs).
    ort.env.wasm.wasmPaths = { mjs: `${pathToFileURL(resolve(dist, 'ort-wasm-simd-threaded.mjs')).href}?threads=${threads}` };
    ort.env.wasm.wasmBinary = wasmBinary;
    ort.env.logLevel = 'error';
    version = ort.env.versions?.web ?? version;
    modules.push({ threads, ort });
  }
  return { version, modules };
}

function ortEngine(ort: Ort, threads: number): Engine {
  const sessions = new Set<Ort>();
  return {
    name: `ort-wasm ${threads} thread${threads > 1 ? 's' : ''}`,
    group: 'wasm',
    // Measured: 256³ matmul at 1 thread reached its steady speed only after ~0.5 s of calls
    // (median 15 GFLOP/s in the first 200 calls, 25 after) while V8 tiered the module up.
    warmupMs: 1500,
    // With more than one thread, ORT's global thread pool (created by OrtInit; the session option
    // session.intra_op.allow_spinning does not reach it) keeps a worker spinning for 20–60 ms
    // after each run (measured: 15 ms of CPU in the 20 ms after a 256³ matmul, none with
    // 1 thread). On 2 cores that spinning thread would take a core from whichever engine is
    // timed next, so the rounds wait it out.
    settleMs: threads > 1 ? 60 : 0,
    async prepare(c: Case): Promise<Prepared> {
      if (c.kind === 'roiAlign') return { na: '—' };
      if (c.kind === 'conv2dGradInput' || c.kind === 'conv2dGradFilter') return { na: 'n/a (inference only)' };
      let model: Uint8Array;
      let feedName: string;
      let feed: Ort;
      if (c.kind === 'matmul') {
        model = matmulModel(c.m, c.k, c.n, randomArray(c.k * c.n, 2));
        feedName = 'A';
        feed = new ort.Tensor('float32', randomArray(c.m * c.k, 1), [c.m, c.k]);
      } else {
        model = convModel(c.n, c.cIn, c.h, c.w, c.cOut, c.k, c.stride, c.pad, randomArray(c.cOut * c.cIn * c.k * c.k, 4));
        feedName = 'X';
        feed = new ort.Tensor('float32', randomArray(c.n * c.cIn * c.h * c.w, 3), [c.n, c.cIn, c.h, c.w]);
      }
      const session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
      sessions.add(session);
      const feeds = { [feedName]: feed };
      return {
        // The output comes back as a new Float32Array copied out of the wasm heap, as kdet's and
        // tfjs's outputs are freshly allocated per call.
        run: async () => {
          const out = await session.run(feeds);
          out.Y.dispose();
        },
        dispose: () => {
          sessions.delete(session);
          void session.release();
        },
      };
    },
    async close() {
      for (const s of sessions) await s.release();
      sessions.clear();
    },
  };
}
