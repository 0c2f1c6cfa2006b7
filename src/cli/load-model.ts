import { Rng } from '../engine/random.js';
import type { FasterRCNNConfig } from '../detection/config.js';
import { FasterRCNN } from '../detection/faster-rcnn.js';
import { loadCheckpoint, readCheckpointMetadata } from '../nn/checkpoint.js';
import { UsageError } from './args.js';
import { readBytes } from './files.js';
import type { DataSpec } from './presets.js';

export interface DetectorCheckpointMeta {
  kind: 'detector';
  preset: string;
  model: FasterRCNNConfig;
  data: DataSpec;
  classNames: string[];
  metrics?: { map50: number; cocoAP: number };
}

/**
 * Build the detector a checkpoint describes and load its weights (validated against it). The
 * file's bytes come back too, for callers that identify the checkpoint by its content.
 */
export async function loadDetector(path: string, what = '--checkpoint'): Promise<{ model: FasterRCNN; meta: DetectorCheckpointMeta; bytes: Uint8Array }> {
  const bytes = await readBytes(path, what);
  let meta: DetectorCheckpointMeta;
  try {
    meta = readCheckpointMetadata(bytes, path) as unknown as DetectorCheckpointMeta;
  } catch (e) {
    throw new UsageError(`${what} ${(e as Error).message.replace(/^kdet\.\w+: /, '')}`);
  }
  if (meta.kind !== 'detector' || !meta.model) throw new UsageError(`${what} '${path}' is not a detector checkpoint (kind ${JSON.stringify(meta.kind)}); use a best.safetensors written by kdet train/distill`);
  const model = new FasterRCNN(meta.model, new Rng(0));
  loadCheckpoint(bytes, model, undefined, path);
  model.eval();
  return { model, meta, bytes };
}
