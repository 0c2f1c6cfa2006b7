import { Rng } from '../../engine/random.js';
import { FasterRCNN } from '../../detection/faster-rcnn.js';
import { defaultTrainerConfig } from '../../detection/trainer.js';
import { parseArgs, usage, UsageError, type FlagSpec } from '../args.js';
import { BACKEND_NAMES, useBackend } from '../backend.js';
import { prepareOutDir } from '../files.js';
import { DATA_SETS, dataSetClassCount, MODEL_PRESETS, modelConfig, openDataSet, type DataSpec } from '../presets.js';
import { readResumeFile } from '../resume.js';
import { runTraining } from '../run-training.js';
import { RANGE } from '../validate.js';

export const trainFlags = {
  data: { type: 'string', default: 'fashion', choices: DATA_SETS, help: 'built-in data set' },
  size: { type: 'int', default: 128, ...RANGE.size, help: 'image side in pixels' },
  'train-size': { type: 'int', default: 5000, ...RANGE.atLeastOne, help: 'training scenes (at least one batch)' },
  'test-size': { type: 'int', default: 500, ...RANGE.atLeastOne, help: 'held-out scenes for evaluation' },
  'data-seed': { type: 'int', default: 0, ...RANGE.seed, help: 'seed of the scene generator' },
  preset: { type: 'string', default: 'teacher', choices: MODEL_PRESETS, help: 'model preset' },
  steps: { type: 'int', default: 3000, ...RANGE.atLeastOne, help: 'optimisation steps' },
  batch: { type: 'int', default: 4, ...RANGE.atLeastOne, help: 'images per step' },
  lr: { type: 'number', default: 0.02, ...RANGE.positive, help: 'peak learning rate' },
  optimizer: { type: 'string', default: 'sgd', choices: ['sgd', 'adam'], help: 'optimiser' },
  'weight-decay': { type: 'number', default: 1e-4, ...RANGE.nonNegative, help: 'L2 weight decay' },
  'clip-norm': { type: 'number', default: 10, ...RANGE.nonNegative, help: 'gradient-norm bound (0: off)' },
  'eval-every': { type: 'int', default: 500, ...RANGE.nonNegative, help: 'evaluate every k steps (0: at the end only)' },
  backend: { type: 'string', default: 'wasm', choices: BACKEND_NAMES, help: 'compute backend' },
  seed: { type: 'int', default: 0, ...RANGE.seed, help: 'seed of initialisation, sampling and data order' },
  out: { type: 'string', default: 'runs/train', help: 'output folder' },
  resume: { type: 'string', default: '', help: 'resume from a last.safetensors' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

export async function train(argv: string[]): Promise<void> {
  const { flags } = parseArgs('train', argv, trainFlags, { positionals: 0 });
  if (flags.help) {
    console.log(usage('train', 'Train a Faster R-CNN on a built-in data set.', trainFlags));
    return;
  }
  // Everything is checked before the backend, the data or the model exist.
  if (flags['train-size'] < flags.batch) throw new UsageError(`kdet train: --train-size ${flags['train-size']} is less than one batch (--batch ${flags.batch})`);
  const dataSpec: DataSpec = { name: flags.data as DataSpec['name'], size: flags.size, trainLength: flags['train-size'], testLength: flags['test-size'], seed: flags['data-seed'] };
  const numClasses = dataSetClassCount(dataSpec.name);
  const config = modelConfig(flags.preset, numClasses);
  const trainer = defaultTrainerConfig({ steps: flags.steps, batchSize: flags.batch, optimizer: flags.optimizer as 'sgd' | 'adam', weightDecay: flags['weight-decay'], clipNorm: flags['clip-norm'], seed: flags.seed, evalEvery: flags['eval-every'] });
  trainer.schedule.lr = flags.lr;
  const resume = flags.resume ? await readResumeFile(flags.resume, { preset: flags.preset, model: config, optimizer: trainer.optimizer, steps: flags.steps }) : undefined;
  await prepareOutDir('--out', flags.out);
  await useBackend(flags.backend);

  const trainSet = await openDataSet(dataSpec, 'train');
  const testSet = await openDataSet(dataSpec, 'test');
  const model = new FasterRCNN(config, new Rng(flags.seed));
  console.log(`kdet train: ${flags.preset} (${(model.parameterCount() / 1e6).toFixed(2)} M parameters, ${(model.backbone.flops(flags.size, flags.size) / 1e9).toFixed(3)} GFLOPs backbone) on ${flags.data} ${flags.size}², backend ${flags.backend}`);
  const result = await runTraining({
    trained: model,
    detector: model,
    train: trainSet,
    test: testSet,
    trainer,
    loss: async (images, targets, rng) => (await model.forwardTrain(images, targets, rng)).losses,
    out: flags.out,
    metadata: { kind: 'detector', preset: flags.preset, model: config, data: dataSpec, classNames: trainSet.classNames },
    evalImages: flags['test-size'],
    ...(resume ? { resume } : {}),
  });
  console.log(`done in ${result.seconds.toFixed(0)} s (${result.stepSeconds.toFixed(3)} s/step); best mAP@0.5 ${result.best?.map50.toFixed(4) ?? 'n/a'}; checkpoints in ${flags.out}`);
}
