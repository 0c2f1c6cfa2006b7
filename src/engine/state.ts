import type { Backend } from './backend.js';
import { fail } from './errors.js';

interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

/**
 * Process-wide engine state: the registered backends, the default one, the stack of memory
 * scopes and the live-tensor count that leak tests read.
 */
class EngineState {
  readonly backends = new Map<string, Backend>();
  defaultBackend: Backend | null = null;
  liveTensors = 0;
  /** Each scope lists the tensors created while it was the innermost one. */
  readonly scopes: Disposable[][] = [];

  track(t: Disposable): void {
    const top = this.scopes[this.scopes.length - 1];
    if (top) top.push(t);
  }

  backend(): Backend {
    if (!this.defaultBackend) {
      fail('backend', 'no backend is set: call setBackend(await createWasmBackend()) (or webgpu / reference) first');
    }
    return this.defaultBackend;
  }
}

export const state = new EngineState();

export function registerBackend(backend: Backend, makeDefault = true): void {
  state.backends.set(backend.name, backend);
  if (makeDefault) state.defaultBackend = backend;
}

export function setBackend(backend: Backend): void {
  registerBackend(backend, true);
}

export function getBackend(): Backend {
  return state.backend();
}

/** Live tensors and backend bytes: tests assert these return to where they were. */
export function memoryStats(backend: Backend = state.backend()): { tensors: number; bytes: number; buffers: number } {
  const m = backend.memory();
  return { tensors: state.liveTensors, bytes: m.bytes, buffers: m.buffers };
}
