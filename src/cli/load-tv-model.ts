/**
 * Checkpoints of torchvision detectors imported by `kdet import --torchvision` (or trained and
 * distilled into the family by kdet), for the CLI: the metadata check and the model builder live
 * in src/detection/tv-checkpoint.ts (browser-safe, shared with the demo); here their errors
 * become usage errors, and files read by load-model.ts become runnable detectors.
 */
import { checkImportedMeta as checkMeta, buildTvModel, ImportedDetector, type TvCheckpointMeta } from '../detection/tv-checkpoint.js';
import { loadCheckpoint } from '../nn/checkpoint.js';
import { UsageError } from './args.js';

export { buildTvModel, ImportedDetector, isImportedMeta, TV_ARCHS, tvSettings } from '../detection/tv-checkpoint.js';
export type { TvCheckpointMeta, TvSettings, TvSettingsOptions, TvTransformSettings } from '../detection/tv-checkpoint.js';

export interface TvDetectorFile {
  path: string;
  what: string;
  bytes: Uint8Array;
  meta: TvCheckpointMeta;
  imported: true;
}

/** The one line for commands that cannot use a torchvision-family model (distill, resume, …). */
export function importedRefusal(what: string, path: string, meta: { preset?: unknown }): string {
  return `${what} '${path}' is a torchvision-family model (${String(meta.preset)}); here only kdet's own presets are supported yet (kdet detect, kdet eval, and kdet train --preset ${String(meta.preset)} --from '${path}' run it)`;
}

/** Check an imported checkpoint's metadata describes a model kdet can build; a usage error of one line if not. */
export function checkImportedMeta(meta: unknown, what: string, path: string): TvCheckpointMeta {
  try {
    return checkMeta(meta, what, path);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Build the model an imported checkpoint describes, load its weights and set it to eval. */
export function buildImportedDetector(file: TvDetectorFile): ImportedDetector {
  const { meta } = file;
  const model = buildTvModel(meta.preset, meta.torchvision);
  try {
    loadCheckpoint(file.bytes, model, undefined, file.path);
  } catch (e) {
    model.dispose();
    throw new UsageError(`${file.what} '${file.path}' does not fit the model it describes: ${(e as Error).message.replace(/^kdet\.\w+: /, '').replace(`${file.path}: `, '')}`);
  }
  return new ImportedDetector(model.eval());
}
