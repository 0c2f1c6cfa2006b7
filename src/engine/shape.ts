import { check, fmtShape } from './errors.js';

export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function checkShape(op: string, arg: string, shape: Shape): void {
  for (const d of shape) {
    check(Number.isInteger(d) && d >= 0, op, () => `${arg}: invalid shape ${fmtShape(shape)}`);
  }
}

/** NumPy/PyTorch broadcasting: align right, each pair equal or one of them 1. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    check(da === db || da === 1 || db === 1, op, () =>
      `shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be broadcast (dimension ${i - n} is ${da} vs ${db})`);
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Axes along which `from` was broadcast to reach `to` (for summing a gradient back):
 * the leading extra axes and every axis where `from` had size 1 and `to` does not.
 */
export function broadcastedAxes(from: Shape, to: Shape): number[] {
  const axes: number[] = [];
  const lead = to.length - from.length;
  for (let i = 0; i < to.length; i++) {
    if (i < lead || (from[i - lead] === 1 && to[i] !== 1)) axes.push(i);
  }
  return axes;
}

/** Normalise possibly negative axes; rejects duplicates and out-of-range values. */
export function normAxes(op: string, axes: number | readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out = list.map((a) => {
    check(Number.isInteger(a) && a >= -rank && a < rank, op, () => `axis ${a} is out of range for rank ${rank}`);
    return a < 0 ? a + rank : a;
  });
  check(new Set(out).size === out.length, op, () => `axes ${JSON.stringify(list)} repeat an axis`);
  return out.sort((x, y) => x - y);
}
