/**
 * `kdet distill --student <torchvision builder>`: a student of torchvision's Faster R-CNN family
 * (say fasterrcnn_mobilenet_v3_large_320_fpn) learns from a family teacher (imported by `kdet
 * import --torchvision`, or trained by `kdet train --preset <builder>`) through TvDistiller: the
 * paper's terms per FPN level, on the anchors both have, and on the student's ROIs through the
 * teacher's box head. Teacher and student see the same batches: the student's transform resizes
 * them, and the teacher's own min/max sizes are not used (said on the console).
 */
import { basename } from 'node:path';
import type { AnyDataset } from '../data/types.js';
import { defaultTrainerConfig } from '../detection/trainer.js';
import type { TvPresetName } from '../detection/tv-presets.js';
import { TV_PRESETS } from '../detection/tv-presets.js';
import type { DistillConfig } from '../distillation/config.js';
import { TvDistiller, tvDistillProblem } from '../distillation/tv-distiller.js';
import { Rng } from '../engine/random.js';
import { UsageError } from './args.js';
import { useBackend } from './backend.js';
import { describeData, isOwnData, type DataArg, type OwnDataSpec } from './data-spec.js';
import { prepareOutDir } from './files.js';
import { DirectoryFeatureStore, teacherCacheLine } from './teacher-cache-dir.js';
import { builtinData, readAnyDetectorFile, type DetectorCheckpointMeta } from './load-model.js';
import { buildImportedDetector, buildTvModel, ImportedDetector, type TvCheckpointMeta, type TvSettings } from './load-tv-model.js';
import { openDataSet, type DataSpec } from './presets.js';
import { runTraining } from './run-training.js';
import { planTvTraining } from './train-tv.js';
import { describeObjective, type Objective } from './distill-objective.js';
import { readTvResumeFile, resumedNorm } from './resume.js';
import { aloneArgs, readBaseline, reportComparison, shareThreads, startBaseline } from './compare-alone.js';
import type { NormKind } from '../models/conv-norm-act.js';
import { applyBodyFile, type BackboneFile } from './commands/pretrain.js';

/** The flags of `kdet distill` this path reads. */
export interface TvDistillFlags {
  teacher: string;
  student: string;
  steps: number;
  batch: number;
  lr: number;
  'eval-every': number;
  'test-size': number;
  'min-size': number;
  'max-size': number;
  'box-batch-size-per-image': number;
  seed: number;
  out: string;
  resume: string;
  'teacher-cache': string;
  'teacher-cache-mb': number;
  'compare-alone': boolean;
  backend: string;
  split: string;
  'val-split': string;
  images: string;
}

/** Opens a user's data for a distillation run (distill.ts's, checked against the teacher's classes). */
export type OpenOwnRunData = (dataArg: DataArg | null, valArg: DataArg | null, meta: DetectorCheckpointMeta) => Promise<{ train: AnyDataset; test: AnyDataset; spec: OwnDataSpec; valSpec?: OwnDataSpec }>;

