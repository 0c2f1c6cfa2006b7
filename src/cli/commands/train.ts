import { Rng } from '../../engine/random.js';
import { FasterRCNN } from '../../detection/faster-rcnn.js';
import { defaultTrainerConfig } from '../../detection/trainer.js';
import { parseArgs, usage, UsageError, type FlagSpec } from '../args.js';
import { BACKEND_NAMES, useBackend } from '../backend.js';
import { prepareOutDir } from '../files.js';
import { checkSameClasses, DATA_HELP, describeData, isOwnData, openOwnData, parseClasses, parseDataArg, refuseOwnDataFlags, type OwnDataSpec } from '../data-spec.js';
import { dataSetClassCount, MODEL_PRESETS, modelConfig, openDataSet, type DataSetName, type DataSpec } from '../presets.js';
import type { AnyDataset } from '../../data/types.js';
import { readResumeFile, readTvResumeFile, resumedNorm } from '../resume.js';
import { runTraining } from '../run-training.js';
import { RANGE } from '../validate.js';
import { applyBackboneFile, readBackboneFile } from './pretrain.js';
import { TV_PRESETS, type TvPresetName } from '../../detection/tv-presets.js';
import { TV_ARCHS } from '../load-tv-model.js';
import { isTvPreset, planTvTraining, trainTv } from '../train-tv.js';

