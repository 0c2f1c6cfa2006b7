import type { BinaryOp, UnaryOp } from '../../engine/backend.js';
import type { DType } from '../../engine/dtype.js';
import { sizeOf, type Shape } from '../../engine/shape.js';
import { WasmContext } from './context.js';
import type { WasmBuffer } from './memory.js';
import { BINARY_OPCODES, UNARY_OPCODES } from './opcodes.js';
import { MIN_ELEMENTS_PER_PART, partsFor, ranges, runRanges } from './split.js';
import {
  broadcastStrides, collapse, forEachBlock, rowsOf, STRIDED_PARAM_SLOTS, writeStridedParams, type IterationSpace,
} from './strided.js';

export function fill(ctx: WasmContext, dtype: DType, size: number, value: number): WasmBuffer {
  // int32 as PyTorch's full(..., dtype=int32): truncate toward zero (then wrap to 32 bits).
  const bits = dtype === 'float32' ? WasmContext.f32Bits(value) : Math.trunc(value) | 0;
  const out = ctx.output(size);
  return ctx.produce('fill', out, () => runRanges(ctx, 'fill32', [out.ptr, bits, 0, 0], 2, size));
}

export function cast(ctx: WasmContext, x: unknown, size: number, from: DType, to: DType): WasmBuffer {
  const src = ctx.ptr('cast', 'x', x, size);
  const out = ctx.output(size);
  return ctx.produce('cast', out, () => {
    if (from === to) ctx.heap.u8().copyWithin(out.ptr, src, src + size * 4);
    else runRanges(ctx, from === 'float32' ? 'castF32ToI32' : 'castI32ToF32', [src, out.ptr, 0, 0], 2, size);
  });
}

export function unary(ctx: WasmContext, op: UnaryOp, x: unknown, size: number): WasmBuffer {
  const code = UNARY_OPCODES[op];
  if (code === undefined) throw new Error(`kdet.unary: unknown op '${op}'`);
  const src = ctx.ptr(op, 'x', x, size);
  const out = ctx.output(size);
  return ctx.produce(op, out, () => runRanges(ctx, 'unary', [code, src, out.ptr, 0, 0], 3, size));
}

export function clamp(ctx: WasmContext, x: unknown, size: number, lo: number, hi: number): WasmBuffer {
  const src = ctx.ptr('clamp', 'x', x, size);
  const out = ctx.output(size);
  return ctx.produce('clamp', out, () => runRanges(ctx, 'clamp', [src, out.ptr, lo, hi, 0, 0], 4, size));
}

/** Bytes of one strided parameter block in the per-part scratch (64-byte aligned). */
const PARAM_BLOCK_BYTES = Math.ceil((STRIDED_PARAM_SLOTS * 4) / 64) * 64;

/**
 * Runs a broadcasting kernel over `outShape`: the operands' layouts are collapsed to the fewest
 * axes first, which turns same-shape, scalar and bias-like broadcasts into one or a few long
 * contiguous runs that the kernel vectorises. `name(...operands, y, params, rowStart, rowEnd)`
 * after the `lead` arguments. A large block is split over the thread pool by rows or, when it is
 * one long run, into pieces of that run (at multiples of 16 elements); the kernel keeps a row
 * counter in its parameter block, so every part gets its own copy of the block.
 */
function broadcast(
  ctx: WasmContext, op: string, name: 'binary' | 'where', lead: readonly number[],
  operands: readonly { ptr: number; shape: Shape }[], outShape: Shape,
): WasmBuffer {
  const size = sizeOf(outShape);
  const out = ctx.output(size);
  if (size === 0) return out;
  const space = collapse(outShape, operands.map((o) => broadcastStrides(o.shape, outShape)));
  const nOps = operands.length;
  const first = lead.length;
  // Slots: the operand pointers, y, params, rowStart, rowEnd.
  const slots = Array.from({ length: nOps + 4 }, (_, i) => first + i);
  return ctx.produce(op, out, () => {
    forEachBlock(space, (block, offsets, ordinal) => {
      const blockSize = sizeOf(block.shape);
      const rows = rowsOf(block);
      const ptrs = operands.map((o, k) => o.ptr + offsets[k]! * 4);
      const y = out.ptr + ordinal * blockSize * 4;
      const parts = partsFor(ctx, blockSize, MIN_ELEMENTS_PER_PART);
      if (parts <= 1) {
        writeStridedParams(ctx.heap.i32(), ctx.params, block);
        ctx.split(name, [...lead, ...ptrs, y, ctx.params, 0, rows], [], [[]]);
        return;
      }
      // Pieces: [space, element offset of each operand and of y, rowStart, rowEnd].
      const pieces: { space: IterationSpace; offs: number[]; r0: number; r1: number }[] = [];
      if (rows > 1 || block.shape.length > 1) {
        for (const [r0, r1] of ranges(rows, parts)) pieces.push({ space: block, offs: new Array(nOps + 1).fill(0), r0, r1 });
      } else {
        for (const [s, e] of ranges(blockSize, parts, 16)) {
          pieces.push({
            space: { shape: [e - s], strides: block.strides.map((st) => st.slice()) },
            offs: [...block.strides.map((st) => s * st[0]!), s], r0: 0, r1: 1,
          });
        }
      }
      ctx.withScratch(PARAM_BLOCK_BYTES * pieces.length, (scratch) => {
        const i32 = ctx.heap.i32();
        pieces.forEach((q, t) => writeStridedParams(i32, scratch + t * PARAM_BLOCK_BYTES, q.space));
        ctx.split(name, [...lead, ...ptrs, y, 0, 0, 0], slots, pieces.map((q, t) => [
          ...ptrs.map((p, k) => p + q.offs[k]! * 4), y + q.offs[nOps]! * 4, scratch + t * PARAM_BLOCK_BYTES, q.r0, q.r1,
        ]));
      });
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
  return broadcast(ctx, op, 'binary', [code], operands, outShape);
}

export function where(
  ctx: WasmContext, cond: unknown, condShape: Shape, a: unknown, aShape: Shape, b: unknown, bShape: Shape, outShape: Shape,
): WasmBuffer {
  const operands = [
    { ptr: ctx.ptr('where', 'cond', cond, sizeOf(condShape)), shape: condShape },
    { ptr: ctx.ptr('where', 'a', a, sizeOf(aShape)), shape: aShape },
    { ptr: ctx.ptr('where', 'b', b, sizeOf(bShape)), shape: bShape },
  ];
  return broadcast(ctx, 'where', 'where', [], operands, outShape);
}

export function oneHot(ctx: WasmContext, labels: unknown, n: number, classes: number): WasmBuffer {
  const src = ctx.ptr('oneHot', 'labels', labels, n);
  const out = ctx.output(n * classes);
  return ctx.produce('oneHot', out, () => ctx.wasm.oneHot(src, out.ptr, classes, 0, n));
}