export async function distillTv(f: TvDistillFlags, given: ReadonlySet<string>, objective: Objective, dataArg: DataArg | null, valArg: DataArg | null, backbone: BackboneFile | null, openOwn: OpenOwnRunData): Promise<void> {
  const preset = f.student as TvPresetName;
  const config: DistillConfig | null = objective.config;
  const problem = config ? tvDistillProblem(config) : null;
  if (problem) throw new UsageError(`kdet distill: ${problem} (student ${preset})`);
  const file = await readAnyDetectorFile(f.teacher, '--teacher');
  if (!('imported' in file)) {
    throw new UsageError(`kdet distill: --teacher '${f.teacher}' is a kdet ${String(file.meta.preset)} model; a ${preset} student learns from a torchvision-family teacher (kdet import --torchvision, or kdet train --preset <builder>)`);
  }
  const tmeta = file.meta as TvCheckpointMeta & { data?: unknown; valData?: unknown };
  const numClasses = tmeta.torchvision.numClasses - 1;
  // The data: --data, or what the teacher recorded (a kdet-trained family model records it).
  const recorded = tmeta.data as DataSpec | OwnDataSpec | undefined;
  const builtin = recorded ? builtinData({ ...(tmeta as unknown as DetectorCheckpointMeta), data: recorded }) : null;
  let train: AnyDataset | null = null;
  let test: AnyDataset | null = null;
  let spec: unknown;
  let valSpec: OwnDataSpec | undefined;
  const pseudoMeta = { ...(tmeta as unknown as DetectorCheckpointMeta), data: recorded as DataSpec, classNames: tmeta.classNames };
  if (dataArg && isOwnData(dataArg)) {
    const own = await openOwn(dataArg, valArg, pseudoMeta);
    ({ train, test, spec } = own);
    valSpec = own.valSpec;
  } else if (builtin) {
    spec = { ...builtin, testLength: f['test-size'] > 0 ? f['test-size'] : builtin.testLength };
  } else if (recorded) {
    const own = await openOwn(null, valArg, pseudoMeta);
    ({ train, test, spec } = own);
    valSpec = own.valSpec;
  } else {
    throw new UsageError(`kdet distill: --teacher '${f.teacher}' records no data (an imported model); give --data voc:<DIR> or coco:<FILE.json> with its ${numClasses} classes`);
  }
  const p = TV_PRESETS[preset];
  const minSize = given.has('min-size') ? f['min-size'] : p.minSize;
  const maxSize = given.has('max-size') ? f['max-size'] : Math.max(p.maxSize, minSize);
  if (minSize > maxSize) throw new UsageError(`kdet distill: --min-size ${minSize} is above --max-size ${maxSize}`);
  const plan = await planTvTraining({ preset, from: '', backbone, norm: (f.resume ? await resumedNorm(f.resume) : '') as '' | NormKind, trainableLayers: -1, minSize, maxSize, rpnBatchSizePerImage: 0, boxBatchSizePerImage: f['box-batch-size-per-image'] }, numClasses);
  plan.settings.transform.imageMean = tmeta.torchvision.transform.imageMean;
  plan.settings.transform.imageStd = tmeta.torchvision.transform.imageStd;
  if (f['compare-alone'] && f.resume) throw new UsageError('kdet distill: --compare-alone with --resume would start the student alone from step 0 beside a resumed run; resume each run on its own');
  if (f.resume && backbone) throw new UsageError('kdet distill: --resume continues a run from its own state; drop --backbone-from (the run recorded where it started)');
  const resume = f.resume ? await readTvResumeFile(f.resume, { preset, settings: plan.settings, optimizer: 'sgd', steps: f.steps, distill: config }) : undefined;
  await prepareOutDir('--out', f.out);
  if (f['teacher-cache']) await prepareOutDir('--teacher-cache', f['teacher-cache']);
  const store = f['teacher-cache'] ? new DirectoryFeatureStore(f['teacher-cache'], { float16: true, maxBytes: f['teacher-cache-mb'] * 2 ** 20 }) : null;
  const threads = f['compare-alone'] ? shareThreads() : null;
  await useBackend(f.backend, threads?.mine);
  if (!train) {
    train = await openDataSet(spec as DataSpec, 'train');
    test = await openDataSet(spec as DataSpec, 'test');
  }

  const teacher = buildImportedDetector(file).model;
  const student = buildTvModel(preset, plan.settings, { trainableLayers: plan.trainableLayers, seed: f.seed });
  let distiller: TvDistiller | null = null;
  try {
    const start = resume ? 'resumed from its saved state' : backbone ? applyBodyFile(backbone, student.backbone.body) : 'random weights';
    if (config) {
      try {
        distiller = new TvDistiller(student, teacher, config, new Rng(f.seed + 1), store);
      } catch (e) {
        throw new UsageError(`kdet distill: ${(e as Error).message.replace(/^kdet\.\w+: /, '')}`);
      }
    }
    const t = plan.settings.transform;
    console.log(`kdet distill: ${tmeta.preset} teacher → ${preset} student (${plan.settings.norm === 'batch' ? 'BatchNorm2d' : 'FrozenBatchNorm2d'}, ${plan.trainableLayers} trainable backbone layers; ${start}) on ${describeData(spec as DataSpec)}, backend ${f.backend}`);
    console.log(`both see the same batches, resized by the student's transform to ${t.minSize}/${t.maxSize} (the teacher's own ${tmeta.torchvision.transform.minSize}/${tmeta.torchvision.transform.maxSize} is not used)`);
    console.log(describeObjective(objective));
    if (config) console.log(`terms: ${JSON.stringify(config)}${distiller?.copiedHeads.length ? `; heads from the teacher: ${distiller.copiedHeads.length} tensors` : ''}`);
    const trainer = defaultTrainerConfig({ steps: f.steps, batchSize: f.batch, seed: f.seed, evalEvery: f['eval-every'] });
    trainer.schedule.lr = f.lr;
    const meta: TvCheckpointMeta & Record<string, unknown> = {
      kind: 'detector',
      preset,
      classNames: [...tmeta.classNames],
      data: spec,
      ...(valSpec ? { valData: valSpec } : {}),
      torchvision: { ...plan.settings, ...(backbone ? { backboneFrom: basename(backbone.path) } : {}) } as TvSettings,
      distill: config,
      teacher: f.teacher,
    };
    const d = distiller;
    // --compare-alone: the same student, seed, data and sizes without the teacher, in a second
    // process beside this one (after it, on one core).
    const baselineArgs = aloneArgs(f as unknown as Record<string, string | number | boolean>, ['min-size', 'max-size', 'box-batch-size-per-image'].filter((k) => given.has(k)));
    const baseline = threads && threads.baseline > 0 ? await startBaseline(baselineArgs, threads.baseline, f.out) : null;
    const result = await runTraining({
      trained: d ?? student,
      detector: new ImportedDetector(student),
      saved: student,
      train,
      test: test!,
      trainer,
      loss: d ? (images, targets, rng, step) => d.losses(images, targets, rng, step) : async (images, targets, rng) => (await student.forwardTrain(images, targets, rng)).losses,
      out: f.out,
      metadata: meta,
      evalImages: builtin ? (spec as DataSpec).testLength : test!.length,
      ...(resume ? { resume } : {}),
    });
    if (d) console.log(`anchors the teacher also has: ${(d.matchedAnchorFraction * 100).toFixed(1)} % of the student's`);
    if (d && store) console.log(teacherCacheLine(d.teacherCache, store));
    console.log(`done in ${result.seconds.toFixed(0)} s (${result.stepSeconds.toFixed(3)} s/step); student best mAP@0.5 ${result.best?.map50.toFixed(4) ?? 'n/a'}`);
    if (threads) {
      const code = baseline ? (console.log('waiting for the student alone …'), await baseline.exit) : await (await startBaseline(baselineArgs, threads.mine, f.out)).exit;
      const alone = await readBaseline(f.out, code);
      const m = (tmeta as { metrics?: { map50?: number; cocoAP?: number } }).metrics;
      await reportComparison(f.out, result, alone, m?.map50 !== undefined && m.cocoAP !== undefined ? { map50: m.map50, cocoAP: m.cocoAP } : null, objective.config ? objective.recipe : 'alone');
    }
  } finally {
    if (distiller) distiller.dispose();
    else student.dispose();
    teacher.dispose();
  }
}
