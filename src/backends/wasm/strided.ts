/**
 * Strided iteration spaces for the broadcasting and layout kernels (assembly/strided.ts reads
 * the parameter block written here). An iteration space is a shape plus, per operand, the
 * element stride of each axis (0 where the operand is broadcast).
 */
export const MAX_KERNEL_RANK = 6;
/** i32 slots of the parameter block: rank, shape, 3 × strides, counter and offsets scratch. */
export const STRIDED_PARAM_SLOTS = 34;

export interface IterationSpace {
  shape: number[];
  /** strides[k][d]: element stride of operand k along axis d. */
  strides: number[][];
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

/** Strides that read `shape` (right-aligned, size-1 axes broadcast) over `outShape`. */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = contiguousStrides(shape);
  const lead = outShape.length - shape.length;
  return outShape.map((_, d) => (d < lead || shape[d - lead] === 1 ? 0 : own[d - lead]!));
}

/**
 * Drops size-1 axes and merges neighbouring axes that every operand walks as one (stride of the
 * outer = stride of the inner × its size, which includes two broadcast axes). The result has the
 * fewest axes the kernels can loop over, so the innermost run is as long as possible. A space of
 * one element becomes shape [1] with unit strides.
 */
export function collapse(shape: readonly number[], strides: readonly (readonly number[])[]): IterationSpace {
  const out: IterationSpace = { shape: [], strides: strides.map(() => []) };
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue;
    const last = out.shape.length - 1;
    if (last >= 0 && strides.every((s, k) => out.strides[k]![last] === s[d]! * n)) {
      out.shape[last] *= n;
      strides.forEach((s, k) => (out.strides[k]![last] = s[d]!));
    } else {
      out.shape.push(n);
      strides.forEach((s, k) => out.strides[k]!.push(s[d]!));
    }
  }
  if (out.shape.length === 0) {
    out.shape.push(1);
    out.strides.forEach((s) => s.push(1));
  }
  return out;
}

/** Rows of a space: one row per index of all axes but the last. */
export function rowsOf(space: IterationSpace): number {
  let rows = 1;
  for (let d = 0; d < space.shape.length - 1; d++) rows *= space.shape[d]!;
  return rows;
}

/** Writes the parameter block at byte address `ptr` (see assembly/strided.ts for the layout). */
export function writeStridedParams(i32: Int32Array, ptr: number, space: IterationSpace): void {
  const base = ptr >>> 2;
  const rank = space.shape.length;
  if (rank > MAX_KERNEL_RANK || space.strides.length > 3) throw new Error(`kdet.wasm: strided space of rank ${rank} with ${space.strides.length} operands`);
  i32.fill(0, base, base + STRIDED_PARAM_SLOTS);
  i32[base] = rank;
  for (let d = 0; d < rank; d++) {
    i32[base + 1 + d] = space.shape[d]!;
    space.strides.forEach((s, k) => (i32[base + 7 + 6 * k + d] = s[d]!));
  }
}

/**
 * Calls `fn` once per block of at most MAX_KERNEL_RANK trailing axes: a space that merging left
 * with more axes (alternating broadcast patterns) is walked over its leading axes here. `offsets`
 * are each operand's element offset of the block; `block` is the block's row-major ordinal.
 */
export function forEachBlock(space: IterationSpace, fn: (block: IterationSpace, offsets: number[], ordinal: number) => void): void {
  const lead = Math.max(0, space.shape.length - MAX_KERNEL_RANK);
  const block: IterationSpace = { shape: space.shape.slice(lead), strides: space.strides.map((s) => s.slice(lead)) };
  const leadShape = space.shape.slice(0, lead);
  let count = 1;
  for (const n of leadShape) count *= n;
  const index = new Array<number>(lead).fill(0);
  for (let ordinal = 0; ordinal < count; ordinal++) {
    const offsets = space.strides.map((s) => index.reduce((acc, i, d) => acc + i * s[d]!, 0));
    fn(block, offsets, ordinal);
    for (let d = lead - 1; d >= 0; d--) {
      if (++index[d]! < leadShape[d]!) break;
      index[d] = 0;
    }
  }
}
