/**
 * What the VOC and COCO readers do with boxes that do not fit their image,
 * the same for both formats:
 *
 * - a box partly outside the image is clipped to it, and counted;
 * - a box with no area left (x2 <= x1 or y2 <= y1 after clipping, which
 *   includes an inverted box and one entirely outside the image) is dropped
 *   and counted, or refused with a DataError when `invalidBoxes` is 'error';
 * - the counts make ONE warning line per annotation file, through
 *   `onWarning` (default console.warn), never one line per box.
 */
import { DataError } from './errors.js';

export type InvalidBoxPolicy = 'drop' | 'error';

export interface BoxPolicyOptions {
  /** Boxes with no area inside the image: dropped with a warning (default) or refused. */
  invalidBoxes?: InvalidBoxPolicy;
  /** Receives the one-line summary of clipped and dropped boxes per file (default console.warn). */
  onWarning?: (message: string) => void;
}

export interface CheckedBoxes {
  /** The kept boxes, clipped, [m, 4] continuous x1, y1, x2, y2. */
  boxes: Float32Array;
  /** Indices (into the input) of the kept boxes, in order. */
  keep: number[];
  clipped: number;
  dropped: number;
}

/**
 * Clips `boxes` ([n, 4] continuous x1, y1, x2, y2) to a width x height image
 * and drops (or refuses) those with no area left. `where(k)` names box k in
 * the file and `describe(k)` gives it as written there, both for messages.
 */
export function checkBoxes(
  boxes: ArrayLike<number>,
  width: number,
  height: number,
  file: string,
  where: (k: number) => string,
  describe: (k: number) => string,
  options: BoxPolicyOptions = {},
  /** Several boxes may share one warning (COCO: the whole JSON); default: warn here. */
  warn = true,
): CheckedBoxes {
  const n = boxes.length / 4;
  const out: number[] = [];
  const keep: number[] = [];
  let clipped = 0;
  const droppedAt: number[] = [];
  for (let k = 0; k < n; k++) {
    const x1 = boxes[4 * k]!, y1 = boxes[4 * k + 1]!, x2 = boxes[4 * k + 2]!, y2 = boxes[4 * k + 3]!;
    const cx1 = Math.min(Math.max(x1, 0), width);
    const cy1 = Math.min(Math.max(y1, 0), height);
    const cx2 = Math.min(Math.max(x2, 0), width);
    const cy2 = Math.min(Math.max(y2, 0), height);
    if (!(cx2 > cx1 && cy2 > cy1)) {
      if (options.invalidBoxes === 'error') {
        const why =
          !(x2 > x1 && y2 > y1)
            ? 'has no area (x2 <= x1 or y2 <= y1)'
            : `lies outside the ${width}x${height} image`;
        throw new DataError(file, where(k), `box ${describe(k)} ${why}; to skip such boxes instead, use --invalid-boxes drop (invalidBoxes: 'drop')`);
      }
      droppedAt.push(k);
      continue;
    }
    if (cx1 !== x1 || cy1 !== y1 || cx2 !== x2 || cy2 !== y2) clipped++;
    out.push(cx1, cy1, cx2, cy2);
    keep.push(k);
  }
  const result = { boxes: Float32Array.from(out), keep, clipped, dropped: droppedAt.length };
  if (warn) warnBoxes(file, clipped, droppedAt.map(where), options);
  return result;
}

/** The one warning line for a file: how many boxes were clipped and dropped (and where the first dropped ones were). */
export function warnBoxes(file: string, clipped: number, droppedWhere: string[], options: BoxPolicyOptions = {}): void {
  if (clipped === 0 && droppedWhere.length === 0) return;
  const parts: string[] = [];
  const s = (n: number): string => (n === 1 ? '' : 'es');
  if (clipped > 0) parts.push(`${clipped} box${s(clipped)} clipped to the image`);
  if (droppedWhere.length > 0) {
    const shown = droppedWhere.slice(0, 3).join(', ') + (droppedWhere.length > 3 ? ', ...' : '');
    parts.push(`${droppedWhere.length} box${s(droppedWhere.length)} with no area inside the image dropped (${shown})`);
  }
  (options.onWarning ?? ((m: string) => console.warn(m)))(`${file}: ${parts.join('; ')}`);
}
