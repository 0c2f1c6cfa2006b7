// What bench/kernels.ts and its peer columns (onnxruntime-web, WebGPU) share: the cases, the
// engine interface, and kdet's backend timed through the methods the engine's ops call.
import type { Backend } from '../../src/engine/backend.js';
import { randomArray } from '../wasm-raw.js';

export interface ConvCase {
  id: string; kind: 'conv2d' | 'conv2dGradInput' | 'conv2dGradFilter'; label: string;
  n: number; cIn: number; h: number; w: number; cOut: number; k: number; stride: number; pad: number; flops: number;
}
export interface MatmulCase { id: string; kind: 'matmul'; label: string; m: number; k: number; n: number; flops: number }
export interface RoiCase {
  id: string; kind: 'roiAlign'; label: string;
  c: number; h: number; w: number; rois: number[][]; pooled: number; sampling: number; scale: number; flops: 0;
}
export type Case = ConvCase | MatmulCase | RoiCase;

/**
 * One call of the measured work. Synchronous engines return nothing; asynchronous ones (a GPU,
 * onnxruntime's session.run) return a promise that settles when the work is done, and the time
 * until it settles is the call's time.
 */
export type Run = () => void | Promise<void>;

export type Prepared = { run: Run; dispose: () => void } | { na: string };

export interface Engine {
  name: string;
  /**
   * Engines of one group are timed interleaved. 'wasm' holds the CPU engines; 'tfjs-cpu' and
   * 'webgpu' run on their own (a tfjs backend switch moves data; a software GPU is slow).
   */
  group: 'wasm' | 'tfjs-cpu' | 'webgpu';
  prepare(c: Case): Prepared | Promise<Prepared>;
  /**
   * Warm-up this engine needs at least, in milliseconds of calls per case: V8 first runs wasm
   * through its baseline compiler and tiers hot functions up to TurboFan in the background,
   * which for a large module (onnxruntime-web's is 14 MB) takes far longer than for kdet's.
   */
  warmupMs?: number;
  /**
   * Milliseconds to sleep (untimed) after each call of this engine before the next engine's call:
   * for engines whose worker threads keep spinning after a call returns (onnxruntime-web's
   * thread pool spins for 20–60 ms), so that they do not slow down the engine timed after them.
   */
  settleMs?: number;
  /** Releases what the engine holds (threads, devices) so that the process can exit. */
  close?(): void | Promise<void>;
}

export function convOut(c: ConvCase): { outH: number; outW: number } {
  return {
    outH: Math.floor((c.h + 2 * c.pad - c.k) / c.stride) + 1,
    outW: Math.floor((c.w + 2 * c.pad - c.k) / c.stride) + 1,
  };
}

/**
 * kdet through a backend (wasm or WebGPU): the methods the engine's ops and their backward call,
 * outputs allocated and freed per call. With `awaitGpu`, each call ends with `backend.sync()`
 * (submit, then the queue's onSubmittedWorkDone), so the time is that of the finished GPU work,
 * not of recording it. `skip` names the cases not to time (the cell then says why).
 */
export function backendEngine(b: Backend, name: string, group: Engine['group'], awaitGpu: boolean,
  skip: (c: Case) => string | undefined = () => undefined): Engine {
  const up = (n: number, seed: number): unknown => b.upload(randomArray(n, seed));
  const free = (t: unknown): void => b.free(t);
  const finish = (work: () => void): Run => (awaitGpu ? () => {
    work();
    return b.sync();
  } : work);
  return {
    name,
    group,
    prepare(c: Case): Prepared {
      const skipped = skip(c);
      if (skipped) return { na: skipped };
      if (c.kind === 'matmul') {
        const a = up(c.m * c.k, 1);
        const x = up(c.k * c.n, 2);
        const p = { batchA: 1, batchB: 1, m: c.m, k: c.k, n: c.n, transA: false, transB: false };
        return { run: finish(() => free(b.matmul(a, x, p))), dispose: () => [a, x].forEach(free) };
      }
      if (c.kind === 'roiAlign') {
        const p = { n: 1, c: c.c, h: c.h, w: c.w, k: c.rois.length, pooledH: c.pooled, pooledW: c.pooled, spatialScale: c.scale, samplingRatio: c.sampling, aligned: false };
        const x = up(c.c * c.h * c.w, 7);
        const r = b.upload(Float32Array.from(c.rois.flat()));
        const dy = up(c.rois.length * c.c * c.pooled * c.pooled, 8);
        return {
          run: finish(() => {
            free(b.roiAlign(x, r, p));
            free(b.roiAlignGrad(dy, r, p));
          }),
          dispose: () => [x, r, dy].forEach(free),
        };
      }
      const { outH, outW } = convOut(c);
      const p = { n: c.n, cIn: c.cIn, h: c.h, w: c.w, cOut: c.cOut, kh: c.k, kw: c.k, strideH: c.stride, strideW: c.stride,
        padH: c.pad, padW: c.pad, dilationH: 1, dilationW: 1, groups: 1, outH, outW };
      const x = up(c.n * c.cIn * c.h * c.w, 3);
      const w = up(c.cOut * c.cIn * c.k * c.k, 4);
      const dy = up(c.n * c.cOut * outH * outW, 5);
      const run = c.kind === 'conv2d' ? finish(() => free(b.conv2d(x, w, null, p)))
        : c.kind === 'conv2dGradInput' ? finish(() => free(b.conv2dGradInput(dy, w, p)))
          : finish(() => free(b.conv2dGradFilter(x, dy, p)));
      return { run, dispose: () => [x, w, dy].forEach(free) };
    },
  };
}
