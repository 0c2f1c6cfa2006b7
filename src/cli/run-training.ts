import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AnyDataset, DetectionTarget } from '../data/types.js';
import type { ImageDetections } from '../eval/types.js';
import { evaluateDetector, type DetectorMetrics, type EvaluableDetector } from '../detection/evaluate.js';
import { Trainer, type StepLoss, type TrainerConfig } from '../detection/trainer.js';
import type { Module } from '../nn/module.js';
import { saveCheckpoint } from '../nn/checkpoint.js';
import { UsageError } from './args.js';
import { writeAtomic } from './files.js';
import { Progress } from './progress.js';
import { trainingReport } from './report.js';

export interface TrainingRun {
  /** The module the optimiser trains (the detector, or the distiller wrapping the student). */
  trained: Module;
  /** The detector that is evaluated. */
  detector: EvaluableDetector;
  /** The module whose weights best.safetensors holds (the detector itself, or the model it wraps). */
  saved: Module;
  train: AnyDataset;
  test: AnyDataset;
  trainer: TrainerConfig;
  loss: StepLoss;
  out: string;
  /** Stored in the saved detector's checkpoint (config, data spec, class names). */
  metadata: Record<string, unknown>;
  evalImages: number;
  resume?: Uint8Array;
  quiet?: boolean;
  /**
   * A time (Date.now() milliseconds): the run ends at its first saved trainer state after it,
   * resumable from <out>/last.safetensors, without a final evaluation.
   */
  deadline?: number;
}

export interface TrainingResult {
  best: DetectorMetrics | null;
  last: DetectorMetrics | null;
  seconds: number;
  stepSeconds: number;
  /** Set when the run ended at its deadline: the step of the saved state it resumes from. */
  stoppedAt?: number;
}

/**
 * Train with a live progress bar, evaluate every k steps on the held-out split, keep the best
 * detector checkpoint (by mAP@0.5) and the last trainer checkpoint (for --resume), and log every
 * step as JSON lines in <out>/log.jsonl.
 */
export async function runTraining(run: TrainingRun): Promise<TrainingResult> {
  await mkdir(run.out, { recursive: true });
  const trainer = new Trainer(run.trained, run.train, run.trainer, run.loss, {}, run.metadata);
  if (run.resume) {
    try {
      trainer.resume(run.resume, 'resume checkpoint');
    } catch (e) {
      trainer.dispose();
      throw new UsageError(`--resume: ${(e as Error).message.replace(/^kdet\.[\w.]+: /, '')}`);
    }
  }
  const progress = new Progress(run.trainer.steps, run.quiet ? () => {} : undefined);
  const log = join(run.out, 'log.jsonl');
  let best: DetectorMetrics | null = null;
  let last: DetectorMetrics | null = null;
  let lastEval: Awaited<ReturnType<typeof evaluateDetector>> | null = null;
  let stepTime = 0;
  const started = performance.now();
  const startStep = trainer.step;
  const running = trainer.run({
    onStep: async (s) => {
      stepTime += s.seconds;
      progress.update(s.step, s.parts, s.images, `lr ${s.lr.toExponential(2)}`);
      await appendFile(log, JSON.stringify({ step: s.step, lr: s.lr, loss: s.loss, ...s.parts, gradNorm: s.gradNorm, seconds: s.seconds }) + '\n');
    },
    onEval: async (step) => {
      const m = await evaluateDetector(run.detector, run.test, { limit: run.evalImages });
      lastEval = m;
      last = { map50: m.map50, map50voc07: m.map50voc07, cocoAP: m.cocoAP, perClassAP: m.perClassAP, images: m.images };
      progress.log(`eval @${step}: mAP@0.5 ${m.map50.toFixed(4)} (VOC07 ${m.map50voc07.toFixed(4)}) COCO AP ${m.cocoAP.toFixed(4)} on ${m.images} images`);
      await appendFile(log, JSON.stringify({ step, eval: last }) + '\n');
      if (!best || m.map50 > best.map50) {
        best = last;
        await writeAtomic(join(run.out, 'best.safetensors'), await saveCheckpoint(run.saved, { ...run.metadata, step, metrics: last }));
      }
      return m.map50;
    },
    onCheckpoint: async (bytes, kind) => {
      if (kind === 'last') await writeAtomic(join(run.out, 'last.safetensors'), bytes);
    },
    ...(run.deadline !== undefined ? { shouldStop: () => Date.now() >= run.deadline! } : {}),
  });
  try {
    await running;
  } catch (e) {
    // A loss that overflows is the learning rate's or the data's doing, not a bug: one line.
    if (e instanceof Error && /^kdet\.Trainer: loss is /.test(e.message)) {
      progress.done();
      throw new UsageError(e.message.replace(/^kdet\.Trainer: /, ''));
    }
    throw e;
  }
  progress.done();
  trainer.dispose();
  const seconds = (performance.now() - started) / 1000;
  const result: TrainingResult = { best, last, seconds, stepSeconds: stepTime / Math.max(1, trainer.step - startStep) };
  if (trainer.step < run.trainer.steps) return { ...result, stoppedAt: trainer.step };
  await writeAtomic(join(run.out, 'metrics.json'), JSON.stringify(result, null, 2) + '\n');
  await writeReport(run, result, lastEval);
  return result;
}

/** <out>/report.html: loss curves per term, accuracy over time, PR per class, sample detections. */
async function writeReport(run: TrainingRun, result: TrainingResult, lastEval: { detections: ImageDetections[]; targets: DetectionTarget[] } | null): Promise<void> {
  const samples = await Promise.all(Array.from({ length: Math.min(6, run.test.length) }, (_, i) => run.test.get(i)));
  const best = result.best as DetectorMetrics | null;
  const html = trainingReport({
    title: `kdet ${run.metadata.distill ? 'distill' : 'train'}: ${String(run.metadata.preset ?? 'detector')} → ${run.out}`,
    facts: {
      command: typeof process !== 'undefined' ? `kdet ${process.argv.slice(2).join(' ')}` : 'kdet',
      steps: run.trainer.steps,
      'batch size': run.trainer.batchSize,
      'seconds per step': result.stepSeconds.toFixed(3),
      'wall time (s)': result.seconds.toFixed(0),
      'best mAP@0.5': best ? best.map50.toFixed(4) : 'n/a',
      'best COCO AP': best ? best.cocoAP.toFixed(4) : 'n/a',
      'test scenes': run.evalImages,
      written: new Date().toISOString(),
    },
    log: await readFile(join(run.out, 'log.jsonl'), 'utf8').catch(() => ''),
    classNames: run.train.classNames,
    lastEval,
    samples,
  });
  await writeAtomic(join(run.out, 'report.html'), html);
}
