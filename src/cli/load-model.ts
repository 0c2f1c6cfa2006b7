import { Rng } from '../engine/random.js';
import type { FasterRCNNConfig } from '../detection/config.js';
import { FasterRCNN } from '../detection/faster-rcnn.js';
import { loadCheckpoint, readCheckpointMetadata } from '../nn/checkpoint.js';
import { UsageError } from './args.js';
import { readBytes } from './files.js';
import { DATA_SETS, type DataSpec } from './presets.js';

export interface DetectorCheckpointMeta {
  kind: 'detector';
  preset: string;
  model: FasterRCNNConfig;
  data: DataSpec;
  classNames: string[];
  metrics?: { map50: number; cocoAP: number };
}

/** A checkpoint's bytes and metadata, read and checked; no model is built yet. */
export interface DetectorFile {
  path: string;
  /** The flag that named it, for messages: --checkpoint, --teacher, --resume. */
  what: string;
  bytes: Uint8Array;
  meta: DetectorCheckpointMeta;
}

/** `kdet.safetensors: x: header ...` → `header ...` (the file is named by the caller). */
function withoutPrefix(message: string, path: string): string {
  return message.replace(/^kdet\.\w+: /, '').replace(`${path}: `, '');
}

/**
 * Read a checkpoint file and check its metadata describes a detector kdet can build (a model
 * config, a built-in data set, class names), without building it: every wrong file (missing,
 * not safetensors, not kdet's, not a detector) is one line naming the flag and the file.
 */
export async function readDetectorFile(path: string, what = '--checkpoint'): Promise<DetectorFile> {
  const bytes = await readBytes(path, what);
  let meta: DetectorCheckpointMeta;
  try {
    meta = readCheckpointMetadata(bytes, path) as unknown as DetectorCheckpointMeta;
  } catch (e) {
    const reason = withoutPrefix((e as Error).message, path);
    const own = `${path} is not a kdet checkpoint (`;
    throw new UsageError(`${what} '${path}' is not a kdet checkpoint (${reason.startsWith(own) ? reason.slice(own.length, -1) : reason})`);
  }
  if (meta === null || typeof meta !== 'object' || meta.kind !== 'detector' || !meta.model) {
    throw new UsageError(`${what} '${path}' is not a detector checkpoint (kind ${JSON.stringify(meta?.kind)}); use a best.safetensors written by kdet train/distill`);
  }
  const d = meta.data;
  const ok = d && (DATA_SETS as readonly string[]).includes(d.name) && [d.size, d.trainLength, d.testLength, d.seed].every((v) => Number.isSafeInteger(v)) && Array.isArray(meta.classNames) && meta.classNames.length === meta.model.numClasses;
  if (!ok) throw new UsageError(`${what} '${path}' has incomplete metadata (data set, class names); use a best.safetensors written by kdet train/distill`);
  return { path, what, bytes, meta };
}

/** Build the detector a checked file describes and load its weights (validated against it). */
export function buildDetector(file: DetectorFile): FasterRCNN {
  let model: FasterRCNN;
  try {
    model = new FasterRCNN(file.meta.model, new Rng(0));
  } catch (e) {
    throw new UsageError(`${file.what} '${file.path}' describes a model kdet cannot build: ${withoutPrefix((e as Error).message, file.path)}`);
  }
  try {
    loadCheckpoint(file.bytes, model, undefined, file.path);
  } catch (e) {
    model.dispose();
    // A distillation's last.safetensors holds the student inside the distiller: for --resume only.
    const hint = (file.meta as unknown as Record<string, unknown>).trainer && (file.meta as unknown as Record<string, unknown>).distill ? '; it is a kdet distill trainer state (for --resume), use its best.safetensors' : '';
    throw new UsageError(`${file.what} '${file.path}' does not fit the model it describes: ${withoutPrefix((e as Error).message, file.path)}${hint}`);
  }
  model.eval();
  return model;
}

/**
 * Build the detector a checkpoint describes and load its weights (validated against it). The
 * file's bytes come back too, for callers that identify the checkpoint by its content.
 */
export async function loadDetector(path: string, what = '--checkpoint'): Promise<{ model: FasterRCNN; meta: DetectorCheckpointMeta; bytes: Uint8Array }> {
  const file = await readDetectorFile(path, what);
  return { model: buildDetector(file), meta: file.meta, bytes: file.bytes };
}
