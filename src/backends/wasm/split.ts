// How the wrappers cut one kernel call into parts for the thread pool. Parts only ever split
// output elements (rows, columns, planes, channels), never a sum, so each element is computed by
// one part in the serial order: results are bitwise the same for any thread count.
import type { WasmContext } from './context.js';

/**
 * Work below which a part does not pay for waking a worker (~25 µs per dispatch measured on a
 * loaded 2-core machine): multiply-adds for GEMM and convolutions, elements for the rest.
 */
export let MIN_MACS_PER_PART = 1 << 21;
export let MIN_ELEMENTS_PER_PART = 1 << 16;

/**
 * Tests only: lowers (or restores, with no arguments) the work a part needs, so that tiny
 * shapes split too, into parts smaller than the kernels' blocks.
 */
export function setSplitThresholds(macs = 1 << 21, elements = 1 << 16, partRows = 16, partCols = 64): void {
  MIN_MACS_PER_PART = macs;
  MIN_ELEMENTS_PER_PART = elements;
  MIN_PART_ROWS = partRows;
  MIN_PART_COLS = partCols;
}

/**
 * Parts per thread when the work allows: threads claim parts dynamically, so a few parts each
 * let the others take over the share of a thread that the OS holds back.
 */
const PARTS_PER_THREAD = 3;

/** Parts worth running for `work` units, `minPerPart` at least each: 1 … PARTS_PER_THREAD·threads. */
export function partsFor(ctx: WasmContext, work: number, minPerPart: number): number {
  if (ctx.threads <= 1) return 1;
  return Math.max(1, Math.min(ctx.threads * PARTS_PER_THREAD, Math.floor(work / minPerPart)));
}

/**
 * [start, end) ranges covering [0, total) in at most `parts` non-empty pieces of nearly equal
 * size, every boundary a multiple of `unit` (the last piece ends at total).
 */
export function ranges(total: number, parts: number, unit = 1): [number, number][] {
  if (total <= 0) return [];
  const units = Math.ceil(total / unit);
  const p = Math.max(1, Math.min(parts, units));
  const out: [number, number][] = [];
  let u = 0;
  for (let i = 0; i < p; i++) {
    const take = Math.floor(units / p) + (i < units % p ? 1 : 0);
    const s = u * unit;
    u += take;
    out.push([s, Math.min(total, u * unit)]);
  }
  return out;
}

/** GEMM tile: rows in pairs (MR), columns in 16s (NR), as the micro-kernel. */
const ROW_UNIT = 2;
const COL_UNIT = 16;

/**
 * Least rows (columns) a part of a GEMM should get: every part packs the whole other operand
 * again (B for a row split, A for a column split), which only pays over enough of them. Without
 * this the first layer's filter gradient (27 × 32) split 6 ways ran at half the serial speed.
 */
let MIN_PART_ROWS = 16;
let MIN_PART_COLS = 64;

/**
 * How to split a rows × cols GEMM output in at most `parts`: along the axis that allows more
 * parts of at least MIN_PART_ROWS rows / MIN_PART_COLS columns (columns on a tie), in whole
 * 2-row / 16-column tiles. Returns ranges for both axes, one of them whole.
 */
export function split2d(rows: number, cols: number, parts: number): { rows: [number, number][]; cols: [number, number][] } {
  const rowParts = Math.min(parts, Math.max(1, Math.floor(rows / MIN_PART_ROWS)));
  const colParts = Math.min(parts, Math.max(1, Math.floor(cols / MIN_PART_COLS)));
  if (colParts >= rowParts) return { rows: [[0, rows]], cols: ranges(cols, colParts, COL_UNIT) };
  return { rows: ranges(rows, rowParts, ROW_UNIT), cols: [[0, cols]] };
}

/** The parts of a 2-D split as [rowStart, rowEnd, colStart, colEnd]. */
export function parts2d(s: { rows: [number, number][]; cols: [number, number][] }): number[][] {
  const out: number[][] = [];
  for (const r of s.rows) for (const c of s.cols) out.push([r[0], r[1], c[0], c[1]]);
  return out;
}

/**
 * Runs an elementwise-style kernel over [0, total) split in ranges (the two slots `startSlot`,
 * startSlot + 1 hold [start, end)); `elementsPerUnit` converts range units (rows, planes) to
 * elements for the threshold, `unit` keeps boundaries on multiples (16 floats: a cache line).
 */
export function runRanges(
  ctx: WasmContext, name: Parameters<WasmContext['split']>[0], args: number[], startSlot: number, total: number,
  elementsPerUnit = 1, unit = 16,
): void {
  if (total <= 0) return;
  const parts = partsFor(ctx, total * elementsPerUnit, MIN_ELEMENTS_PER_PART);
  const rs = ranges(total, parts, parts > 1 ? unit : total);
  ctx.split(name, args, [startSlot, startSlot + 1], rs);
}
