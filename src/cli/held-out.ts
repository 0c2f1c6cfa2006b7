/**
 * The data a checkpoint is evaluated on: the built-in scenes' test split, a user's held-out data
 * recorded at training (--val-data / --val-split), or, failing both, the user's training data
 * itself (said so, since it is then not a held-out score).
 */
import type { AnyDataset } from '../data/types.js';
import { categoryIdsOf, describeData, openOwnData } from './data-spec.js';
import { builtinData, type DetectorCheckpointMeta } from './load-model.js';
import { openDataSet } from './presets.js';

export interface EvalData {
  dataset: AnyDataset;
  /** For messages: what the data is. */
  what: string;
  /** False when only the training data was there to evaluate on. */
  heldOut: boolean;
  /** A user's images, of any size (the model then needs an input transform). */
  own: boolean;
  /** The data set's own category id of each label, for COCO results (else 1..C). */
  categoryIds: readonly number[];
}

export async function openCheckpointEvalData(meta: DetectorCheckpointMeta, testLength = 0): Promise<EvalData> {
  const builtin = builtinData(meta);
  const ids = (n: number): number[] => Array.from({ length: n }, (_, k) => k + 1);
  if (builtin) {
    const spec = { ...builtin, ...(testLength > 0 ? { testLength } : {}) };
    return { dataset: await openDataSet(spec, 'test'), what: `${spec.name} test`, heldOut: true, own: false, categoryIds: ids(meta.classNames.length) };
  }
  const spec = meta.valData ?? (meta.data as NonNullable<DetectorCheckpointMeta['valData']>);
  const { dataset, spec: opened } = await openOwnData(spec);
  return { dataset, what: describeData(opened), heldOut: meta.valData !== undefined, own: true, categoryIds: categoryIdsOf(opened) };
}
