/**
 * kdet checkpoints of torchvision's Faster R-CNN family (written by `kdet import --torchvision`,
 * `kdet train --preset <builder>` or `kdet distill --student <builder>`): their metadata, checked
 * when read, the settings a new model of the family is built with, and the TvFasterRCNN a
 * checkpoint describes. Everything torchvision's forward depends on beyond the weights (transform
 * sizes, mean/std, RPN and box post-processing) travels in the metadata, so a checkpoint answers
 * as the model it came from did.
 *
 * Browser-safe: bytes in, models out, no file system (the CLI's src/cli/load-tv-model.ts reads
 * files and turns the errors here into usage errors). The demo's family mode builds its teacher
 * and student with these.
 */
import type { DetectionBatch } from '../data/types.js';
import { IMAGENET_NORMALISATION } from '../data/transforms.js';
import { Rng } from '../engine/random.js';
import type { BackboneWithFPN } from '../models/backbone-with-fpn.js';
import type { NormKind } from '../models/conv-norm-act.js';
import { mobilenetV3LargeFpnBackbone } from '../models/mobilenetv3.js';
import { resnetFpnBackbone } from '../models/resnet.js';
import { loadCheckpoint, readCheckpointMetadata } from '../nn/checkpoint.js';
import type { Detections } from './faster-rcnn.js';
import type { ImageInput } from './transform.js';
import { TvFasterRCNN } from './tv-faster-rcnn.js';
import { TV_PRESETS, type TvBoxConfig, type TvPreset, type TvPresetName, type TvRPNConfig } from './tv-presets.js';

/** The builders of the family, by name. */
export const TV_ARCHS = Object.keys(TV_PRESETS) as TvPresetName[];

/** What torchvision's GeneralizedRCNNTransform does to an image (size_divisible is always 32). */
export interface TvTransformSettings {
  minSize: number;
  maxSize: number;
  imageMean: number[];
  imageStd: number[];
  sizeDivisible: 32;
}

/** The `torchvision` section of a family checkpoint's metadata. */
export interface TvSettings {
  /** torchvision's num_classes: the background included (cls_score's rows). */
  numClasses: number;
  /** FrozenBatchNorm2d ('frozen') or BatchNorm2d ('batch'); the same in eval mode. */
  norm: NormKind;
  transform: TvTransformSettings;
  rpn: TvRPNConfig;
  box: TvBoxConfig;
  /** Where imported weights came from (and `meta`, the kdet-meta.json read with them), for people reading the metadata. */
  importedFrom?: { file: string; format: 'pth' | 'safetensors'; key?: string; tensors: number; meta?: string };
  /** The checkpoint a `kdet train --preset <builder> --from` run started from. */
  trainedFrom?: string;
  /** The body a `kdet train --preset <builder> --backbone-from` run started from. */
  backboneFrom?: string;
}

export interface TvCheckpointMeta {
  kind: 'detector';
  /** torchvision's builder (fasterrcnn_mobilenet_v3_large_320_fpn, …). */
  preset: TvPresetName;
  /** One per foreground class: label k (torchvision's) is classNames[k - 1]. */
  classNames: string[];
  torchvision: TvSettings;
}

/** A family checkpoint's metadata has a `torchvision` section; kdet's own presets have `model`. */
export function isImportedMeta(meta: unknown): meta is { preset?: unknown; torchvision: unknown } {
  return meta !== null && typeof meta === 'object' && 'torchvision' in meta && !('model' in meta);
}

/**
 * True when `got` has the form of `like` (a preset's settings): the same keys, finite numbers
 * where it has numbers, arrays of the same length. A hand-edited checkpoint fails here, not
 * deep inside the model.
 */
function sameForm(like: unknown, got: unknown): boolean {
  if (typeof like === 'number') return typeof got === 'number' && Number.isFinite(got);
  if (Array.isArray(like)) return Array.isArray(got) && got.length === like.length && like.every((v, i) => sameForm(v, got[i]));
  if (like !== null && typeof like === 'object') {
    if (got === null || typeof got !== 'object' || Array.isArray(got)) return false;
    return Object.keys(like).every((k) => sameForm((like as Record<string, unknown>)[k], (got as Record<string, unknown>)[k]));
  }
  return like === got;
}

/**
 * Check that a family checkpoint's metadata describes a model kdet can build; an Error of one
 * line naming `what` and `path` if not.
 */
