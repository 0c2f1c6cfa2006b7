/**
 * `kdet train --preset <torchvision builder>`: torchvision's Faster R-CNN family trained by kdet,
 * from scratch (BatchNorm2d in training mode, every layer trainable, as the builders make it
 * with weights=None) or fine-tuned from a checkpoint of the family (`--from`: one imported by
 * `kdet import --torchvision` or trained here; FrozenBatchNorm2d and 3 trainable backbone layers
 * when the checkpoint has them, as torchvision's fine-tuning recipe). The best checkpoint has the
 * imported models' form, so detect, eval and export --torchvision run it as they run those.
 */
import { basename } from 'node:path';
import type { AnyDataset } from '../data/types.js';
import type { TrainerConfig } from '../detection/trainer.js';
import type { TvPresetName } from '../detection/tv-presets.js';
import { maxTrainableLayers } from '../detection/tv-faster-rcnn.js';
import { view } from '../engine/tensor.js';
import { TV_LOSS_NAMES } from '../detection/tv-training.js';
import { loadCheckpoint } from '../nn/checkpoint.js';
import type { NormKind } from '../models/conv-norm-act.js';
import { UsageError } from './args.js';
import { readAnyDetectorFile } from './load-model.js';
import { buildTvModel, ImportedDetector, TV_ARCHS, tvSettings, type TvCheckpointMeta, type TvSettings } from './load-tv-model.js';
import { runTraining } from './run-training.js';
import { applyBodyFile, type BackboneFile } from './commands/pretrain.js';

export const isTvPreset = (preset: string): preset is TvPresetName => (TV_ARCHS as string[]).includes(preset);

/** The prefix of the box predictor's tensors: re-initialised when --from has other classes. */
const PREDICTOR = 'roi_heads.box_predictor.';

export interface TvTrainOptions {
  preset: TvPresetName;
  /** A checkpoint of the family to start from ('' for random weights). */
  from: string;
  /** A body pre-trained by kdet pretrain (torchvision's weights_backbone), or null. */
  backbone: BackboneFile | null;
  norm: '' | NormKind;
  /** torchvision's trainable_backbone_layers; −1: the builder's default for the norm. */
  trainableLayers: number;
  minSize: number;
  maxSize: number;
  rpnBatchSizePerImage: number;
  boxBatchSizePerImage: number;
}

export interface TvTrainStart {
  settings: Omit<TvSettings, 'importedFrom'>;
  /** The --from checkpoint, read and checked (null: from scratch). */
  from: { path: string; bytes: Uint8Array; meta: TvCheckpointMeta } | null;
  /** The --backbone-from body, read and checked. */
  backbone: BackboneFile | null;
  trainableLayers: number;
}


/**
 * Everything about the model checked before the backend exists: the --from file (a torchvision-
 * family checkpoint of this preset), the norm, the trainable layers, and the settings to build.
 */
export async function planTvTraining(o: TvTrainOptions, numClasses: number): Promise<TvTrainStart> {
  let from: TvTrainStart['from'] = null;
  if (o.from) {
    const file = await readAnyDetectorFile(o.from, '--from');
    if (!('imported' in file)) throw new UsageError(`kdet train: --from '${o.from}' is a kdet ${String(file.meta.preset)} checkpoint; --preset ${o.preset} starts from a torchvision-family checkpoint (kdet import --torchvision, or a kdet train --preset ${o.preset} run)`);
    if (file.meta.preset !== o.preset) throw new UsageError(`kdet train: --from '${o.from}' is a ${file.meta.preset}, not a ${o.preset}; give --preset ${file.meta.preset}`);
    from = { path: o.from, bytes: file.bytes, meta: file.meta };
  }
  // torchvision's recipes: weights=None → BatchNorm2d, all layers; weights_backbone →
  // FrozenBatchNorm2d, 3 layers; a whole checkpoint → its norms.
  const norm: NormKind = o.norm || from?.meta.torchvision.norm || (o.backbone ? 'frozen' : 'batch');
  const max = maxTrainableLayers(o.preset);
  const trainableLayers = o.trainableLayers >= 0 ? o.trainableLayers : norm === 'batch' ? max : 3;
  if (trainableLayers > max) throw new UsageError(`kdet train: --trainable-layers ${trainableLayers}: ${o.preset} has ${max} (torchvision's trainable_backbone_layers is 0..${max})`);
  const settings: Omit<TvSettings, 'importedFrom'> = tvSettings(o.preset, numClasses, {
    norm,
    minSize: o.minSize,
    maxSize: o.maxSize,
    rpnBatchSizePerImage: o.rpnBatchSizePerImage,
    boxBatchSizePerImage: o.boxBatchSizePerImage,
    ...(from ? { base: from.meta.torchvision } : {}),
  });
  return { settings, from, backbone: o.backbone, trainableLayers };
}

