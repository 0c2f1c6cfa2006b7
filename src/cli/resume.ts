import type { FasterRCNNConfig } from '../detection/config.js';
import { readCheckpointMetadata } from '../nn/checkpoint.js';
import { UsageError } from './args.js';
import { readBytes } from './files.js';
import { importedRefusal, isImportedMeta } from './load-tv-model.js';

export interface ResumeExpectation {
  preset: string;
  model: FasterRCNNConfig;
  optimizer: string;
  steps: number;
  /** The adaptation layer of a distillation run (its weights are part of the state); absent for train. */
  adapter?: string | null;
}

/**
 * Read a --resume file and check, before anything is built, that it is the trainer state of a run
 * like this one: a last.safetensors (not a best.safetensors), the same preset and optimiser, and a
 * step below --steps (else nothing would train and the run would report "done").
 */
export async function readResumeFile(path: string, want: ResumeExpectation): Promise<Uint8Array> {
  const { bytes, meta, trainer } = await readTrainerState(path, true);
  if (meta.preset !== want.preset || JSON.stringify(meta.model) !== JSON.stringify(want.model)) {
    throw new UsageError(`--resume '${path}' is a run of preset ${JSON.stringify(meta.preset)}${meta.preset === want.preset ? ' with another model configuration' : ''}, not '${want.preset}'`);
  }
  if (want.adapter !== undefined) {
    const adapter = (meta.distill as { adapter?: string } | null | undefined)?.adapter ?? null;
    if (adapter !== want.adapter) throw new UsageError(`--resume '${path}' was ${adapter === null ? 'trained without a teacher (kdet train, or a student alone)' : `distilled with --adapter ${adapter}`}, not ${want.adapter === null ? 'trained alone' : `distilled with --adapter ${want.adapter}`}; its weights do not fit this run`);
  }
  checkOptimizerAndStep(path, trainer, want);
  return bytes;
}

/**
 * The same check for a run of a torchvision builder (`kdet train --preset <builder>`): its
 * last.safetensors, of this builder with the same model settings (classes, norm, transform, RPN
 * and box-head settings), optimiser, and a step below --steps.
 */
export async function readTvResumeFile(path: string, want: { preset: string; settings: object; optimizer: string; steps: number; distill?: { adapter: string } | null }): Promise<Uint8Array> {
  const { bytes, meta, trainer } = await readTrainerState(path, false);
  if (meta.preset !== want.preset) throw new UsageError(`--resume '${path}' is a run of ${JSON.stringify(meta.preset)}, not '${want.preset}'`);
  // The settings as this run would record them (JSON, so that key order and undefined fields do not count).
  const canon = (x: unknown) => JSON.stringify(x, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));
  const { trainedFrom: _t, backboneFrom: _b, ...recorded } = (meta.torchvision ?? {}) as Record<string, unknown>;
  if (canon(recorded) !== canon(want.settings)) throw new UsageError(`--resume '${path}' was trained with other model settings (${canon(recorded).slice(0, 200)}); resume it with its own flags`);
  if (want.distill !== undefined) {
    // A distillation's state holds the adapters beside the student (a student alone's does not).
    const had = (meta.distill ?? null) as { adapter?: string } | null;
    if ((had === null) !== (want.distill === null)) throw new UsageError(`--resume '${path}' was ${had === null ? 'trained without a teacher' : 'distilled'}, not ${want.distill === null ? 'trained alone (--alone)' : 'distilled'}; its weights do not fit this run`);
    if (had && want.distill && had.adapter !== want.distill.adapter) throw new UsageError(`--resume '${path}' was distilled with --adapter ${had.adapter}, not ${want.distill.adapter}`);
  }
  checkOptimizerAndStep(path, trainer, want);
  return bytes;
}

/** The norm a torchvision-family run recorded ('' if the file does not say): a resumed run keeps it. */
export async function resumedNorm(path: string): Promise<string> {
  try {
    const meta = readCheckpointMetadata(await readBytes(path, '--resume'), path) as { torchvision?: { norm?: unknown } };
    return typeof meta.torchvision?.norm === 'string' ? meta.torchvision.norm : '';
  } catch {
    return ''; // readTvResumeFile says what is wrong with the file
  }
}

interface TrainerState {
  step: number;
  config?: { optimizer?: string };
}

/**
 * A --resume file's bytes, metadata and trainer state; one line if it is not a kdet checkpoint,
 * holds no trainer state, or (`kdetOnly`) is an imported torchvision model.
 */
async function readTrainerState(path: string, kdetOnly: boolean): Promise<{ bytes: Uint8Array; meta: Record<string, unknown>; trainer: TrainerState }> {
  const bytes = await readBytes(path, '--resume');
  let meta: Record<string, unknown>;
  try {
    meta = readCheckpointMetadata(bytes, path);
  } catch (e) {
    throw new UsageError(`--resume '${path}' is not a kdet checkpoint (${(e as Error).message.replace(/^kdet\.\w+: /, '').replace(`${path}: `, '')})`);
  }
  if (kdetOnly && isImportedMeta(meta)) throw new UsageError(importedRefusal('--resume', path, meta));
  const trainer = meta.trainer as { step?: unknown; config?: { optimizer?: string } } | undefined;
  if (!trainer || typeof trainer.step !== 'number') throw new UsageError(`--resume '${path}' holds no trainer state; resume from the last.safetensors of a run, not its best.safetensors`);
  return { bytes, meta, trainer: trainer as TrainerState };
}

/** The optimiser a state was trained with, and a step below --steps (else nothing would train). */
function checkOptimizerAndStep(path: string, trainer: TrainerState, want: { optimizer: string; steps: number }): void {
  const optimizer = trainer.config?.optimizer;
  if (optimizer && optimizer !== want.optimizer) throw new UsageError(`--resume '${path}' was trained with --optimizer ${optimizer}, not ${want.optimizer}`);
  if (trainer.step >= want.steps) throw new UsageError(`--resume '${path}' is at step ${trainer.step}, not below --steps ${want.steps}: nothing is left to train (raise --steps)`);
}