export function checkImportedMeta(meta: unknown, what: string, path: string): TvCheckpointMeta {
  const m = meta as Partial<TvCheckpointMeta>;
  const tv = m.torchvision as Partial<TvSettings> | undefined;
  const bad = (why: string): never => {
    throw new Error(`${what} '${path}' is an imported torchvision model with broken metadata (${why}); import it again with kdet import --torchvision`);
  };
  if (m.kind !== 'detector') bad(`kind ${JSON.stringify(m.kind)}`);
  if (!TV_ARCHS.includes(m.preset as TvPresetName)) bad(`unknown architecture ${JSON.stringify(m.preset)}`);
  if (!tv || typeof tv !== 'object') return bad('no torchvision settings');
  if (!Number.isSafeInteger(tv.numClasses) || tv.numClasses! < 2) bad(`numClasses ${JSON.stringify(tv.numClasses)}`);
  if (!Array.isArray(m.classNames) || m.classNames.length !== tv.numClasses! - 1 || !m.classNames.every((n) => typeof n === 'string')) bad(`${tv.numClasses! - 1} class names expected`);
  if (tv.norm !== 'frozen' && tv.norm !== 'batch') bad(`norm ${JSON.stringify(tv.norm)}`);
  const t = tv.transform;
  const stats = (v: unknown) => Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!t || !(t.minSize >= 1 && t.maxSize >= t.minSize && t.maxSize <= 8192) || !stats(t.imageMean) || !stats(t.imageStd) || !t.imageStd.every((s) => s > 0) || t.sizeDivisible !== 32) bad('transform settings');
  const preset = TV_PRESETS[m.preset!];
  if (!sameForm(preset.rpn, tv.rpn)) bad('RPN settings');
  if (!sameForm(preset.box, tv.box)) bad('box settings');
  return m as TvCheckpointMeta;
}

/** How a new model of the family is set up (tvSettings); every field optional. */
export interface TvSettingsOptions {
  /** Default: `base`'s norm, else 'batch' (torchvision's builders with weights=None). */
  norm?: NormKind;
  /** GeneralizedRCNNTransform's sizes; default the builder's (800/1333, 320/640). */
  minSize?: number;
  maxSize?: number;
  /** RPN and box-head sampling per image (rpn/box_batch_size_per_image); 0 or absent: `base`'s, else the builder's. */
  rpnBatchSizePerImage?: number;
  boxBatchSizePerImage?: number;
  /**
   * Settings to start from (a checkpoint of the family being fine-tuned): its norm, mean/std, RPN
   * and box settings. Only the mean/std are taken when `base` is another builder's.
   */
  base?: Pick<TvSettings, 'norm' | 'transform' | 'rpn' | 'box'> & { preset?: TvPresetName };
  /** The normalisation, over `base`'s (a student normalises as its teacher: both see one batch). */
  imageMean?: readonly number[];
  imageStd?: readonly number[];
}

/**
 * The `torchvision` settings of a new `name` model for `foregroundClasses` classes (the background
 * is added): what `kdet train --preset <builder>` and `kdet distill --student <builder>` build,
 * and the demo's family mode with them.
 */
export function tvSettings(name: TvPresetName, foregroundClasses: number, o: TvSettingsOptions = {}): TvSettings {
  const preset = TV_PRESETS[name];
  const same = o.base && (o.base.preset === undefined || o.base.preset === name) ? o.base : undefined;
  const minSize = o.minSize ?? preset.minSize;
  return {
    numClasses: foregroundClasses + 1,
    norm: o.norm ?? same?.norm ?? 'batch',
    transform: {
      minSize,
      maxSize: o.maxSize ?? Math.max(preset.maxSize, minSize),
      imageMean: [...(o.imageMean ?? o.base?.transform.imageMean ?? IMAGENET_NORMALISATION.mean)],
      imageStd: [...(o.imageStd ?? o.base?.transform.imageStd ?? IMAGENET_NORMALISATION.std)],
      sizeDivisible: 32,
    },
    rpn: { ...(same?.rpn ?? preset.rpn), ...(o.rpnBatchSizePerImage ? { batchSizePerImage: o.rpnBatchSizePerImage } : {}) },
    box: { ...(same?.box ?? preset.box), ...(o.boxBatchSizePerImage ? { batchSizePerImage: o.boxBatchSizePerImage } : {}) },
  };
}

/** The preset with the settings the metadata carries (they override torchvision's defaults). */
function presetOf(arch: TvPresetName, tv: Pick<TvSettings, 'transform' | 'rpn' | 'box'>): TvPreset {
  return { ...TV_PRESETS[arch], rpn: tv.rpn, box: tv.box, minSize: tv.transform.minSize, maxSize: tv.transform.maxSize };
}

/**
 * torchvision's builder for `arch` with the given settings (weights random until loaded). Built
 * here rather than with tvFasterRCNN so that the RPN and box settings can be the checkpoint's.
 */
