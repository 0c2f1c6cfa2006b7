import type { DType } from '../../engine/dtype.js';
import { KdetError } from '../../engine/errors.js';
import { sizeOf, type Shape } from '../../engine/shape.js';
import type { WasmContext } from './context.js';
import type { WasmBuffer } from './memory.js';
import { collapse, contiguousStrides, forEachBlock, type IterationSpace, rowsOf, writeStridedParams } from './strided.js';

// Layout kernels move 32-bit elements, so the dtype never changes what they do.

/** dst ← src over a two-operand space (operand 0 the source, operand 1 the destination). */
function copySpace(ctx: WasmContext, src: number, dst: number, space: IterationSpace): void {
  forEachBlock(space, (block, [so, dO]) => {
    writeStridedParams(ctx.heap.i32(), ctx.params, block);
    ctx.wasm.copyStrided(src + so! * 4, dst + dO! * 4, ctx.params, 0, rowsOf(block));
  });
}

/**
 * A batch of matrix transposes in disguise: after collapsing, the output is [batch, A, B] read from
 * source strides [A·B, 1, A] (or [A, B] from [1, A]). Returns [batch, A, B] or null.
 */
function batchedTranspose(space: IterationSpace): [number, number, number] | null {
  const { shape, strides } = space;
  const src = strides[0]!;
  const r = shape.length;
  if (r < 2 || r > 3) return null;
  const a = shape[r - 2]!;
  const b = shape[r - 1]!;
  if (src[r - 2] !== 1 || src[r - 1] !== a) return null;
  if (r === 3 && src[0] !== a * b) return null;
  return [r === 3 ? shape[0]! : 1, a, b];
}

export function transpose(ctx: WasmContext, x: unknown, shape: Shape, perm: readonly number[], _dtype: DType): WasmBuffer {
  const size = sizeOf(shape);
  if (perm.length !== shape.length || [...perm].sort((p, q) => p - q).some((p, i) => p !== i)) {
    throw new KdetError('transpose', `perm ${JSON.stringify(perm)} is not a permutation of the axes of [${shape.join(', ')}]`);
  }
  const src = ctx.ptr('transpose', 'x', x, size);
  const out = ctx.output(size);
  if (size === 0) return out;
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = contiguousStrides(shape);
  const space = collapse(outShape, [perm.map((p) => inStrides[p]!), contiguousStrides(outShape)]);
  return ctx.produce('transpose', out, () => {
    const t = batchedTranspose(space);
    if (t) {
      const [batch, a, b] = t;
      // The source holds [batch, b, a] matrices; the output their transposes [batch, a, b].
      ctx.wasm.transpose2d(src, out.ptr, b, a, a, b, a * b, a * b, 0, batch);
    } else {
      copySpace(ctx, src, out.ptr, space);
    }
  });
}

export function slice(ctx: WasmContext, x: unknown, shape: Shape, begin: readonly number[], size: readonly number[], _dtype: DType): WasmBuffer {
  if (begin.length !== shape.length || size.length !== shape.length || shape.some((d, i) => begin[i]! < 0 || size[i]! < 0 || begin[i]! + size[i]! > d)) {
    throw new KdetError('slice', `begin ${JSON.stringify(begin)} / size ${JSON.stringify(size)} do not fit [${shape.join(', ')}]`);
  }
  const src = ctx.ptr('slice', 'x', x, sizeOf(shape));
  const n = sizeOf(size);
  const out = ctx.output(n);
  if (n === 0) return out;
  const strides = contiguousStrides(shape);
  const base = begin.reduce((acc, b, d) => acc + b * strides[d]!, 0);
  const space = collapse(size, [strides, contiguousStrides(size)]);
  return ctx.produce('slice', out, () => copySpace(ctx, src + base * 4, out.ptr, space));
}

export function pad(ctx: WasmContext, x: unknown, shape: Shape, outShape: Shape, begin: readonly number[], _dtype: DType): WasmBuffer {
  if (outShape.length !== shape.length || begin.length !== shape.length || shape.some((d, i) => begin[i]! < 0 || begin[i]! + d > outShape[i]!)) {
    throw new KdetError('pad', `[${shape.join(', ')}] at ${JSON.stringify(begin)} does not fit [${outShape.join(', ')}]`);
  }
  const n = sizeOf(shape);
  const src = ctx.ptr('pad', 'x', x, n);
  const total = sizeOf(outShape);
  const out = ctx.output(total);
  return ctx.produce('pad', out, () => {
    ctx.wasm.fill32(out.ptr, 0, 0, total);
    if (n === 0) return;
    const strides = contiguousStrides(outShape);
    const base = begin.reduce((acc, b, d) => acc + b * strides[d]!, 0);
    copySpace(ctx, src, out.ptr + base * 4, collapse(shape, [contiguousStrides(shape), strides]));
  });
}

export function concat(ctx: WasmContext, xs: readonly unknown[], shapes: readonly Shape[], axis: number, _dtype: DType): WasmBuffer {
  if (xs.length === 0 || xs.length !== shapes.length) throw new KdetError('concat', `${xs.length} buffers for ${shapes.length} shapes`);
  const first = shapes[0]!;
  const outer = sizeOf(first.slice(0, axis));
  const lens = shapes.map((s) => sizeOf(s.slice(axis)));
  const total = lens.reduce((p, l) => p + l, 0);
  const ptrs = xs.map((x, i) => ctx.ptr('concat', `xs[${i}]`, x, sizeOf(shapes[i]!)));
  const out = ctx.output(outer * total);
  return ctx.produce('concat', out, () => {
    let offset = 0;
    ptrs.forEach((p, i) => {
      const len = lens[i]!;
      if (len > 0) ctx.wasm.copyRows(p, out.ptr + offset * 4, len, len, total, 0, outer);
      offset += len;
    });
  });
}

/** [outer, n, inner] around `axis`. */
function around(shape: Shape, axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis]!, sizeOf(shape.slice(axis + 1))];
}

export function gather(ctx: WasmContext, x: unknown, shape: Shape, indices: unknown, nIndex: number, axis: number, _dtype: DType): WasmBuffer {
  const [outer, n, inner] = around(shape, axis);
  const src = ctx.ptr('gather', 'x', x, sizeOf(shape));
  const idx = ctx.ptr('gather', 'indices', indices, nIndex);
  const out = ctx.output(outer * nIndex * inner);
  return ctx.produce('gather', out, () => {
    const bad = ctx.wasm.gather(src, idx, out.ptr, n, inner, nIndex, 0, outer);
    if (bad > 0) throw new KdetError('gather', `indices: ${bad / Math.max(outer, 1)} of ${nIndex} are outside [0, ${n}) for axis ${axis} of [${shape.join(', ')}]`);
  });
}

export function scatterAdd(ctx: WasmContext, srcBuf: unknown, shape: Shape, indices: unknown, axis: number, outAxisSize: number): WasmBuffer {
  const [outer, nIndex, inner] = around(shape, axis);
  const src = ctx.ptr('scatterAdd', 'src', srcBuf, sizeOf(shape));
  const idx = ctx.ptr('scatterAdd', 'indices', indices, nIndex);
  const out = ctx.output(outer * outAxisSize * inner);
  return ctx.produce('scatterAdd', out, () => {
    const bad = ctx.wasm.scatterAdd(src, idx, out.ptr, nIndex, outAxisSize, inner, 0, outer);
    if (bad > 0) throw new KdetError('scatterAdd', `indices: ${bad / Math.max(outer, 1)} of ${nIndex} are outside [0, ${outAxisSize})`);
  });
}
