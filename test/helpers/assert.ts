/**
 * Numeric comparison for tests. Fails on any NaN/±Inf mismatch (a NaN never passes by being
 * "not greater than the tolerance") and names the worst element.
 */
export interface CloseOptions {
  /** Relative tolerance per element. */
  rtol?: number;
  /**
   * Absolute floor. Default: rtol × the largest finite |expected|: a sum with cancellation has
   * small elements whose relative error says nothing about the kernel.
   */
  atol?: number;
  /** What is compared, for the message. */
  what?: string;
  /** Shape, to report the worst element as a multi-index. */
  shape?: readonly number[];
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, opts: CloseOptions = {}): void {
  const what = opts.what ?? 'values';
  const rtol = opts.rtol ?? 1e-4;
  if (actual.length !== expected.length) {
    throw new Error(`${what}: ${actual.length} elements, expected ${expected.length}`);
  }
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    if (Number.isFinite(e)) scale = Math.max(scale, Math.abs(e));
  }
  const atol = opts.atol ?? rtol * scale;
  let worst = -1;
  let worstRatio = 1;
  let failures = 0;
  let special = -1;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!Number.isFinite(a) || !Number.isFinite(e)) {
      // Non-finite values must match exactly (NaN with NaN, +Inf with +Inf).
      if (!(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)))) {
        failures++;
        if (special < 0) special = i;
      }
      continue;
    }
    const diff = Math.abs(a - e);
    if (diff === 0) continue;
    const ratio = diff / (atol + rtol * Math.abs(e));
    if (!(ratio <= 1)) {
      failures++;
      if (ratio > worstRatio || worst < 0) {
        worstRatio = ratio;
        worst = i;
      }
    }
  }
  if (failures === 0) return;
  const at = (i: number) => `element ${i}${opts.shape ? ` ${fmtIndex(i, opts.shape)}` : ''}: got ${actual[i]}, expected ${expected[i]}`;
  const parts = [`${what}: ${failures} of ${actual.length} elements differ (rtol ${rtol}, atol ${atol.toExponential(2)})`];
  if (special >= 0) parts.push(`first non-finite mismatch at ${at(special)}`);
  if (worst >= 0) parts.push(`worst at ${at(worst)} (${worstRatio.toPrecision(3)}× the tolerance)`);
  throw new Error(parts.join('; '));
}

/** Every value finite: NaN and ±Inf fail. */
export function assertFinite(values: ArrayLike<number>, what = 'values'): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) throw new Error(`${what}: element ${i} is ${values[i]}`);
  }
}

/** Exact equality (integer outputs: argmax, nms indices, int32 casts). */
export function assertEqualArrays(actual: ArrayLike<number>, expected: ArrayLike<number>, what = 'values'): void {
  const a = Array.from(actual);
  const e = Array.from(expected);
  if (a.length !== e.length || a.some((v, i) => v !== e[i] && !(Number.isNaN(v) && Number.isNaN(e[i]!)))) {
    throw new Error(`${what}: got [${a.join(', ')}], expected [${e.join(', ')}]`);
  }
}

function fmtIndex(i: number, shape: readonly number[]): string {
  const idx: number[] = [];
  let rest = i;
  for (let d = shape.length - 1; d >= 0; d--) {
    idx.unshift(rest % shape[d]!);
    rest = Math.floor(rest / shape[d]!);
  }
  return `[${idx.join(', ')}]`;
}
