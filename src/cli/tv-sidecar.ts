/**
 * The metadata sidecar of a torchvision-family export (`<out>/kdet-meta.json`, written by `kdet export
 * --torchvision` beside model.safetensors and model.pth): what a state_dict does not carry and
 * torchvision's builder needs to be the same model again — the builder, num_classes, the class
 * names, BatchNorm2d or FrozenBatchNorm2d, and the builder's keyword arguments (transform sizes,
 * mean/std, RPN and box settings) under torchvision's own names, so that in PyTorch
 *
 *     model = getattr(torchvision.models.detection, s["builder"])(
 *         weights=None, weights_backbone=None, num_classes=s["num_classes"], **s["builder_kwargs"])
 *
 * builds it. `kdet import --torchvision` reads it back (from `--meta`, or a kdet-meta.json beside the
 * weights), so that a model trained elsewhere returns with its classes and transform. A key left
 * out of builder_kwargs means the builder's default, as it does in torchvision.
 */
import { TV_PRESETS, type TvBoxConfig, type TvPresetName, type TvRPNConfig } from '../detection/tv-presets.js';
import { UsageError } from './args.js';
import type { TvCheckpointMeta, TvSettings } from './load-tv-model.js';

export const SIDECAR_NAME = 'kdet-meta.json';
export const SIDECAR_FORMAT = 'kdet-torchvision';
export const SIDECAR_VERSION = 1;

/** torchvision's FasterRCNN keyword arguments kdet's settings map onto. */
export interface TvBuilderKwargs {
  min_size: number;
  max_size: number;
  image_mean: number[];
  image_std: number[];
  rpn_pre_nms_top_n_train: number;
  rpn_pre_nms_top_n_test: number;
  rpn_post_nms_top_n_train: number;
  rpn_post_nms_top_n_test: number;
  rpn_nms_thresh: number;
  rpn_fg_iou_thresh: number;
  rpn_bg_iou_thresh: number;
  rpn_batch_size_per_image: number;
  rpn_positive_fraction: number;
  rpn_score_thresh: number;
  box_score_thresh: number;
  box_nms_thresh: number;
  box_detections_per_img: number;
  box_fg_iou_thresh: number;
  box_bg_iou_thresh: number;
  box_batch_size_per_image: number;
  box_positive_fraction: number;
  bbox_reg_weights: number[];
}

export interface TvSidecar {
  format: typeof SIDECAR_FORMAT;
  version: typeof SIDECAR_VERSION;
  builder: TvPresetName;
  /** torchvision's num_classes: the background included. */
  num_classes: number;
  /** num_classes − 1 names: torchvision label k is class_names[k − 1]. */
  class_names: string[];
  norm: 'batch' | 'frozen';
  builder_kwargs: TvBuilderKwargs;
  /** The kdet checkpoint it was exported from (for people reading it). */
  source?: string;
}

/** The builder kwargs of kdet's settings. */
function kwargsOf(tv: Pick<TvSettings, 'transform' | 'rpn' | 'box'>): TvBuilderKwargs {
  const { transform: t, rpn, box } = tv;
  return {
    min_size: t.minSize,
    max_size: t.maxSize,
    image_mean: [...t.imageMean],
    image_std: [...t.imageStd],
    rpn_pre_nms_top_n_train: rpn.preNmsTopN.training,
    rpn_pre_nms_top_n_test: rpn.preNmsTopN.testing,
    rpn_post_nms_top_n_train: rpn.postNmsTopN.training,
    rpn_post_nms_top_n_test: rpn.postNmsTopN.testing,
    rpn_nms_thresh: rpn.nmsThresh,
    rpn_fg_iou_thresh: rpn.fgIouThresh,
    rpn_bg_iou_thresh: rpn.bgIouThresh,
    rpn_batch_size_per_image: rpn.batchSizePerImage,
    rpn_positive_fraction: rpn.positiveFraction,
    rpn_score_thresh: rpn.scoreThresh,
    box_score_thresh: box.scoreThresh,
    box_nms_thresh: box.nmsThresh,
    box_detections_per_img: box.detectionsPerImg,
    box_fg_iou_thresh: box.fgIouThresh,
    box_bg_iou_thresh: box.bgIouThresh,
    box_batch_size_per_image: box.batchSizePerImage,
    box_positive_fraction: box.positiveFraction,
    bbox_reg_weights: [...box.bboxRegWeights],
  };
}

/** The sidecar of a family checkpoint's metadata. */
export function sidecarOf(meta: TvCheckpointMeta, source?: string): TvSidecar {
  const tv = meta.torchvision;
  return {
    format: SIDECAR_FORMAT,
    version: SIDECAR_VERSION,
    builder: meta.preset,
    num_classes: tv.numClasses,
    class_names: [...meta.classNames],
    norm: tv.norm,
    builder_kwargs: kwargsOf(tv),
    ...(source ? { source } : {}),
  };
}

/** The sidecar as a file's text: two-space JSON with each list on one line. */
export function formatSidecar(s: TvSidecar): string {
  return JSON.stringify(s, null, 2).replace(/\[[^[\]{}]*\]/g, (list) => list.replace(/\s*\n\s*/g, ' ').replace(/^\[ /, '[').replace(/ \]$/, ']')) + '\n';
}

/** What a sidecar gives `kdet import`: kdet's settings (the importer adds where they came from). */
export interface SidecarSettings {
  arch: TvPresetName;
  numClasses: number;
  classNames: string[];
  norm: 'batch' | 'frozen';
  transform: TvSettings['transform'];
  rpn: TvRPNConfig;
  box: TvBoxConfig;
}

