import type { BinaryOp, UnaryOp } from '../../engine/backend.js';
import type { DType } from '../../engine/dtype.js';
import { sizeOf, type Shape } from '../../engine/shape.js';
import { WasmContext } from './context.js';
import type { WasmBuffer } from './memory.js';
import { BINARY_OPCODES, UNARY_OPCODES } from './opcodes.js';
import { broadcastStrides, collapse, forEachBlock, rowsOf, writeStridedParams } from './strided.js';

export function fill(ctx: WasmContext, dtype: DType, size: number, value: number): WasmBuffer {
  // int32 as PyTorch's full(..., dtype=int32): truncate toward zero (then wrap to 32 bits).
  const bits = dtype === 'float32' ? WasmContext.f32Bits(value) : Math.trunc(value) | 0;
  const out = ctx.output(size);
  return ctx.produce('fill', out, () => ctx.wasm.fill32(out.ptr, bits, 0, size));
}

export function cast(ctx: WasmContext, x: unknown, size: number, from: DType, to: DType): WasmBuffer {
  const src = ctx.ptr('cast', 'x', x, size);
  const out = ctx.output(size);
  return ctx.produce('cast', out, () => {
    if (from === to) ctx.heap.u8().copyWithin(out.ptr, src, src + size * 4);
    else if (from === 'float32') ctx.wasm.castF32ToI32(src, out.ptr, 0, size);
    else ctx.wasm.castI32ToF32(src, out.ptr, 0, size);
  });
}

export function unary(ctx: WasmContext, op: UnaryOp, x: unknown, size: number): WasmBuffer {
  const code = UNARY_OPCODES[op];
  if (code === undefined) throw new Error(`kdet.unary: unknown op '${op}'`);
  const src = ctx.ptr(op, 'x', x, size);
  const out = ctx.output(size);
  return ctx.produce(op, out, () => ctx.wasm.unary(code, src, out.ptr, 0, size));
}

export function clamp(ctx: WasmContext, x: unknown, size: number, lo: number, hi: number): WasmBuffer {
  const src = ctx.ptr('clamp', 'x', x, size);
  const out = ctx.output(size);
  return ctx.produce('clamp', out, () => ctx.wasm.clamp(src, out.ptr, lo, hi, 0, size));
}

/**
 * Runs a broadcasting kernel over `outShape`: the operands' layouts are collapsed to the fewest
 * axes first, which turns same-shape, scalar and bias-like broadcasts into one or a few long
 * contiguous runs that the kernel vectorises.
 */
function broadcast(
  ctx: WasmContext, op: string, operands: readonly { ptr: number; shape: Shape }[], outShape: Shape,
  kernel: (ptrs: number[], y: number, params: number, rows: number) => void,
): WasmBuffer {
  const size = sizeOf(outShape);
  const out = ctx.output(size);
  if (size === 0) return out;
  const space = collapse(outShape, operands.map((o) => broadcastStrides(o.shape, outShape)));
  return ctx.produce(op, out, () => {
    forEachBlock(space, (block, offsets, ordinal) => {
      writeStridedParams(ctx.heap.i32(), ctx.params, block);
      const blockSize = sizeOf(block.shape);
      const ptrs = operands.map((o, k) => o.ptr + offsets[k]! * 4);
      kernel(ptrs, out.ptr + ordinal * blockSize * 4, ctx.params, rowsOf(block));
    });
  });
}

export function binary(ctx: WasmContext, op: BinaryOp, a: unknown, aShape: Shape, b: unknown, bShape: Shape, outShape: Shape): WasmBuffer {
  const code = BINARY_OPCODES[op];
  if (code === undefined) throw new Error(`kdet.binary: unknown op '${op}'`);
  const operands = [
    { ptr: ctx.ptr(op, 'a', a, sizeOf(aShape)), shape: aShape },
    { ptr: ctx.ptr(op, 'b', b, sizeOf(bShape)), shape: bShape },
  ];
  return broadcast(ctx, op, operands, outShape, ([pa, pb], y, params, rows) => ctx.wasm.binary(code, pa!, pb!, y, params, 0, rows));
}

export function where(
  ctx: WasmContext, cond: unknown, condShape: Shape, a: unknown, aShape: Shape, b: unknown, bShape: Shape, outShape: Shape,
): WasmBuffer {
  const operands = [
    { ptr: ctx.ptr('where', 'cond', cond, sizeOf(condShape)), shape: condShape },
    { ptr: ctx.ptr('where', 'a', a, sizeOf(aShape)), shape: aShape },
    { ptr: ctx.ptr('where', 'b', b, sizeOf(bShape)), shape: bShape },
  ];
  return broadcast(ctx, 'where', operands, outShape, ([pc, pa, pb], y, params, rows) => ctx.wasm.where(pc!, pa!, pb!, y, params, 0, rows));
}

export function oneHot(ctx: WasmContext, labels: unknown, n: number, classes: number): WasmBuffer {
  const src = ctx.ptr('oneHot', 'labels', labels, n);
  const out = ctx.output(n * classes);
  return ctx.produce('oneHot', out, () => ctx.wasm.oneHot(src, out.ptr, classes, 0, n));
}
