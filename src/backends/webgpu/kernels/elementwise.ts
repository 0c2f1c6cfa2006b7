import type { BinaryOp, UnaryOp } from '../../../engine/backend.js';
import type { DType } from '../../../engine/dtype.js';
import type { GpuBuffer, GpuContext } from '../context.js';
import { kernel } from '../modules.js';
import { broadcastStrides, grid1, mergeDims, Params } from '../params.js';

const WG = 256;

const UNARY: Record<UnaryOp, number> = {
  neg: 0, exp: 1, log: 2, sqrt: 3, abs: 4, relu: 5, sigmoid: 6, tanh: 7, square: 8, sign: 9, reciprocal: 10, step: 11,
};

const BINARY: Record<BinaryOp, number> = {
  add: 0, sub: 1, mul: 2, div: 3, max: 4, min: 5, pow: 6, gt: 7, ge: 8, lt: 9, le: 10, eq: 11, ne: 12,
};

const K = {
  unary: kernel('elementwise', 'unary', 'urw'),
  clamp: kernel('elementwise', 'clamp_values', 'urw'),
  cast: kernel('elementwise', 'cast_values', 'urw'),
  fill: kernel('elementwise', 'fill_values', 'uw'),
  oneHot: kernel('elementwise', 'one_hot', 'urw'),
  binary: kernel('elementwise', 'binary', 'urrw'),
  where: kernel('elementwise', 'where_select', 'urrrw'),
};

const bits = new DataView(new ArrayBuffer(4));

/** The 32-bit pattern of `value` stored as `dtype`. */
function patternOf(dtype: DType, value: number): number {
  if (dtype === 'float32') bits.setFloat32(0, value, true);
  else bits.setInt32(0, value, true);
  return bits.getUint32(0, true);
}

export function fill(ctx: GpuContext, dtype: DType, size: number, value: number): GpuBuffer {
  const out = ctx.alloc(size * 4);
  ctx.run(K.fill, { WG }, new Params().u32(size, patternOf(dtype, value)), [out], grid1(size, WG));
  return out;
}

export function unary(ctx: GpuContext, op: UnaryOp, x: GpuBuffer, size: number): GpuBuffer {
  const out = ctx.alloc(size * 4);
  ctx.run(K.unary, { WG, OP: UNARY[op] }, new Params().u32(size), [x, out], grid1(size, WG));
  return out;
}

export function clamp(ctx: GpuContext, x: GpuBuffer, size: number, lo: number, hi: number): GpuBuffer {
  const out = ctx.alloc(size * 4);
  const p = new Params().u32(size).f32(lo, hi);
  ctx.run(K.clamp, { WG }, p, [x, out], grid1(size, WG));
  return out;
}

export function cast(ctx: GpuContext, x: GpuBuffer, size: number, from: DType, to: DType): GpuBuffer {
  const out = ctx.alloc(size * 4);
  const op = from === to ? 2 : to === 'int32' ? 0 : 1;
  ctx.run(K.cast, { WG, OP: op }, new Params().u32(size), [x, out], grid1(size, WG));
  return out;
}

export function oneHot(ctx: GpuContext, labels: GpuBuffer, n: number, classes: number): GpuBuffer {
  const size = n * classes;
  const out = ctx.alloc(size * 4);
  ctx.run(K.oneHot, { WG }, new Params().u32(size, classes), [labels, out], grid1(size, WG));
  return out;
}

/** Uniforms of a broadcast kernel: merged output dims and one stride set per operand. */
function broadcastParams(outShape: readonly number[], shapes: readonly (readonly number[])[]): { p: Params; size: number } {
  const size = outShape.reduce((a, d) => a * d, 1);
  const { dims, strides } = mergeDims(outShape, shapes.map((s) => broadcastStrides(s, outShape)));
  const p = new Params().u32(size, dims.length, 0, 0).dims(dims);
  for (let j = 0; j < 3; j++) p.dims(strides[j] ?? []);
  return { p, size };
}

export function binary(
  ctx: GpuContext, op: BinaryOp, a: GpuBuffer, aShape: readonly number[], b: GpuBuffer, bShape: readonly number[], outShape: readonly number[],
): GpuBuffer {
  const { p, size } = broadcastParams(outShape, [aShape, bShape]);
  const out = ctx.alloc(size * 4);
  ctx.run(K.binary, { WG, OP: BINARY[op] }, p, [a, b, out], grid1(size, WG));
  return out;
}

export function where(
  ctx: GpuContext, cond: GpuBuffer, condShape: readonly number[], a: GpuBuffer, aShape: readonly number[],
  b: GpuBuffer, bShape: readonly number[], outShape: readonly number[],
): GpuBuffer {
  const { p, size } = broadcastParams(outShape, [condShape, aShape, bShape]);
  const out = ctx.alloc(size * 4);
  ctx.run(K.where, { WG }, p, [cond, a, b, out], grid1(size, WG));
  return out;
}
