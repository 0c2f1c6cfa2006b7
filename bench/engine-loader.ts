// Loads the engine with the wasm backend (createWasmBackend) when it exists, for the benchmark
// lines that go through engine ops. The backend is bundled at run time, together with the engine
// (one copy of the engine state), so the benchmark builds and runs before the backend is written.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomArray } from './wasm-raw.js';

export interface EngineApi {
  /** matmul through the engine op (output allocated and freed by the engine). */
  matmul(m: number, k: number, n: number): { run: () => void; dispose: () => void };
  /**
   * conv2d forward through the engine op; the gradients through the backend methods the op's
   * backward calls (they are not standalone engine ops).
   */
  conv(kind: 'conv2d' | 'conv2dGradInput' | 'conv2dGradFilter', n: number, cIn: number, h: number, w: number,
    cOut: number, k: number, stride: number, pad: number): { run: () => void; dispose: () => void };
  /** One call = engine roiAlign forward + backward of loss Σ roiAlign(x)·dy (as the torch peer). */
  roiAlignForwardBackward(
    c: number, h: number, w: number, rois: number[][], pooled: number, sampling: number, scale: number,
  ): { run: () => void; dispose: () => void };
}

export async function loadEngine(): Promise<EngineApi | null> {
  const entry = resolve('src/backends/wasm/index.ts');
  if (!existsSync(entry)) return null;
  const { build } = await import('esbuild');
  const outfile = resolve('build/run/kdet-engine.mjs');
  await build({
    stdin: {
      contents: "export * from './src/engine/index.ts';\nexport * from './src/backends/wasm/index.ts';\n",
      resolveDir: process.cwd(),
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    packages: 'external',
    logLevel: 'warning',
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const m: any = await import(pathToFileURL(outfile).href);
  if (typeof m.createWasmBackend !== 'function') return null;
  const backend = await m.createWasmBackend();
  m.setBackend(backend);
  return {
    matmul(mm, k, n) {
      const a = m.tensor(randomArray(mm * k, 1), [mm, k]);
      const b = m.tensor(randomArray(k * n, 2), [k, n]);
      return { run: () => m.matmul(a, b).dispose(), dispose: () => [a, b].forEach((t) => t.dispose()) };
    },
    conv(kind, n, cIn, h, w, cOut, k, stride, pad) {
      const x = m.tensor(randomArray(n * cIn * h * w, 3), [n, cIn, h, w]);
      const f = m.tensor(randomArray(cOut * cIn * k * k, 4), [cOut, cIn, k, k]);
      const p = m.conv2dParams([n, cIn, h, w], [cOut, cIn, k, k], { stride, padding: pad });
      const dy = m.tensor(randomArray(n * cOut * p.outH * p.outW, 5), [n, cOut, p.outH, p.outW]);
      const dispose = (): void => [x, f, dy].forEach((t) => t.dispose());
      if (kind === 'conv2d') return { run: () => m.conv2d(x, f, null, { stride, padding: pad }).dispose(), dispose };
      const run = kind === 'conv2dGradInput'
        ? () => backend.free(backend.conv2dGradInput(dy.buf, f.buf, p))
        : () => backend.free(backend.conv2dGradFilter(x.buf, dy.buf, p));
      return { run, dispose };
    },
    roiAlignForwardBackward(c, h, w, rois, pooled, sampling, scale) {
      const x = m.tensor(randomArray(c * h * w, 7), [1, c, h, w]);
      const r = m.tensor(Float32Array.from(rois.flat()), [rois.length, 5]);
      const dy = m.tensor(randomArray(rois.length * c * pooled * pooled, 8), [rois.length, c, pooled, pooled]);
      const opts = { outputSize: pooled, spatialScale: scale, samplingRatio: sampling, aligned: false };
      const run = (): void => {
        const { value, grads } = m.valueAndGrads(() => m.sum(m.mul(m.roiAlign(x, r, opts), dy)), [x]);
        // Reading one number waits for the work and keeps the call honest on any backend.
        value.item();
        value.dispose();
        for (const g of grads) g.dispose();
      };
      return { run, dispose: () => [x, r, dy].forEach((t) => t.dispose()) };
    },
  };
}
