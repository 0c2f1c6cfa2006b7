import { KdetError } from '../../engine/errors.js';

/**
 * Host-side helpers shared by the kernels: packing uniforms the way the WGSL structs lay them
 * out, splitting large dispatches over two grid dimensions, and merging contiguous dims so the
 * shaders see small ranks.
 */

/** The uniform slot size; every kernel's struct fits in it (checked on write). */
export const UNIFORM_BYTES = 256;
const MAX_WORDS = UNIFORM_BYTES / 4;

/** Most dims a shape may have after `mergeDims` (the shaders' `array<vec4<u32>, 3>`). */
export const MAX_RANK = 12;

/** Words of a uniform struct in declaration order. The WGSL side uses only 4-byte scalars and
 * `array<vec4<u32>, 3>` blocks (which start on a 16-byte boundary: `dims` pads to it). */
export class Params {
  readonly words = new Uint32Array(MAX_WORDS);
  private readonly f = new Float32Array(this.words.buffer);
  private readonly i = new Int32Array(this.words.buffer);
  private n = 0;

  u32(...values: number[]): this {
    for (const v of values) {
      if (!(Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) throw new Error(`kdet.webgpu: ${v} does not fit a u32 shader parameter`);
      this.words[this.next()] = v;
    }
    return this;
  }

  i32(...values: number[]): this {
    for (const v of values) this.i[this.next()] = v;
    return this;
  }

  f32(...values: number[]): this {
    for (const v of values) this.f[this.next()] = v;
    return this;
  }

  /** Up to MAX_RANK values as `array<vec4<u32>, 3>`. */
  dims(values: readonly number[]): this {
    if (values.length > MAX_RANK) {
      throw new KdetError('webgpu', `a broadcast or strided copy needs ${values.length} dims after merging contiguous ones; at most ${MAX_RANK} are supported`);
    }
    while (this.n % 4 !== 0) this.u32(0);
    for (let k = 0; k < MAX_RANK; k++) this.u32(values[k] ?? 0);
    return this;
  }

  get data(): Uint32Array {
    return this.words.subarray(0, Math.max(4, Math.ceil(this.n / 4) * 4));
  }

  private next(): number {
    if (this.n >= MAX_WORDS) throw new Error('kdet.webgpu: uniform block overflow');
    return this.n++;
  }
}

export const MAX_GROUPS = 65535;

/**
 * Workgroup counts covering `count` workgroups with at most 65535 per dimension (the shaders'
 * flat_index / flat_group undo the split; they bounds-check the surplus).
 */
export function gridFor(count: number): [number, number, number] {
  if (count <= MAX_GROUPS) return [count, 1, 1];
  const y = Math.ceil(count / MAX_GROUPS);
  if (y > MAX_GROUPS) throw new Error(`kdet.webgpu: ${count} workgroups exceed the dispatch limit`);
  return [Math.ceil(count / y), y, 1];
}

/** Grid for one invocation per element with `wg` invocations per workgroup. */
export function grid1(elements: number, wg: number): [number, number, number] {
  return gridFor(Math.ceil(elements / wg));
}

export function nextPow2(v: number): number {
  let p = 1;
  while (p < v) p *= 2;
  return p;
}

/** Strides of `shape` read as `out` under right-aligned broadcasting (0 on broadcast dims). */
export function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const s = new Array<number>(out.length).fill(0);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const o = out.length - shape.length + i;
    s[o] = shape[i] === 1 ? 0 : acc;
    acc *= shape[i]!;
  }
  return s;
}

/**
 * Drop size-1 dims and merge neighbours that every operand walks contiguously
 * (stride[i] = stride[i+1]·dims[i+1]); a broadcast pair (both 0) merges too. Never empty.
 */
export function mergeDims(dims: readonly number[], strides: readonly (readonly number[])[]): { dims: number[]; strides: number[][] } {
  const d: number[] = [];
  const s: number[][] = strides.map(() => []);
  for (let i = 0; i < dims.length; i++) {
    if (dims[i] === 1) continue;
    const last = d.length - 1;
    if (last >= 0 && strides.every((st, j) => s[j]![last] === st[i]! * dims[i]!)) {
      d[last] = d[last]! * dims[i]!;
      strides.forEach((st, j) => (s[j]![last] = st[i]!));
    } else {
      d.push(dims[i]!);
      strides.forEach((st, j) => s[j]!.push(st[i]!));
    }
  }
  if (d.length === 0) return { dims: [1], strides: strides.map(() => [0]) };
  return { dims: d, strides: s };
}