export interface TvTrainRun {
  plan: TvTrainStart;
  preset: TvPresetName;
  train: AnyDataset;
  test: AnyDataset;
  trainer: TrainerConfig;
  out: string;
  evalImages: number;
  /** What the checkpoint records about the data (a built-in scenes spec or the user's), and the held-out data if any. */
  data: unknown;
  valData?: unknown;
  describe: string;
  backend: string;
  /** A last.safetensors of this run to continue (checked by readTvResumeFile). */
  resume?: Uint8Array;
}

/** Build (and load --from into) the model, train it, and write best.safetensors in the family's form. */
export async function trainTv(run: TvTrainRun): Promise<void> {
  const { settings, from, backbone, trainableLayers } = run.plan;
  const model = buildTvModel(run.preset, settings, { trainableLayers, seed: run.trainer.seed });
  try {
    let note = 'random weights';
    if (from) note = loadFrom(model, from, settings.numClasses);
    if (backbone) note = applyBodyFile(backbone, model.backbone.body);
    if (run.resume) note = 'resumed from its saved state';
    const trainable = model.trainableParameters().reduce((s, p) => s + p.value.size, 0);
    const t = settings.transform;
    console.log(
      `kdet train: ${run.preset} (${(model.parameterCount() / 1e6).toFixed(2)} M parameters, ${(trainable / 1e6).toFixed(2)} M trainable: ${settings.norm === 'batch' ? 'BatchNorm2d' : 'FrozenBatchNorm2d'}, ${trainableLayers} trainable backbone layers; ${note}) ` +
        `on ${run.describe}, images resized to ${t.minSize}/${t.maxSize}, classes ${settings.numClasses - 1}, backend ${run.backend}`,
    );
    const meta: TvCheckpointMeta & { data: unknown; valData?: unknown } = {
      kind: 'detector',
      preset: run.preset,
      classNames: [...run.train.classNames],
      data: run.data,
      ...(run.valData ? { valData: run.valData } : {}),
      torchvision: { ...settings, ...(from ? { trainedFrom: basename(from.path) } : {}), ...(backbone ? { backboneFrom: basename(backbone.path) } : {}) } as TvSettings,
    };
    const result = await runTraining({
      trained: model,
      detector: new ImportedDetector(model),
      saved: model,
      train: run.train,
      test: run.test,
      trainer: run.trainer,
      loss: async (images, targets, rng) => (await model.forwardTrain(images, targets, rng)).losses,
      out: run.out,
      metadata: meta as unknown as Record<string, unknown>,
      evalImages: run.evalImages,
      ...(run.resume ? { resume: run.resume } : {}),
    });
    const names = Object.values(TV_LOSS_NAMES).join(', ');
    console.log(`done in ${result.seconds.toFixed(0)} s (${result.stepSeconds.toFixed(3)} s/step); best mAP@0.5 ${result.best?.map50.toFixed(4) ?? 'n/a'}; losses in ${run.out}/log.jsonl as rpnCls, rpnReg, roiCls, roiReg (torchvision's ${names}); checkpoints in ${run.out}`);
  } finally {
    model.dispose();
  }
}

/**
 * Load a --from checkpoint. With the same classes every tensor is taken; with others, every
 * tensor but the box predictor's (torchvision's fine-tuning recipe: a new FastRCNNPredictor).
 */
function loadFrom(model: ReturnType<typeof buildTvModel>, from: NonNullable<TvTrainStart['from']>, numClasses: number): string {
  const had = from.meta.torchvision.numClasses;
  const fail = (e: unknown): never => {
    throw new UsageError(`kdet train: --from '${from.path}' does not fit ${from.meta.preset}: ${(e as Error).message.replace(/^kdet\.\w+: /, '')}`);
  };
  if (had === numClasses) {
    try {
      loadCheckpoint(from.bytes, model, undefined, from.path);
    } catch (e) {
      fail(e);
    }
    return `weights from ${basename(from.path)}`;
  }
  // Other classes: the weights go into a model of the checkpoint's classes, then all but the
  // predictor move over.
  const donor = buildTvModel(from.meta.preset, { ...from.meta.torchvision });
  try {
    loadCheckpoint(from.bytes, donor, undefined, from.path);
    // Views share the donor's storage (reference-counted), so disposing the donor keeps them.
    const values = new Map([...donor.stateDict()].filter(([name]) => !name.startsWith(PREDICTOR)).map(([name, t]) => [name, view(t, t.shape)]));
    model.loadStateDict(values, false);
  } catch (e) {
    fail(e);
  } finally {
    donor.dispose();
  }
  return `weights from ${basename(from.path)} but the box predictor, new for ${numClasses - 1} classes (it had ${had - 1})`;
}
