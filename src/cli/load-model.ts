import { Rng } from '../engine/random.js';
import type { FasterRCNNConfig } from '../detection/config.js';
import type { EvaluableDetector } from '../detection/evaluate.js';
import { FasterRCNN, type Detections } from '../detection/faster-rcnn.js';
import { defaultTransformConfig, type ImageInput, type TransformConfig } from '../detection/transform.js';
import { loadCheckpoint, readCheckpointMetadata } from '../nn/checkpoint.js';
import { UsageError } from './args.js';
import { readBytes } from './files.js';
import { isValidOwnSpec, type OwnDataSpec } from './data-spec.js';
import { buildImportedDetector, checkImportedMeta, importedRefusal, isImportedMeta, type TvDetectorFile } from './load-tv-model.js';
import { DATA_SETS, type DataSpec } from './presets.js';

export interface DetectorCheckpointMeta {
  kind: 'detector';
  preset: string;
  model: FasterRCNNConfig;
  /** The training data: a built-in data set, or a user's (path, split, class names, ids). */
  data: DataSpec | OwnDataSpec;
  /** A user's held-out data, when training had one (--val-data / --val-split). */
  valData?: OwnDataSpec;
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

/** A checkpoint's bytes and kdet metadata; every wrong file is one line naming the flag and the file. */
async function readKdetFile(path: string, what: string): Promise<{ bytes: Uint8Array; meta: unknown }> {
  const bytes = await readBytes(path, what);
  try {
    return { bytes, meta: readCheckpointMetadata(bytes, path) };
  } catch (e) {
    const reason = withoutPrefix((e as Error).message, path);
    const own = `${path} is not a kdet checkpoint (`;
    throw new UsageError(`${what} '${path}' is not a kdet checkpoint (${reason.startsWith(own) ? reason.slice(own.length, -1) : reason})`);
  }
}

/**
 * Read a checkpoint file and check its metadata describes a detector kdet can build (a model
 * config, a built-in data set, class names), without building it: every wrong file (missing,
 * not safetensors, not kdet's, not a detector) is one line naming the flag and the file. An
 * imported torchvision model is refused here (see readAnyDetectorFile for detect and eval).
 */
export async function readDetectorFile(path: string, what = '--checkpoint'): Promise<DetectorFile> {
  const { bytes, meta } = await readKdetFile(path, what);
  if (isImportedMeta(meta)) throw new UsageError(importedRefusal(what, path, meta));
  return checkDetectorMeta(path, what, bytes, meta as DetectorCheckpointMeta);
}

function checkDetectorMeta(path: string, what: string, bytes: Uint8Array, meta: DetectorCheckpointMeta): DetectorFile {
  if (meta === null || typeof meta !== 'object' || meta.kind !== 'detector' || !meta.model) {
    throw new UsageError(`${what} '${path}' is not a detector checkpoint (kind ${JSON.stringify(meta?.kind)}); use a best.safetensors written by kdet train/distill`);
  }
  const d = meta.data as Partial<DataSpec> | undefined;
  const builtin = !!d && (DATA_SETS as readonly string[]).includes(d.name as string) && [d.size, d.trainLength, d.testLength, d.seed].every((v) => Number.isSafeInteger(v));
  const own = isValidOwnSpec(d) && (meta.valData === undefined || isValidOwnSpec(meta.valData));
  const ok = (builtin || own) && Array.isArray(meta.classNames) && meta.classNames.length === meta.model.numClasses;
  if (!ok) throw new UsageError(`${what} '${path}' has incomplete metadata (data set, class names); use a best.safetensors written by kdet train/distill`);
  return { path, what, bytes, meta };
}

/** For detect and eval: a kdet detector, or a torchvision model brought in by kdet import. */
export async function readAnyDetectorFile(path: string, what = '--checkpoint'): Promise<DetectorFile | TvDetectorFile> {
  const { bytes, meta } = await readKdetFile(path, what);
  if (isImportedMeta(meta)) return { path, what, bytes, meta: checkImportedMeta(meta, what, path), imported: true };
  return checkDetectorMeta(path, what, bytes, meta as DetectorCheckpointMeta);
}

/** What detect and eval need of a detector: kdet's FasterRCNN, or an ImportedDetector. */
export interface RunnableDetector extends EvaluableDetector {
  detectImages(images: readonly ImageInput[]): Promise<Detections[]>;
  dispose(): void;
}

/** Build either kind of file readAnyDetectorFile returns (`anySize`: see buildDetector). */
export function buildAnyDetector(file: DetectorFile | TvDetectorFile, opts: { anySize?: boolean } = {}): RunnableDetector {
  return 'imported' in file ? buildImportedDetector(file) : buildDetector(file, opts);
}

/** The built-in data set a checkpoint was trained on, or null when it was a user's. */
export function builtinData(meta: DetectorCheckpointMeta): DataSpec | null {
  return (DATA_SETS as readonly string[]).includes(meta.data.name) ? (meta.data as DataSpec) : null;
}

/**
 * The input transform a checkpoint's model uses on images of any size (a user's data): its own,
 * or, for a model trained on the built-in square scenes (which has none), one that scales an
 * image's long side to the scenes' size, keeping its aspect ratio, so boxes come back in the
 * image's pixels. A student distilled from such a teacher gets the same one.
 */
export function anySizeTransform(meta: DetectorCheckpointMeta): TransformConfig | undefined {
  const builtin = builtinData(meta);
  return meta.model.transform ?? (builtin ? defaultTransformConfig(meta.model.backbone, { minSize: builtin.size, maxSize: builtin.size }) : undefined);
}

/**
 * Build the detector a checked file describes and load its weights (validated against it).
 * `anySize`: the model will see images of any size (see anySizeTransform).
 */
export function buildDetector(file: DetectorFile, opts: { anySize?: boolean } = {}): FasterRCNN {
  let model: FasterRCNN;
  const config = file.meta.model;
  const transform = opts.anySize ? anySizeTransform(file.meta) : config.transform;
  const withTransform = transform ? { ...config, transform } : config;
  try {
    model = new FasterRCNN(withTransform, new Rng(0));
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
