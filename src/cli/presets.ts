import { fashionScenes } from '../data/fashion-scenes.js';
import { FASHION_CLASSES } from '../data/fashion.js';
import { SHAPE_CLASSES, SyntheticShapes } from '../data/shapes.js';
import type { Dataset } from '../data/types.js';
import { BACKBONE_PRESETS, type BackbonePreset } from '../detection/backbone.js';
import { defaultConfig, type FasterRCNNConfig } from '../detection/config.js';
import type { TransformConfig } from '../detection/transform.js';
import { UsageError } from './args.js';

export const DATA_SETS = ['fashion', 'shapes'] as const;
export type DataSetName = (typeof DATA_SETS)[number];

/** What a checkpoint records about its data, so `eval`/`distill` rebuild the same scenes. */
export interface DataSpec {
  name: DataSetName;
  size: number;
  trainLength: number;
  testLength: number;
  seed: number;
}

/**
 * The built-in data sets. Fashion-MNIST scenes use the subset embedded in the package so that
 * every machine generates identical scenes; shapes need nothing at all.
 */
export async function openDataSet(spec: DataSpec, split: 'train' | 'test'): Promise<Dataset> {
  const length = split === 'train' ? spec.trainLength : spec.testLength;
  if (spec.name === 'fashion') return fashionScenes({ split, length, seed: spec.seed, size: spec.size, source: 'embedded' });
  if (spec.name === 'shapes') {
    return new SyntheticShapes({ split, length, seed: spec.seed, height: spec.size, width: spec.size, minSize: Math.round(spec.size / 8), maxSize: Math.round(spec.size / 2) });
  }
  throw new UsageError(`--data must be one of ${DATA_SETS.join(', ')}, got '${spec.name}'`);
}

/** The number of classes of a built-in data set, known without opening it. */
export function dataSetClassCount(name: DataSetName): number {
  return name === 'fashion' ? FASHION_CLASSES.length : SHAPE_CLASSES.length;
}

export const MODEL_PRESETS = Object.keys(BACKBONE_PRESETS) as BackbonePreset[];

/** A preset's model; `transform` (a user's data of any size) adds the input transform. */
export function modelConfig(preset: string, numClasses: number, transform?: Partial<TransformConfig>): FasterRCNNConfig {
  if (!(preset in BACKBONE_PRESETS)) throw new UsageError(`--preset must be one of ${MODEL_PRESETS.join(', ')}, got '${preset}'`);
  const cfg = defaultConfig(numClasses, BACKBONE_PRESETS[preset as BackbonePreset], transform ? { transform } : {});
  if (preset === 'tiny') {
    cfg.roiHeads.representationSize = 64;
    cfg.roiHeads.sampler.batchSizePerImage = 64;
  }
  return cfg;
}
