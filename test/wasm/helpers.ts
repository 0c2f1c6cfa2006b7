// Shared by the wasm backend tests: one backend per test file, typed access to its buffers, and
// float32 helpers for the float64 references.
import { createWasmBackend, type WasmBackend, type WasmBuffer } from '../../src/backends/wasm/index.js';

export async function newBackend(): Promise<WasmBackend> {
  return (await createWasmBackend()) as WasmBackend;
}

/** Uploads float64 values (rounded to float32). */
export function upF32(b: WasmBackend, values: ArrayLike<number>): WasmBuffer {
  return b.upload(Float32Array.from(values));
}

export function upI32(b: WasmBackend, values: ArrayLike<number>): WasmBuffer {
  return b.upload(Int32Array.from(values));
}

/** Reads `size` float32 elements as float64 and frees the buffer. */
export function takeF32(b: WasmBackend, buf: unknown, size: number): Float64Array {
  const out = Float64Array.from(b.readSync(buf as WasmBuffer, 'float32', size));
  b.free(buf as WasmBuffer);
  return out;
}

export function takeI32(b: WasmBackend, buf: unknown, size: number): Int32Array {
  const out = Int32Array.from(b.readSync(buf as WasmBuffer, 'int32', size));
  b.free(buf as WasmBuffer);
  return out;
}

export const f32 = Math.fround;

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

/** Multi-index of flat index i in `shape`. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return idx;
}

/** Distance in units in the last place of float32 between a float32 result and the exact value. */
export function ulpError(got: number, exact: number): number {
  if (Number.isNaN(got) || Number.isNaN(exact)) return Number.isNaN(got) && Number.isNaN(exact) ? 0 : Infinity;
  if (got === exact) return 0;
  // Beyond FLT_MAX the float32 answer is ±Infinity.
  if (!Number.isFinite(Math.fround(exact))) return got === Math.fround(exact) ? 0 : Infinity;
  const mag = Math.abs(exact);
  // The float32 ulp at |exact|: 2^(e - 23), never below the subnormal spacing 2^-149.
  const e = mag >= 2 ** -126 ? Math.floor(Math.log2(mag)) : -126;
  return Math.abs(got - exact) / 2 ** Math.max(e - 23, -149);
}
