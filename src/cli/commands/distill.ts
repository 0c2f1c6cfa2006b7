import { Rng } from '../../engine/random.js';
import type { FasterRCNNConfig } from '../../detection/config.js';
import { FasterRCNN } from '../../detection/faster-rcnn.js';
import { defaultTrainerConfig } from '../../detection/trainer.js';
import { FEATURE_LOSSES, type DistillConfig } from '../../distillation/config.js';
import { DEFAULT_RECIPE, RECIPE_NAMES, RECIPES } from '../../distillation/recipes.js';
import { Distiller } from '../../distillation/distiller.js';
import { parseArgs, usage, UsageError, type FlagSpec } from '../args.js';
import { BACKEND_NAMES, useBackend } from '../backend.js';
import { prepareOutDir } from '../files.js';
import { DirectoryFeatureStore, teacherCacheLine } from '../teacher-cache-dir.js';
import { anySizeTransform, buildDetector, builtinData, readDetectorFile, type DetectorCheckpointMeta } from '../load-model.js';
import { checkSameClasses, describeData, isOwnData, openOwnData, parseDataArg, refuseOwnDataFlags, type DataArg, type OwnDataSpec } from '../data-spec.js';
import type { AnyDataset } from '../../data/types.js';
import { MODEL_PRESETS, modelConfig, openDataSet, type DataSpec } from '../presets.js';
import { readResumeFile } from '../resume.js';
import { runTraining, type TrainingResult } from '../run-training.js';
import { distillConfigProblem, RANGE, studentMismatch } from '../validate.js';
import { describeObjective, flagOf, objectiveFromFlags } from '../distill-objective.js';
import { aloneArgs, aloneDir, readBaseline, reportComparison, shareThreads, startBaseline } from '../compare-alone.js';
import { applyBackboneFile, readBackboneFile, type BackboneFile } from './pretrain.js';
import { distillTv, type OpenOwnRunData } from '../distill-tv.js';
import { TV_ARCHS } from '../load-tv-model.js';
import { isTvPreset } from '../train-tv.js';

