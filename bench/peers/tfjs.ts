// TensorFlow.js as a benchmark peer: its wasm (XNNPACK), cpu and webgpu backends, in its native
// NHWC layout (the FLOPs are the same as kdet's NCHW).
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { randomArray } from '../wasm-raw.js';
import type { Case, Engine, Prepared } from './common.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Tf = any;

export async function loadTf(): Promise<{ tf: Tf; version: string } | null> {
  try {
    const req = createRequire(import.meta.url);
    const tf = req('@tensorflow/tfjs-core');
    req('@tensorflow/tfjs-backend-cpu');
    const tfw = req('@tensorflow/tfjs-backend-wasm');
    tfw.setWasmPaths(resolve(dirname(req.resolve('@tensorflow/tfjs-backend-wasm')), '.') + '/');
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false); // one thread (Node never threads it anyway)
    return { tf, version: tf.version_core as string };
  } catch (e) {
    console.error(`tfjs unavailable: ${(e as Error).message}`);
    return null;
  }
}

/**
 * Registers tfjs's webgpu backend. It registers itself at load time only if navigator.gpu
 * exists, so this runs after the WebGPU setup has provided one (bench/peers/webgpu.ts).
 */
export function registerTfWebGpu(tf: Tf): string | null {
  try {
    createRequire(import.meta.url)('@tensorflow/tfjs-backend-webgpu');
  } catch (e) {
    return `@tensorflow/tfjs-backend-webgpu could not be loaded: ${(e as Error).message.split('\n')[0]}`;
  }
  return tf.findBackendFactory('webgpu') ? null : 'tfjs registered no webgpu backend (no navigator.gpu when it loaded)';
}

export function tfEngine(tf: Tf, backend: 'wasm' | 'cpu' | 'webgpu'): Engine {
  // On webgpu a call ends when the GPU has finished: tfjs records work into a command encoder and
  // submits in batches, so the queue is submitted and its onSubmittedWorkDone awaited (no read
  // back, as for kdet-webgpu).
  const gpuDone = async (): Promise<void> => {
    const b = tf.backend();
    // As tfjs itself submits before a read: end the open compute pass, then submit (unless a
    // full batch was submitted already and nothing is recorded since).
    if (b.commandEncoder) {
      b.endComputePassEncoder();
      b.submitQueue();
    }
    await b.device.queue.onSubmittedWorkDone();
  };
  const finish = (work: () => void): (() => void | Promise<void>) => (backend === 'webgpu' ? () => {
    work();
    return gpuDone();
  } : work);
  return {
    name: `tfjs-${backend}`,
    group: backend === 'cpu' ? 'tfjs-cpu' : backend,
    prepare(c: Case): Prepared {
      if (c.kind === 'roiAlign') return { na: '—' };
      const keep: Tf[] = [];
      const t = (data: Float32Array, shape: number[]): Tf => {
        const x = tf.tensor(data, shape, 'float32');
        keep.push(x);
        return x;
      };
      const dispose = (): void => keep.forEach((x) => x.dispose());
      if (c.kind === 'matmul') {
        const a = t(randomArray(c.m * c.k, 1), [c.m, c.k]);
        const b = t(randomArray(c.k * c.n, 2), [c.k, c.n]);
        return { run: finish(() => tf.matMul(a, b).dispose()), dispose };
      }
      const x = t(randomArray(c.n * c.h * c.w * c.cIn, 3), [c.n, c.h, c.w, c.cIn]);
      const f = t(randomArray(c.k * c.k * c.cIn * c.cOut, 4), [c.k, c.k, c.cIn, c.cOut]);
      const dy = t(randomArray(c.n * c.h * c.w * c.cOut, 5), [c.n, c.h, c.w, c.cOut]);
      const pad = c.pad; // explicit symmetric padding, as PyTorch
      const kernelName = { conv2d: 'Conv2D', conv2dGradInput: 'Conv2DBackpropInput', conv2dGradFilter: 'Conv2DBackpropFilter' }[c.kind];
      if (!tf.getKernel(kernelName, backend)) {
        dispose();
        return { na: `n/a (no ${kernelName} kernel)` };
      }
      const attrs = { strides: [c.stride, c.stride], pad, dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined };
      const run = c.kind === 'conv2d' ? finish(() => tf.conv2d(x, f, c.stride, pad).dispose())
        : c.kind === 'conv2dGradInput'
          ? finish(() => tf.engine().runKernel(kernelName, { dy, filter: f }, { ...attrs, inputShape: [c.n, c.h, c.w, c.cIn] }).dispose())
          : finish(() => tf.engine().runKernel(kernelName, { x, dy }, { ...attrs, filterShape: [c.k, c.k, c.cIn, c.cOut] }).dispose());
      return { run, dispose };
    },
  };
}
