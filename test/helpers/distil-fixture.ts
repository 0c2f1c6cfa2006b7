import { Rng } from '../../src/engine/random.js';
import { SyntheticShapes } from '../../src/data/shapes.js';
import { defaultConfig, type FasterRCNNConfig } from '../../src/detection/config.js';
import { FasterRCNN } from '../../src/detection/faster-rcnn.js';
import { defaultTrainerConfig, Trainer } from '../../src/detection/trainer.js';
import { defaultDistillConfig, type DistillConfig } from '../../src/distillation/config.js';
import { Distiller } from '../../src/distillation/distiller.js';
import type { TeacherFeatureStore } from '../../src/distillation/teacher-cache.js';

/** A tiny teacher and student on synthetic 32² scenes, for tests of the distillation trainer. */
// Four scenes, two per step, six steps: three epochs, so (scene, flip) pairs come back.
export const data = new SyntheticShapes({ length: 4, height: 32, width: 32, minSize: 8, maxSize: 16, seed: 5 });

export function config(stages: number[][]): FasterRCNNConfig {
  const cfg = defaultConfig(data.classNames.length, { inChannels: 3, stages });
  cfg.anchors.sizes = [8, 16];
  cfg.roiHeads.representationSize = 16;
  cfg.roiHeads.sampler.batchSizePerImage = 16;
  cfg.rpn.preNmsTopN = { train: 100, test: 50 };
  cfg.rpn.postNmsTopN = { train: 30, test: 10 };
  return cfg;
}

/** Six distillation steps from fixed seeds; the per-step loss parts and the distiller's cache counts. */
export async function distil(store: TeacherFeatureStore | null, terms: Partial<DistillConfig> = {}) {
  const teacher = new FasterRCNN(config([[8], [16]]), new Rng(1));
  const student = new FasterRCNN(config([[4], [16]]), new Rng(2));
  const d = new Distiller(student, teacher, defaultDistillConfig({ adapter: '1x1', ...terms }), new Rng(3), store);
  const trainer = new Trainer(d, data, defaultTrainerConfig({ steps: 6, batchSize: 2, seed: 4 }), (images, targets, rng, step) => d.losses(images, targets, rng, step));
  const steps: Record<string, number>[] = [];
  await trainer.run({ onStep: (s) => void steps.push({ loss: s.loss, gradNorm: s.gradNorm, ...s.parts }) });
  const stats = { ...d.teacherCache };
  trainer.dispose();
  d.dispose();
  teacher.dispose();
  return { steps, stats };
}