export const distillFlags = {
  teacher: { type: 'string', default: '', help: 'teacher checkpoint (best.safetensors of kdet train)' },
  student: { type: 'string', default: 'student', choices: [...MODEL_PRESETS, ...TV_ARCHS], help: "student preset: kdet's own, or a torchvision builder (then the teacher is a torchvision-family model)" },
  'min-size': { type: 'int', default: 0, ...RANGE.atLeastOne, help: "torchvision students: the transform's min_size (default: the builder's)" },
  'max-size': { type: 'int', default: 0, ...RANGE.atLeastOne, help: "torchvision students: the transform's max_size (default: the builder's)" },
  'box-batch-size-per-image': { type: 'int', default: 0, ...RANGE.nonNegative, help: "torchvision students: ROIs sampled per image for the box head (0: the builder's 512)" },
  steps: { type: 'int', default: 3000, ...RANGE.atLeastOne, help: 'optimisation steps' },
  batch: { type: 'int', default: 4, ...RANGE.atLeastOne, help: 'images per step' },
  // 0.1, not the teacher's 0.02: in 1500 steps the student preset alone reaches mAP@0.5 0.458 at
  // 0.1 against 0.283 at 0.02, the paper's full method 0.400 against 0.330 (seed 0, 500 scenes;
  // results/probes/student-lr0.1-1500, full-lr0.1-1500, results/ablation-1500).
  lr: { type: 'number', default: 0.1, ...RANGE.positive, help: 'peak learning rate (0.1 suits the student preset; the teacher trained at 0.02)' },
  'eval-every': { type: 'int', default: 500, ...RANGE.nonNegative, help: 'evaluate every k steps (0: at the end only)' },
  'test-size': { type: 'int', default: 0, ...RANGE.nonNegative, help: 'held-out scenes (0: as recorded with the teacher)' },
  recipe: { type: 'string', default: DEFAULT_RECIPE, choices: RECIPE_NAMES, help: `the objective the flags below start from: ${RECIPES.map((r) => `${r.name} = ${r.description}`).join('; ')}` },
  alone: { type: 'boolean', default: false, help: 'train the student on the ground truth alone (no teacher term, no copied heads): the baseline a distillation is measured against' },
  'compare-alone': { type: 'boolean', default: false, help: 'also train the same student alone (same seed, schedule, data, backbone) into <out>/student-alone, on the other core when there is one, and report the difference' },
  mu: { type: 'number', ...RANGE.probability, help: "μ, hard-label share of the classification loss (default: the recipe's)" },
  temperature: { type: 'number', ...RANGE.positive, help: "T of the soft targets (default: the recipe's)" },
  'soft-t2': { type: 'boolean', help: "multiply the soft term by T² (Hinton et al. 2015; beyond the paper) (default: the recipe's)" },
  'bg-weight': { type: 'number', ...RANGE.nonNegative, help: "background weight of the soft loss (default: the recipe's)" },
  nu: { type: 'number', ...RANGE.nonNegative, help: "ν, weight of the teacher-bounded regression (default: the recipe's)" },
  margin: { type: 'number', ...RANGE.nonNegative, help: "m, margin of the bound (default: the recipe's)" },
  gamma: { type: 'number', ...RANGE.nonNegative, help: "γ, weight of the hint loss (default: the recipe's)" },
  lambda: { type: 'number', ...RANGE.nonNegative, help: "λ, weight of the regression terms (default: the recipe's)" },
  soft: { type: 'boolean', help: "soft-target classification term (default: the recipe's)" },
  regression: { type: 'string', choices: ['bounded', 'l2', 'none'], help: "teacher regression term (default: the recipe's)" },
  'reg-distance': { type: 'string', choices: ['l2', 'smooth-l1'], help: "distance in the teacher regression term (l2: the paper's; smooth-l1: capped gradient, beyond the paper) (default: the recipe's)" },
  hint: { type: 'boolean', help: "hint learning (default: the recipe's)" },
  adapter: { type: 'string', choices: ['1x1', '3x3', 'none'], help: "adaptation layer (default: the recipe's)" },
  'feature-loss': { type: 'string', choices: FEATURE_LOSSES, help: "what the feature term (weight γ, needs --hint) measures: hint = the paper's L2/L1 distance, pkd = PKD (Cao et al. 2022: per-channel standardised maps), cwd = CWD (Shu et al. 2021: per-channel spatial softmax, KL) (default: the recipe's)" },
  'cwd-tau': { type: 'number', ...RANGE.positive, help: "τ of --feature-loss cwd (default: the recipe's)" },
  'hint-norm': { type: 'string', choices: ['l2', 'l1'], help: "hint distance (default: the recipe's)" },
  'hint-reduction': { type: 'string', choices: ['mean', 'sum-per-image'], help: "hint normalisation (default: the recipe's)" },
  'fine-grained': { type: 'boolean', help: "fine-grained imitation mask (Wang et al. 2019) (default: the recipe's)" },
  psi: { type: 'number', ...RANGE.probability, help: "ψ of the imitation mask (default: the recipe's)" },
  'distill-warmup': { type: 'int', ...RANGE.nonNegative, help: "steps to ramp the distillation terms in (default: the recipe's)" },
  'heads-from-teacher': { type: 'boolean', help: "start the student's RPN and box heads from the teacher's weights (default: the recipe's)" },
  'heads-lr-scale': { type: 'number', ...RANGE.nonNegative, help: "learning-rate multiplier of the heads copied from the teacher (needs --heads-from-teacher) (default: the recipe's)" },
  'hint-first-steps': { type: 'int', ...RANGE.nonNegative, help: "train on γ·hint alone for the first k steps (FitNets' stage 1), then the configured terms (default: the recipe's)" },
  'distill-until': { type: 'int', ...RANGE.nonNegative, help: "the distillation terms for the first k steps only (0: throughout), then the ground truth alone (default: the recipe's)" },
  backend: { type: 'string', default: 'wasm', choices: BACKEND_NAMES, help: 'compute backend' },
  seed: { type: 'int', default: 0, ...RANGE.seed, help: 'seed' },
  out: { type: 'string', default: 'runs/distill', help: 'output folder' },
  resume: { type: 'string', default: '', help: 'resume from a last.safetensors' },
  'teacher-cache': { type: 'string', default: '', help: 'folder that keeps the teacher\'s features per image for later runs (kdet\'s presets: float32, results the same with or without; torchvision-family teachers: every FPN level in float16, results the same with a cold or a warm cache)' },
  'teacher-cache-mb': { type: 'int', default: 4096, ...RANGE.nonNegative, help: 'most megabytes the --teacher-cache folder may hold; past it, features of new images are computed and not kept (0: no bound)' },
  data: { type: 'string', default: '', help: "a user's data to distil on: voc:<DIR> or coco:<FILE.json> (default: the teacher's data); its classes must be the teacher's" },
  split: { type: 'string', default: '', help: 'VOC: ImageSets/Main/<split>.txt to train on' },
  'val-data': { type: 'string', default: '', help: 'held-out data (voc:<DIR> or coco:<FILE.json>; default: what the teacher recorded, or --val-split of --data)' },
  'val-split': { type: 'string', default: '', help: 'VOC: the held-out split' },
  images: { type: 'string', default: '', help: "COCO: the images' folder (default: the JSON's folder)" },
  'backbone-from': { type: 'string', default: '', help: "start the student's backbone from a backbone.safetensors of kdet pretrain (same preset as --student)" },
  'freeze-stages': { type: 'int', default: 0, ...RANGE.nonNegative, help: "with --backbone-from: keep the student's first k backbone stages fixed" },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

export interface DistillRun {
  teacher: FasterRCNN;
  teacherMeta: DetectorCheckpointMeta;
  teacherPath: string;
  studentPreset: string;
  /** null: train the student alone (no teacher terms). */
  distill: DistillConfig | null;
  steps: number;
  batch: number;
  lr: number;
  evalEvery: number;
  /** Save the trainer state every this many steps without evaluating (0 or absent: never). */
  checkpointEvery?: number;
  testLength: number;
  seed: number;
  out: string;
  resume?: Uint8Array;
  quiet?: boolean;
  /** End at the first saved state after this time (Date.now() ms); see TrainingRun.deadline. */
  deadline?: number;
  /** Folder of teacher features shared between runs (see DirectoryFeatureStore). */
  teacherCache?: string;
  /** Bound of the teacher cache folder in bytes (0 or absent: none). */
  teacherCacheBytes?: number;
  /** A user's data, opened by the caller; absent: the teacher's built-in scenes. */
  data?: OwnRunData;
  /** A pre-trained backbone for the student (kdet pretrain), checked against studentPreset. */
  backbone?: BackboneFile;
}

/** A user's training and held-out data for a distillation run, and what the checkpoint records. */
export interface OwnRunData {
  train: AnyDataset;
  test: AnyDataset;
  spec: OwnDataSpec;
  valSpec?: OwnDataSpec;
}

/** Train one student, with or without the teacher, and return its evaluation. */
export async function distillStudent(r: DistillRun): Promise<TrainingResult> {
  const builtin = builtinData(r.teacherMeta);
  const dataSpec = r.data ? r.data.spec : { ...builtin!, testLength: r.testLength };
  const train = r.data ? r.data.train : await openDataSet(dataSpec as DataSpec, 'train');
  const test = r.data ? r.data.test : await openDataSet(dataSpec as DataSpec, 'test');
  const studentConfig = studentModelConfig(r.studentPreset, r.teacherMeta);
  const student = new FasterRCNN(studentConfig, new Rng(r.seed));
  if (r.backbone) {
    const line = applyBackboneFile(r.backbone, student.backbone);
    if (!r.quiet) console.log(line);
  }
  const store = r.teacherCache ? new DirectoryFeatureStore(r.teacherCache, { maxBytes: r.teacherCacheBytes ?? 0 }) : null;
  const distiller = r.distill ? new Distiller(student, r.teacher, r.distill, new Rng(r.seed + 1), store) : null;
  const trainer = defaultTrainerConfig({ steps: r.steps, batchSize: r.batch, seed: r.seed, evalEvery: r.evalEvery, checkpointEvery: r.checkpointEvery ?? 0 });
  trainer.schedule.lr = r.lr;
  const result = await runTraining({
    trained: distiller ?? student,
    detector: student,
    saved: student,
    train,
    test,
    trainer,
    loss: distiller
      ? (images, targets, rng, step) => distiller.losses(images, targets, rng, step)
      : async (images, targets, rng) => (await student.forwardTrain(images, targets, rng)).losses,
    out: r.out,
    metadata: { kind: 'detector', preset: r.studentPreset, model: studentConfig, data: dataSpec, ...(r.data?.valSpec ? { valData: r.data.valSpec } : {}), classNames: r.teacherMeta.classNames, distill: r.distill, teacher: r.teacherPath, ...(r.backbone ? { backboneFrom: r.backbone.path, freezeStages: r.backbone.freezeStages } : {}) },
    evalImages: r.data ? test.length : r.testLength,
    ...(r.resume ? { resume: r.resume } : {}),
    ...(r.quiet ? { quiet: true } : {}),
    ...(r.deadline !== undefined ? { deadline: r.deadline } : {}),
  });
  if (distiller && store && !r.quiet) console.log(teacherCacheLine(distiller.teacherCache, store));
  (distiller ?? student).dispose();
  return result;
}

/**
 * The student's configuration: its preset, the teacher's classes, anchors and input transform
 * (`anySize`, a user's data: the one the teacher is given, see anySizeTransform).
 */
export function studentModelConfig(preset: string, teacherMeta: DetectorCheckpointMeta, anySize = false): FasterRCNNConfig {
  const transform = anySize ? anySizeTransform(teacherMeta) : teacherMeta.model.transform;
  const c = modelConfig(preset, teacherMeta.classNames.length, transform);
  c.anchors = teacherMeta.model.anchors;
  return c;
}

export async function distill(argv: string[]): Promise<void> {
  const { flags: f, given } = parseArgs('distill', argv, distillFlags, { positionals: 0 });
  if (f.help) return void console.log(usage('distill', 'Distil a student Faster R-CNN from a frozen teacher (Chen et al. 2017).', distillFlags));
  // Everything is checked before the backend or any model exists: flags, then files, then --out.
  if (!f.teacher) throw new UsageError('kdet distill: --teacher is required (a best.safetensors written by kdet train)');
  const objective = objectiveFromFlags(f, given);
  const distillConfig = objective.config;
  if (f['compare-alone'] && f.resume) throw new UsageError('kdet distill: --compare-alone with --resume would start the student alone from step 0 beside a resumed run; resume each run on its own');
  const problem = distillConfig ? distillConfigProblem(distillConfig, f.steps, flagOf) : null;
  if (problem) throw new UsageError(`kdet distill: ${problem}`);
  const tvOnly = ['min-size', 'max-size', 'box-batch-size-per-image'] as const;
  if (isTvPreset(f.student)) {
    const dataArg = f.data ? parseDataArg('distill', '--data', f.data) : null;
    const valArg = f['val-data'] ? parseDataArg('distill', '--val-data', f['val-data']) : null;
    if (dataArg && !isOwnData(dataArg)) throw new UsageError(`kdet distill: --data takes voc:<DIR> or coco:<FILE.json>; without it the student learns on the teacher's own data`);
    const backbone = await readBackboneFile('distill', f['backbone-from'], f['freeze-stages'], f.student, '--student');
    const open: OpenOwnRunData = async (d, v, m) => openOwnRunData(f, d, v, m);
    return distillTv(f, given, objective, dataArg, valArg, backbone, open);
  }
  for (const name of tvOnly) if (given.has(name)) throw new UsageError(`kdet distill: --${name} is for torchvision students (${TV_ARCHS.join(', ')}); --student ${f.student} is kdet's own`);
  const dataArg = f.data ? parseDataArg('distill', '--data', f.data) : null;
  const valArg = f['val-data'] ? parseDataArg('distill', '--val-data', f['val-data']) : null;
  if (dataArg && !isOwnData(dataArg)) throw new UsageError(`kdet distill: --data takes voc:<DIR> or coco:<FILE.json>; without it the student learns on the teacher's own data`);
  if (valArg && !isOwnData(valArg)) throw new UsageError(`kdet distill: --val-data takes voc:<DIR> or coco:<FILE.json>`);
  const teacherFile = await readDetectorFile(f.teacher, '--teacher');
  const meta = teacherFile.meta;
  const builtin = builtinData(meta);
  const ownRun = !!dataArg || !builtin;
  if (!ownRun) refuseOwnDataFlags('distill', f, ['split', 'val-data', 'val-split', 'images']);
  const misfit = studentMismatch(f.student, meta.model, distillConfig, flagOf);
  if (misfit) throw new UsageError(`kdet distill: ${misfit}${distillConfig?.headsFromTeacher && !given.has('heads-from-teacher') ? ` (recipe ${objective.recipe} copies the teacher's heads: give --no-heads-from-teacher, or --recipe paper)` : ''}`);
  const backboneFile = await readBackboneFile('distill', f['backbone-from'], f['freeze-stages'], f.student, '--student');
  if (builtin && !ownRun && builtin.trainLength < f.batch) throw new UsageError(`kdet distill: the teacher's data set has ${builtin.trainLength} training scenes, less than one batch (--batch ${f.batch})`);
  // A user's data is opened (every annotation, every image found) and checked against the
  // teacher's classes before any model exists.
  let data: OwnRunData | undefined;
  if (ownRun) data = await openOwnRunData(f, dataArg, valArg, meta);
  const studentConfig = studentModelConfig(f.student, meta, ownRun);
  const resume = f.resume ? await readResumeFile(f.resume, { preset: f.student, model: studentConfig, optimizer: defaultTrainerConfig().optimizer, steps: f.steps, ...(distillConfig ? { adapter: distillConfig.adapter } : {}) }) : undefined;
  await prepareOutDir('--out', f.out);
  if (f['teacher-cache']) await prepareOutDir('--teacher-cache', f['teacher-cache']);
  const threads = f['compare-alone'] ? shareThreads() : null;
  await useBackend(f.backend, threads?.mine);

  const teacher = buildDetector(teacherFile, { anySize: ownRun });
  const size = builtin?.size ?? studentConfig.transform?.minSize ?? 128;
  const studentFlops = new FasterRCNN(studentConfig, new Rng(0));
  console.log(`kdet distill: ${meta.preset} teacher → ${f.student} student (${(studentFlops.backbone.flops(size, size) / 1e9).toFixed(3)} vs ${(teacher.backbone.flops(size, size) / 1e9).toFixed(3)} GFLOPs backbone), backend ${f.backend}`);
  studentFlops.dispose();
  console.log(describeObjective(objective));
  if (distillConfig) console.log(`terms: ${JSON.stringify(distillConfig)}`);
  const baseline = threads && threads.baseline > 0 ? await startBaseline(aloneArgs(f), threads.baseline, f.out) : null;
  const run: DistillRun = {
    teacher, teacherMeta: meta, teacherPath: f.teacher, studentPreset: f.student, distill: distillConfig,
    steps: f.steps, batch: f.batch, lr: f.lr, evalEvery: f['eval-every'], testLength: f['test-size'] > 0 ? f['test-size'] : (builtin?.testLength ?? 0),
    seed: f.seed, out: f.out, ...(f['teacher-cache'] ? { teacherCache: f['teacher-cache'], teacherCacheBytes: f['teacher-cache-mb'] * 2 ** 20 } : {}), ...(resume ? { resume } : {}), ...(data ? { data } : {}), ...(backboneFile ? { backbone: backboneFile } : {}),
  };
  const result = await distillStudent(run);
  console.log(`done in ${result.seconds.toFixed(0)} s (${result.stepSeconds.toFixed(3)} s/step); student best mAP@0.5 ${result.best?.map50.toFixed(4) ?? 'n/a'} (teacher ${meta.metrics?.map50?.toFixed(4) ?? 'n/a'})`);
  if (!f['compare-alone']) return;
  let alone: TrainingResult;
  if (baseline) {
    console.log('waiting for the student alone …');
    alone = await readBaseline(f.out, await baseline.exit);
  } else {
    console.log('kdet distill --compare-alone: one core, so the student alone trains now');
    await prepareOutDir('--out', aloneDir(f.out));
    alone = await distillStudent({ ...run, distill: null, out: aloneDir(f.out), teacherCache: undefined });
  }
  const teacherScores = meta.metrics?.map50 !== undefined && meta.metrics.cocoAP !== undefined ? { map50: meta.metrics.map50, cocoAP: meta.metrics.cocoAP } : null;
  await reportComparison(f.out, result, alone, teacherScores, objective.config ? objective.recipe : 'alone');
  teacher.dispose();
}

/**
 * The user's data of a distillation: --data (or the teacher's own recorded data), its held-out
 * part (--val-data, --val-split, or what the teacher recorded), each checked to have exactly the
 * teacher's classes: a student learns the teacher's label space or nothing.
 */
async function openOwnRunData(
  f: { split: string; 'val-split': string; images: string; batch: number },
  dataArg: DataArg | null,
  valArg: DataArg | null,
  meta: DetectorCheckpointMeta,
): Promise<OwnRunData> {
  const source = dataArg && isOwnData(dataArg) ? dataArg : (meta.data as OwnDataSpec);
  const classes = { classNames: meta.classNames };
  const opened = await openOwnData(source, { ...(f.split ? { split: f.split } : {}), ...(f.images ? { images: f.images } : {}), ...(source.name === 'voc' ? classes : {}) });
  checkSameClasses('distill', opened.spec, meta.classNames, 'the teacher');
  if (opened.dataset.length < f.batch) throw new UsageError(`kdet distill: ${describeData(opened.spec)} has ${opened.dataset.length} images, less than one batch (--batch ${f.batch})`);
  const valSource = valArg && isOwnData(valArg) ? valArg : f['val-split'] && source.name === 'voc' ? source : !dataArg ? meta.valData : undefined;
  if (!valSource) {
    console.log(`kdet distill: no held-out data (--val-data or --val-split): the student is evaluated on its training images`);
    return { train: opened.dataset, test: opened.dataset, spec: opened.spec };
  }
  const val = await openOwnData(valSource, { ...(f['val-split'] ? { split: f['val-split'] } : {}), ...(valSource.name === 'voc' ? classes : {}) });
  checkSameClasses('distill', val.spec, meta.classNames, 'the teacher');
  return { train: opened.dataset, test: val.dataset, spec: opened.spec, valSpec: val.spec };
}