export function buildTvModel(arch: TvPresetName, tv: Pick<TvSettings, 'numClasses' | 'norm' | 'transform' | 'rpn' | 'box'>, opts: { trainableLayers?: number; seed?: number } = {}): TvFasterRCNN {
  const rng = new Rng(opts.seed ?? 0);
  const body = TV_PRESETS[arch].body;
  const layers = opts.trainableLayers !== undefined ? { trainableLayers: opts.trainableLayers } : {};
  const backbone: BackboneWithFPN = body === 'mobilenet_v3_large' ? mobilenetV3LargeFpnBackbone(rng, { norm: tv.norm, ...layers }) : resnetFpnBackbone(body, rng, { norm: tv.norm, ...layers });
  return new TvFasterRCNN(backbone, tv.numClasses, presetOf(arch, tv), rng, { imageMean: tv.transform.imageMean, imageStd: tv.transform.imageStd });
}

/** Where a family checkpoint comes from, for errors, and the sizes to run it at. */
export interface LoadTvCheckpointOptions {
  /** The file or URL, named in errors. */
  source?: string;
  /** What the checkpoint is to the caller ('--teacher', 'teacher'), named in errors. */
  what?: string;
  /**
   * GeneralizedRCNNTransform's sizes to build the model with instead of the checkpoint's (a
   * teacher that sees the student's batches: its detections drawn at the size it distils at).
   */
  minSize?: number;
  maxSize?: number;
}

/**
 * Read a family checkpoint from its bytes: the metadata checked, the model it describes built,
 * its weights loaded, in eval mode. A kdet-preset checkpoint (metadata `model`, not
 * `torchvision`) is refused with one line saying so. `meta` is the metadata as written (`data`,
 * `metrics`, … included), its transform sizes the checkpoint's even where `minSize` / `maxSize`
 * built the model at others.
 */
export function loadTvCheckpoint(bytes: Uint8Array, opts: LoadTvCheckpointOptions = {}): { model: TvFasterRCNN; meta: TvCheckpointMeta & Record<string, unknown> } {
  const source = opts.source ?? 'checkpoint';
  const what = opts.what ?? 'checkpoint';
  const raw = readCheckpointMetadata(bytes, source);
  if (!isImportedMeta(raw)) {
    throw new Error(`${what} '${source}' is a kdet ${String(raw.preset ?? 'detector')} model, not one of torchvision's Faster R-CNN family (kdet import --torchvision, or kdet train --preset <builder>)`);
  }
  const meta = checkImportedMeta(raw, what, source) as TvCheckpointMeta & Record<string, unknown>;
  const t = meta.torchvision.transform;
  const minSize = opts.minSize ?? t.minSize;
  const maxSize = opts.maxSize ?? Math.max(t.maxSize, minSize);
  if (!(minSize >= 1 && maxSize >= minSize)) throw new Error(`loadTvCheckpoint: sizes ${minSize}/${maxSize}: need 1 ≤ minSize ≤ maxSize`);
  const model = buildTvModel(meta.preset, { ...meta.torchvision, transform: { ...t, minSize, maxSize } });
  try {
    loadCheckpoint(bytes, model, undefined, source);
  } catch (e) {
    model.dispose();
    throw new Error(`${what} '${source}' does not fit the model it describes: ${(e as Error).message.replace(/^kdet\.\w+: /, '').replace(`${source}: `, '')}`);
  }
  return { model: model.eval(), meta };
}

/** Crop image i (h × w) out of a loader's NCHW batch padded to H × W. */
function cropImage(batch: DetectionBatch, i: number): ImageInput {
  const [, c, H, W] = batch.shape;
  const [h, w] = batch.sizes[i]!;
  const image = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      const from = ((i * c + ch) * H + y) * W;
      image.set(batch.images.subarray(from, from + w), (ch * h + y) * w);
    }
  }
  return { image, height: h, width: w };
}

/**
 * A TvFasterRCNN as kdet's detect and eval use a detector (evaluateDetector's EvaluableDetector):
 * `config.numClasses` counts the foreground classes only, as kdet's configs do. Images are run
 * one at a time: each one's detections do not depend on the others (torchvision pads with zeros
 * after normalising, and every stride divides 32), and at 800 × 1333 a batch of eight would not
 * fit in wasm's memory.
 */
export class ImportedDetector {
  readonly config: { numClasses: number };

  constructor(readonly model: TvFasterRCNN) {
    this.config = { numClasses: model.numClasses - 1 };
  }

  get training(): boolean {
    return this.model.training;
  }

  eval(): this {
    this.model.eval();
    return this;
  }

  train(on = true): this {
    this.model.train(on);
    return this;
  }

  async detectImages(images: readonly ImageInput[]): Promise<Detections[]> {
    const out: Detections[] = [];
    for (const image of images) out.push(...(await this.model.detect([image])));
    return out;
  }

  /** A loader's batch: each image cropped out of the padding, detections in its own pixels. */
  async detectBatch(batch: DetectionBatch): Promise<Detections[]> {
    return this.detectImages(batch.sizes.map((_, i) => cropImage(batch, i)));
  }

  dispose(): void {
    this.model.dispose();
  }
}