export const trainFlags = {
  data: { type: 'string', default: 'fashion', help: DATA_HELP },
  split: { type: 'string', default: '', help: 'VOC: ImageSets/Main/<split>.txt to train on (default: trainval if present, else every annotation)' },
  'val-data': { type: 'string', default: '', help: 'held-out data to evaluate on (voc:<DIR> or coco:<FILE.json>; default with voc: the same folder\'s --val-split)' },
  'val-split': { type: 'string', default: '', help: 'VOC: the held-out split (e.g. val or test)' },
  images: { type: 'string', default: '', help: "COCO: the images' folder (default: the JSON's folder)" },
  classes: { type: 'string', default: '', help: 'VOC: the class names, comma separated (others refused; default: the names found, sorted)' },
  'min-size': { type: 'int', default: 128, min: 16, max: 2048, help: "own data and torchvision presets: each image's short side is resized to this (torchvision's min_size; a torchvision preset's own by default)" },
  'max-size': { type: 'int', default: 213, min: 16, max: 4096, help: 'own data and torchvision presets: ...and its long side to at most this (max_size)' },
  'invalid-boxes': { type: 'string', default: 'drop', choices: ['drop', 'error'], help: 'own data: a box with no area inside its image is dropped with a warning, or refused' },
  size: { type: 'int', default: 128, ...RANGE.size, help: 'built-in scenes: image side in pixels' },
  'train-size': { type: 'int', default: 5000, ...RANGE.atLeastOne, help: 'training scenes (at least one batch)' },
  'test-size': { type: 'int', default: 500, ...RANGE.atLeastOne, help: 'held-out scenes for evaluation' },
  'data-seed': { type: 'int', default: 0, ...RANGE.seed, help: 'seed of the scene generator' },
  preset: { type: 'string', default: 'teacher', choices: [...MODEL_PRESETS, ...TV_ARCHS], help: "model preset: kdet's own, or a torchvision builder (fasterrcnn_resnet50_fpn, fasterrcnn_mobilenet_v3_large[_320]_fpn)" },
  from: { type: 'string', default: '', help: 'torchvision presets: start from this checkpoint of the same builder (kdet import --torchvision, or an earlier run); other classes get a new box predictor' },
  norm: { type: 'string', default: '', choices: ['', 'batch', 'frozen'], help: "torchvision presets: BatchNorm2d trained in batch mode, or FrozenBatchNorm2d (default: --from's, else batch)" },
  'trainable-layers': { type: 'int', default: -1, min: -1, max: 6, help: "torchvision presets: trainable_backbone_layers (default: all with batch norm, 3 with frozen)" },
  'rpn-batch-size-per-image': { type: 'int', default: 0, ...RANGE.nonNegative, help: 'torchvision presets: anchors sampled per image for the RPN losses (0: the preset\'s 256)' },
  'box-batch-size-per-image': { type: 'int', default: 0, ...RANGE.nonNegative, help: 'torchvision presets: proposals sampled per image for the box head (0: the preset\'s 512)' },
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
  'backbone-from': { type: 'string', default: '', help: "start the backbone from a backbone.safetensors of kdet pretrain (same preset; for a torchvision builder, its body, with FrozenBatchNorm2d and 3 trainable layers unless --norm / --trainable-layers say otherwise)" },
  'freeze-stages': { type: 'int', default: 0, ...RANGE.nonNegative, help: 'with --backbone-from: keep the first k backbone stages fixed' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

export async function train(argv: string[]): Promise<void> {
  const { flags, given } = parseArgs('train', argv, trainFlags, { positionals: 0 });
  if (flags.help) {
    console.log(usage('train', 'Train a Faster R-CNN on the built-in scenes or on your own VOC / COCO data.', trainFlags));
    return;
  }
  // Everything is checked before the backend, the data or the model exist.
  const dataArg = parseDataArg('train', '--data', flags.data);
  const valArg = flags['val-data'] ? parseDataArg('train', '--val-data', flags['val-data']) : null;
  const own = isOwnData(dataArg);
  if (!own) {
    refuseOwnDataFlags('train', flags, ['split', 'val-data', 'val-split', 'images', 'classes']);
    if (flags['train-size'] < flags.batch) throw new UsageError(`kdet train: --train-size ${flags['train-size']} is less than one batch (--batch ${flags.batch})`);
  }
  if (valArg && !isOwnData(valArg)) throw new UsageError(`kdet train: --val-data takes voc:<DIR> or coco:<FILE.json>; the built-in scenes bring their own test split`);
  const classes = parseClasses('train', flags.classes);
  const tv = isTvPreset(flags.preset);
  if (!tv && flags['min-size'] > flags['max-size']) throw new UsageError(`kdet train: --min-size ${flags['min-size']} is above --max-size ${flags['max-size']}`);
  const tvOnly = ['from', 'norm', 'trainable-layers', 'rpn-batch-size-per-image', 'box-batch-size-per-image'] as const;
  if (!tv) for (const name of tvOnly) if (given.has(name)) throw new UsageError(`kdet train: --${name} is for the torchvision presets (${TV_ARCHS.join(', ')}); --preset ${flags.preset} is kdet's own`);
  if (tv && flags.resume && (flags.from || flags['backbone-from'])) throw new UsageError('kdet train: --resume continues a run from its own state; drop --from / --backbone-from (the run recorded where it started)');
  if (tv && flags.from && flags['backbone-from']) throw new UsageError(`kdet train: give --from (a whole detector) or --backbone-from (a pre-trained body), not both`);
  const backboneFile = await readBackboneFile('train', flags['backbone-from'], flags['freeze-stages'], flags.preset, '--preset');
  const builtinSpec: DataSpec | null = own ? null : { name: dataArg.name as DataSetName, size: flags.size, trainLength: flags['train-size'], testLength: flags['test-size'], seed: flags['data-seed'] };
  const trainer = defaultTrainerConfig({ steps: flags.steps, batchSize: flags.batch, optimizer: flags.optimizer as 'sgd' | 'adam', weightDecay: flags['weight-decay'], clipNorm: flags['clip-norm'], seed: flags.seed, evalEvery: flags['eval-every'] });
  trainer.schedule.lr = flags.lr;

  // A user's data is opened (every annotation read, every image found) before any model exists.
  let trainSet: AnyDataset;
  let testSet: AnyDataset;
  let dataSpec: DataSpec | OwnDataSpec;
  let valSpec: OwnDataSpec | undefined;
  let testWhat: string;
  if (own) {
    const boxes = { invalidBoxes: flags['invalid-boxes'] as 'drop' | 'error' };
    const opened = await openOwnData(dataArg, { ...boxes, ...(flags.split ? { split: flags.split } : {}), ...(flags.images ? { images: flags.images } : {}), ...(classes ? { classNames: classes } : {}) });
    trainSet = opened.dataset;
    dataSpec = opened.spec;
    if (trainSet.length < flags.batch) throw new UsageError(`kdet train: ${describeData(dataSpec)} has ${trainSet.length} images, less than one batch (--batch ${flags.batch})`);
    const heldOutArg = valArg ?? (flags['val-split'] && dataArg.name === 'voc' ? dataArg : null);
    if (heldOutArg && isOwnData(heldOutArg)) {
      const val = await openOwnData(heldOutArg, { ...boxes, ...(flags['val-split'] ? { split: flags['val-split'] } : {}), classNames: dataSpec.classNames });
      testSet = val.dataset;
      valSpec = val.spec;
      checkSameClasses('train', valSpec, dataSpec.classNames, 'the training data');
      testWhat = `${describeData(valSpec)}, ${testSet.length} images`;
    } else {
      testSet = trainSet;
      testWhat = `the training images (no --val-data or --val-split: not a held-out score)`;
    }
  } else {
    dataSpec = builtinSpec!;
  }
  const numClasses = own ? (dataSpec as OwnDataSpec).classNames.length : dataSetClassCount(dataSpec.name as DataSetName);
  // Once every check has passed, for either kind of preset: the output folder, the backend, and
  // the built-in scenes (a user's data was opened above).
  const startRun = async (): Promise<void> => {
    await prepareOutDir('--out', flags.out);
    await useBackend(flags.backend);
    if (own) return;
    trainSet = await openDataSet(builtinSpec!, 'train');
    testSet = await openDataSet(builtinSpec!, 'test');
    testWhat = `${builtinSpec!.testLength} held-out scenes`;
  };
  if (tv) {
    const preset = TV_PRESETS[flags.preset as TvPresetName];
    const minSize = given.has('min-size') ? flags['min-size'] : preset.minSize;
    const maxSize = given.has('max-size') ? flags['max-size'] : Math.max(preset.maxSize, minSize);
    if (minSize > maxSize) throw new UsageError(`kdet train: --min-size ${minSize} is above --max-size ${maxSize}`);
    const plan = await planTvTraining(
      { preset: flags.preset as TvPresetName, from: flags.from, backbone: backboneFile, norm: (flags.norm || (flags.resume ? await resumedNorm(flags.resume) : '')) as '' | 'batch' | 'frozen', trainableLayers: flags['trainable-layers'], minSize, maxSize, rpnBatchSizePerImage: flags['rpn-batch-size-per-image'], boxBatchSizePerImage: flags['box-batch-size-per-image'] },
      numClasses,
    );
    const resume = flags.resume ? await readTvResumeFile(flags.resume, { preset: flags.preset, settings: plan.settings, optimizer: trainer.optimizer, steps: flags.steps }) : undefined;
    await startRun();
    const describe = `${describeData(dataSpec)} ${own ? `${trainSet!.length} images` : `${flags.size}²`}; evaluated on ${testWhat!}`;
    await trainTv({ plan, preset: flags.preset as TvPresetName, train: trainSet!, test: testSet!, trainer, out: flags.out, evalImages: own ? testSet!.length : flags['test-size'], data: dataSpec, ...(valSpec ? { valData: valSpec } : {}), describe, backend: flags.backend, ...(resume ? { resume } : {}) });
    return;
  }
  const config = modelConfig(flags.preset, numClasses, own ? { minSize: flags['min-size'], maxSize: flags['max-size'] } : undefined);
  const resume = flags.resume ? await readResumeFile(flags.resume, { preset: flags.preset, model: config, optimizer: trainer.optimizer, steps: flags.steps }) : undefined;
  await startRun();
  const model = new FasterRCNN(config, new Rng(flags.seed));
  const backboneLine = backboneFile ? applyBackboneFile(backboneFile, model.backbone) : null;
  const input = own ? `${trainSet!.length} images (short side ${flags['min-size']}, long side ≤ ${flags['max-size']})` : `${flags.size}²`;
  console.log(`kdet train: ${flags.preset} (${(model.parameterCount() / 1e6).toFixed(2)} M parameters, ${(model.backbone.flops(flags.size, flags.size) / 1e9).toFixed(3)} GFLOPs backbone at 128²) on ${describeData(dataSpec)} ${input}, classes ${numClasses}, backend ${flags.backend}; evaluated on ${testWhat!}`);
  if (backboneLine) console.log(backboneLine);
  const result = await runTraining({
    trained: model,
    detector: model,
    saved: model,
    train: trainSet!,
    test: testSet!,
    trainer,
    loss: async (images, targets, rng) => (await model.forwardTrain(images, targets, rng)).losses,
    out: flags.out,
    metadata: { kind: 'detector', preset: flags.preset, model: config, data: dataSpec, ...(valSpec ? { valData: valSpec } : {}), classNames: [...trainSet!.classNames], ...(backboneFile ? { backboneFrom: backboneFile.path, freezeStages: backboneFile.freezeStages } : {}) },
    evalImages: own ? testSet!.length : flags['test-size'],
    ...(resume ? { resume } : {}),
  });
  console.log(`done in ${result.seconds.toFixed(0)} s (${result.stepSeconds.toFixed(3)} s/step); best mAP@0.5 ${result.best?.map50.toFixed(4) ?? 'n/a'}; checkpoints in ${flags.out}`);
}