const INTS = new Set(['min_size', 'max_size', 'rpn_pre_nms_top_n_train', 'rpn_pre_nms_top_n_test', 'rpn_post_nms_top_n_train', 'rpn_post_nms_top_n_test', 'rpn_batch_size_per_image', 'box_detections_per_img', 'box_batch_size_per_image']);
const VECTORS: Record<string, number> = { image_mean: 3, image_std: 3, bbox_reg_weights: 4 };

/**
 * A sidecar's JSON text, checked, as kdet's settings; one line naming the field if anything is
 * wrong. Keys left out of builder_kwargs take the builder's defaults.
 */
export function readSidecar(text: string, path: string): SidecarSettings {
  const bad = (why: string): never => {
    throw new UsageError(`kdet import: ${path}: ${why}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    bad(`not JSON (${(e as Error).message})`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return bad('not a JSON object');
  const s = doc as Partial<Record<keyof TvSidecar, unknown>>;
  if (s.format !== SIDECAR_FORMAT) bad(`"format" is ${JSON.stringify(s.format)}, not "${SIDECAR_FORMAT}" (the ${SIDECAR_NAME} that kdet export --torchvision writes)`);
  if (s.version !== SIDECAR_VERSION) bad(`"version" ${JSON.stringify(s.version)} is not one this kdet reads (${SIDECAR_VERSION})`);
  const archs = Object.keys(TV_PRESETS);
  if (typeof s.builder !== 'string' || !archs.includes(s.builder)) bad(`"builder" ${JSON.stringify(s.builder)} is not one of ${archs.join(', ')}`);
  const arch = s.builder as TvPresetName;
  const k = s.num_classes;
  if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 2) bad(`"num_classes" ${JSON.stringify(k)}: an integer ≥ 2 (the background included)`);
  const numClasses = k as number;
  const names = s.class_names;
  if (!Array.isArray(names) || !names.every((n) => typeof n === 'string' && n !== '')) bad('"class_names" must be a list of non-empty strings');
  const classNames = names as string[];
  if (classNames.length !== numClasses - 1) bad(`"class_names" has ${classNames.length} names, but "num_classes" ${numClasses} means ${numClasses - 1} besides the background`);
  const dup = classNames.find((n, i) => classNames.indexOf(n) !== i);
  if (dup !== undefined) bad(`"class_names" names '${dup}' twice`);
  if (s.norm !== 'batch' && s.norm !== 'frozen') bad(`"norm" ${JSON.stringify(s.norm)}: "batch" (BatchNorm2d) or "frozen" (FrozenBatchNorm2d)`);
  const given = (s.builder_kwargs ?? {}) as Record<string, unknown>;
  if (typeof given !== 'object' || Array.isArray(given)) bad('"builder_kwargs" must be an object');
  const preset = TV_PRESETS[arch];
  const defaults = kwargsOf({ transform: { minSize: preset.minSize, maxSize: preset.maxSize, imageMean: [0.485, 0.456, 0.406], imageStd: [0.229, 0.224, 0.225], sizeDivisible: 32 }, rpn: preset.rpn, box: preset.box });
  for (const [key, v] of Object.entries(given)) {
    if (!(key in defaults)) bad(`builder_kwargs: unknown key '${key}' (kdet reads ${Object.keys(defaults).join(', ')})`);
    const n = VECTORS[key];
    const ok = n ? Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && Number.isFinite(x)) : typeof v === 'number' && Number.isFinite(v) && (!INTS.has(key) || Number.isSafeInteger(v));
    if (!ok) bad(`builder_kwargs.${key} ${JSON.stringify(v)}: ${n ? `a list of ${n} numbers` : INTS.has(key) ? 'an integer' : 'a number'}`);
  }
  const kw = { ...defaults, ...given } as TvBuilderKwargs;
  if (!(kw.min_size >= 1 && kw.max_size >= kw.min_size && kw.max_size <= 8192)) bad(`builder_kwargs: min_size ${kw.min_size} and max_size ${kw.max_size} must satisfy 1 ≤ min_size ≤ max_size ≤ 8192`);
  if (!kw.image_std.every((x) => x > 0)) bad('builder_kwargs.image_std must be positive');
  return {
    arch,
    numClasses,
    classNames,
    norm: s.norm as 'batch' | 'frozen',
    transform: { minSize: kw.min_size, maxSize: kw.max_size, imageMean: kw.image_mean, imageStd: kw.image_std, sizeDivisible: 32 },
    rpn: {
      ...preset.rpn,
      preNmsTopN: { training: kw.rpn_pre_nms_top_n_train, testing: kw.rpn_pre_nms_top_n_test },
      postNmsTopN: { training: kw.rpn_post_nms_top_n_train, testing: kw.rpn_post_nms_top_n_test },
      nmsThresh: kw.rpn_nms_thresh,
      scoreThresh: kw.rpn_score_thresh,
      fgIouThresh: kw.rpn_fg_iou_thresh,
      bgIouThresh: kw.rpn_bg_iou_thresh,
      batchSizePerImage: kw.rpn_batch_size_per_image,
      positiveFraction: kw.rpn_positive_fraction,
    },
    box: {
      ...preset.box,
      scoreThresh: kw.box_score_thresh,
      nmsThresh: kw.box_nms_thresh,
      detectionsPerImg: kw.box_detections_per_img,
      bboxRegWeights: kw.bbox_reg_weights as unknown as TvBoxConfig['bboxRegWeights'],
      fgIouThresh: kw.box_fg_iou_thresh,
      bgIouThresh: kw.box_bg_iou_thresh,
      batchSizePerImage: kw.box_batch_size_per_image,
      positiveFraction: kw.box_positive_fraction,
    },
  };
}
