import { KdetError } from '../../engine/errors.js';
import { POISON_BYTE, type WasmBuffer, type WasmHeap } from './memory.js';
import type { KdetWasmExports } from './module.js';
import type { ThreadPool } from './threads.js';

/** Bytes reserved below the heap for kernel parameter blocks (one call at a time). */
export const PARAM_BYTES = 256;

/**
 * What the kernel wrappers share: the module's exports, the heap, and the parameter block. The
 * wrappers validate handles, allocate outputs and scratch (kernels never allocate), call one
 * kernel and make sure nothing leaks when something throws.
 */
export class WasmContext {
  private exports: KdetWasmExports | null;

  constructor(
    wasm: KdetWasmExports,
    readonly heap: WasmHeap,
    /** Byte address of the parameter block. */
    readonly params: number,
    /** Workers over the same (shared) memory, or null: every kernel runs on the calling thread. */
    private pool: ThreadPool | null = null,
  ) {
    this.exports = wasm;
  }

  /** Threads a kernel may be split over (1 without a pool). */
  get threads(): number {
    return this.pool ? this.pool.threads : 1;
  }

  /**
   * Runs the kernel `name` as parts: part t with args[slots[s]] = parts[t][s]. One part, or no
   * pool, runs on the calling thread; more are shared out over the pool. With `scratch`, the
   * argument scratch.slot gets `scratch.bytes` of scratch of its own per running thread. Callers
   * make parts write disjoint outputs with the serial summation order, so the result is the same
   * for any thread count and any schedule.
   */
  split(
    name: keyof KdetWasmExports, args: readonly number[], slots: readonly number[], parts: readonly (readonly number[])[],
    scratch: { slot: number; bytes: number } | null = null,
  ): void {
    const fn = this.wasm[name] as unknown as (...a: number[]) => unknown;
    if (parts.length === 0) return;
    const stride = scratch ? Math.ceil(scratch.bytes / 64) * 64 : 0;
    const pool = parts.length > 1 ? this.pool : null;
    const body = (base: number): void => {
      if (!pool) {
        const a = args.slice();
        if (scratch) a[scratch.slot] = base;
        for (const p of parts) {
          for (let s = 0; s < slots.length; s++) a[slots[s]!] = p[s]!;
          // Each part must find its scratch as a fresh thread would: nothing left by the last part.
          if (scratch && this.heap.poison) this.heap.u8().fill(POISON_BYTE, base, base + stride);
          fn(...a);
        }
        return;
      }
      pool.run(name, fn, args, slots, parts, scratch ? { slot: scratch.slot, base, stride, poison: this.heap.poison } : null);
    };
    if (!scratch) body(0);
    // Every worker may claim a part, so every thread of the pool gets a block.
    else this.withScratch(stride * (pool ? pool.threads : 1), body);
  }

  /** The module's exports (gone after dispose). */
  get wasm(): KdetWasmExports {
    if (!this.exports) throw new KdetError('wasm', 'the wasm backend was disposed');
    return this.exports;
  }

  /** Frees every buffer and drops the module, so that its memory can be garbage-collected. */
  dispose(): void {
    this.pool?.close();
    this.pool = null;
    this.heap.dispose();
    this.exports = null;
  }

  /** The address of a live buffer holding at least `size` 32-bit elements. */
  ptr(op: string, arg: string, buf: unknown, size: number): number {
    const b = this.heap.owned(op, buf);
    if (b.bytes < size * 4) {
      throw new KdetError(op, `${arg}: expected at least ${size} elements, the buffer holds ${b.bytes / 4}`);
    }
    return b.ptr;
  }

  /** A fresh buffer of `size` 32-bit elements. */
  output(size: number): WasmBuffer {
    return this.heap.alloc(size * 4);
  }

  /**
   * Runs `body` to fill `outputs`; on any error (a trap included) the outputs are freed and the
   * error is re-thrown naming the op.
   */
  produce<T extends WasmBuffer | readonly WasmBuffer[]>(op: string, outputs: T, body: () => void): T {
    try {
      body();
      return outputs;
    } catch (e) {
      for (const b of Array.isArray(outputs) ? outputs : [outputs]) if (!b.freed) this.heap.free(b);
      if (e instanceof KdetError) throw e;
      throw new KdetError(op, `wasm kernel failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Scratch of `bytes` for the duration of `fn`, always freed. */
  withScratch<T>(bytes: number, fn: (ptr: number) => T): T {
    const s = this.heap.alloc(bytes);
    try {
      return fn(s.ptr);
    } finally {
      this.heap.free(s);
    }
  }

  /** Writes i32 values into the parameter block, from slot `first`. */
  writeParams(values: readonly number[], first = 0): number {
    if ((first + values.length) * 4 > PARAM_BYTES) throw new Error(`kdet.wasm: ${values.length} parameters overflow the block`);
    this.heap.i32().set(values, (this.params >>> 2) + first);
    return this.params;
  }

  /** The f32 bits of `v` as an i32 (to pass a float through an i32 parameter slot). */
  static f32Bits(v: number): number {
    F32[0] = v;
    return I32[0]!;
  }
}

const F32 = new Float32Array(1);
const I32 = new Int32Array(F32.buffer);
