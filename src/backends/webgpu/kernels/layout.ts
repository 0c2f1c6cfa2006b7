import type { GpuBuffer, GpuContext } from '../context.js';
import { kernel } from '../modules.js';
import { stridesOf } from '../../../engine/shape.js';
import { grid1, mergeDims, Params } from '../params.js';
import { fill } from './elementwise.js';

const WG = 256;

const K = {
  gather: kernel('layout', 'copy_gather', 'urw'),
  scatter: kernel('layout', 'copy_scatter', 'urw'),
  tiled: kernel('layout', 'transpose_tiled', 'urw'),
  rows: kernel('layout', 'gather_rows', 'urrw'),
  count: kernel('scatter', 'scatter_count', 'urw'),
  scan: kernel('scatter', 'scatter_scan', 'urww'),
  fillList: kernel('scatter', 'scatter_fill', 'urrww'),
  order: kernel('scatter', 'scatter_order', 'urrrw'),
  sum: kernel('scatter', 'scatter_sum', 'urrrw'),
};

const prod = (s: readonly number[]): number => s.reduce((a, d) => a * d, 1);

/** out (contiguous, `dims`) ← src at base + Σ coord·stride, or the reverse for 'scatter'. */
function strided(ctx: GpuContext, dir: 'gather' | 'scatter', src: GpuBuffer, dst: GpuBuffer, dims: readonly number[], strides: readonly number[], base: number): void {
  const size = prod(dims);
  const m = mergeDims(dims, [strides]);
  const p = new Params().u32(size, m.dims.length, base, 0).dims(m.dims).dims(m.strides[0]!);
  ctx.run(dir === 'gather' ? K.gather : K.scatter, { WG }, p, [src, dst], grid1(size, WG));
}

export function transpose(ctx: GpuContext, x: GpuBuffer, shape: readonly number[], perm: readonly number[]): GpuBuffer {
  const outShape = perm.map((i) => shape[i]!);
  const inStrides = stridesOf(shape);
  const size = prod(shape);
  const out = ctx.alloc(size * 4);
  if (size === 0) return out;
  const { dims, strides } = mergeDims(outShape, [perm.map((i) => inStrides[i]!)]);
  const s = strides[0]!;
  const r = dims.length;
  // A (batched) matrix transpose after merging: out [batch, P, Q] reads in [batch, Q, P].
  const matrix = r >= 2 && r <= 3 && s[r - 2] === 1 && s[r - 1] === dims[r - 2] && (r === 2 || s[0] === dims[1]! * dims[2]!);
  const batch = r === 3 ? dims[0]! : 1;
  // The tiled kernel stages 32×33 tiles in workgroup memory, which a CPU-emulated device takes
  // 0.5 s to compile (see ContextOptions.cpuEmulated); the strided copy moves the same words.
  if (matrix && batch <= 65535 && !ctx.cpuEmulated) {
    const rows = dims[r - 1]!;
    const cols = dims[r - 2]!;
    if (Math.ceil(rows / 32) <= 65535 && Math.ceil(cols / 32) <= 65535) {
      ctx.run(K.tiled, {}, new Params().u32(rows, cols), [x, out], [Math.ceil(cols / 32), Math.ceil(rows / 32), batch]);
      return out;
    }
  }
  strided(ctx, 'gather', x, out, dims, s, 0);
  return out;
}

export function slice(ctx: GpuContext, x: GpuBuffer, shape: readonly number[], begin: readonly number[], size: readonly number[]): GpuBuffer {
  const n = prod(size);
  const out = ctx.alloc(n * 4);
  if (n === 0) return out;
  const st = stridesOf(shape);
  strided(ctx, 'gather', x, out, size, st, begin.reduce((a, b, i) => a + b * st[i]!, 0));
  return out;
}

export function pad(ctx: GpuContext, x: GpuBuffer, shape: readonly number[], outShape: readonly number[], begin: readonly number[]): GpuBuffer {
  const out = fill(ctx, 'int32', prod(outShape), 0);
  if (prod(shape) === 0) return out;
  const st = stridesOf(outShape);
  strided(ctx, 'scatter', x, out, shape, st, begin.reduce((a, b, i) => a + b * st[i]!, 0));
  return out;
}

export function concat(ctx: GpuContext, xs: readonly GpuBuffer[], shapes: readonly (readonly number[])[], axis: number): GpuBuffer {
  const first = shapes[0]!;
  const total = shapes.reduce((a, s) => a + s[axis]!, 0);
  const outer = prod(first.slice(0, axis));
  const inner = prod(first.slice(axis + 1));
  const out = ctx.alloc(outer * total * inner * 4);
  let offset = 0;
  xs.forEach((x, i) => {
    const len = shapes[i]![axis]! * inner;
    if (outer * len > 0) strided(ctx, 'scatter', x, out, [outer, len], [total * inner, 1], offset * inner);
    offset += shapes[i]![axis]!;
  });
  return out;
}

function around(shape: readonly number[], axis: number): { outer: number; n: number; inner: number } {
  return { outer: prod(shape.slice(0, axis)), n: shape[axis]!, inner: prod(shape.slice(axis + 1)) };
}

export function gather(ctx: GpuContext, x: GpuBuffer, shape: readonly number[], indices: GpuBuffer, nIndex: number, axis: number): GpuBuffer {
  const { outer, n, inner } = around(shape, axis);
  const size = outer * nIndex * inner;
  const out = ctx.alloc(size * 4);
  ctx.run(K.rows, { WG }, new Params().u32(size, n, nIndex, inner), [x, indices, out], grid1(size, WG));
  return out;
}

/** index_add into zeros, deterministic: see shaders/scatter.wgsl. */
export function scatterAdd(ctx: GpuContext, src: GpuBuffer, shape: readonly number[], indices: GpuBuffer, axis: number, outAxisSize: number): GpuBuffer {
  const { outer, n: nIndex, inner } = around(shape, axis);
  const size = outer * outAxisSize * inner;
  if (size === 0) return ctx.alloc(0);
  const p = new Params().u32(nIndex, outAxisSize, inner, size);
  const counts = fill(ctx, 'int32', outAxisSize, 0);
  ctx.run(K.count, { WG }, p, [indices, counts], grid1(nIndex, WG));
  const starts = ctx.alloc((outAxisSize + 1) * 4);
  const cursor = ctx.alloc(outAxisSize * 4);
  ctx.run(K.scan, {}, p, [counts, starts, cursor], [1, 1, 1]);
  const list = ctx.alloc(nIndex * 4);
  ctx.run(K.fillList, { WG }, p, [indices, starts, cursor, list], grid1(nIndex, WG));
  const sorted = ctx.alloc(nIndex * 4);
  ctx.run(K.order, { WG }, p, [indices, starts, list, sorted], grid1(nIndex, WG));
  const out = ctx.alloc(size * 4);
  ctx.run(K.sum, { WG }, p, [src, starts, sorted, out], grid1(size, WG));
  for (const b of [counts, starts, cursor, list, sorted]) ctx.free(b);
  return out;
}
