/**
 * One picture of several samples of a data set, with their boxes and, when a
 * detector is given, its detections: what `kdet show-data` writes, so that a
 * person can look at the data and at what a model makes of it.
 */
import { renderSample, tile } from './draw.js';
import type { BoxesToDraw, RenderOptions } from './draw.js';
import type { RgbImage } from './image.js';
import type { AnyDataset, DetectionSample } from './types.js';

export interface PictureOptions extends Omit<RenderOptions, 'detections' | 'classNames'> {
  /** Which samples (default: the first `count`). */
  indices?: number[];
  count?: number;
  columns?: number;
  /** Detections to draw on each sample (e.g. a model's, after score filtering). */
  detect?: (sample: DetectionSample) => BoxesToDraw | Promise<BoxesToDraw>;
}

export async function datasetPicture(ds: AnyDataset, options: PictureOptions = {}): Promise<RgbImage> {
  const { indices, count = 16, columns, detect, ...render } = options;
  const which = indices ?? Array.from({ length: Math.min(count, ds.length) }, (_, i) => i);
  if (which.length === 0) throw new Error('datasetPicture: no samples to show');
  const tiles: RgbImage[] = [];
  for (const i of which) {
    const s = await ds.get(i);
    const detections = detect ? await detect(s) : undefined;
    tiles.push(renderSample(s, { ...render, classNames: ds.classNames, ...(detections ? { detections } : {}) }));
  }
  return tile(tiles, columns ?? Math.ceil(Math.sqrt(tiles.length)));
}
