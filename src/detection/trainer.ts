import { add } from '../engine/ops/elementwise.js';
import { concat, reshape } from '../engine/ops/layout.js';
import { scope } from '../engine/scope.js';
import { Rng } from '../engine/random.js';
import { valueAndGradsAsync, type LossWithAux } from '../engine/tape.js';
import type { Tensor } from '../engine/tensor.js';
import { BatchLoader, type LoaderOptions } from '../data/loader.js';
import type { AnyDataset, DetectionBatch } from '../data/types.js';
import { loadCheckpoint, saveCheckpoint } from '../nn/checkpoint.js';
import type { Module } from '../nn/module.js';
import { Adam, clipGradCoefficient, SGD, type Optimizer } from '../nn/optim.js';
import type { Parameter } from '../nn/parameter.js';
import { batchToTensors } from './batch.js';
import type { TargetBatch } from './faster-rcnn.js';
import { DetectionTransform } from './transform.js';
import { learningRate, type LrSchedule } from './schedule.js';

export interface TrainerConfig {
  steps: number;
  batchSize: number;
  schedule: LrSchedule;
  optimizer: 'sgd' | 'adam';
  momentum: number;
  weightDecay: number;
  /** Global gradient-norm bound; 0 disables clipping. */
  clipNorm: number;
  seed: number;
  /** Loader augmentation. */
  hflip: number;
  /** Evaluate every this many steps (0: never). */
  evalEvery: number;
  /**
   * Also save the trainer state (the 'last' checkpoint) every this many steps without evaluating
   * (0: only at evaluations and the end): a long run without evaluations stays resumable.
   */
  checkpointEvery: number;
}

export function defaultTrainerConfig(overrides: Partial<TrainerConfig> = {}): TrainerConfig {
  const steps = overrides.steps ?? 3000;
  return {
    steps,
    batchSize: 4,
    schedule: { lr: 0.02, warmupSteps: Math.min(200, Math.floor(steps / 10)), warmupFactor: 0.001, milestones: [Math.floor(steps * 0.75), Math.floor(steps * 0.92)], gamma: 0.1 },
    optimizer: 'sgd',
    momentum: 0.9,
    weightDecay: 1e-4,
    clipNorm: 10,
    seed: 0,
    hflip: 0.5,
    evalEvery: 0,
    checkpointEvery: 0,
    ...overrides,
  };
}

/** One optimisation step's report: the loss parts (host numbers), the rate and timings. */
export interface StepInfo {
  step: number;
  lr: number;
  loss: number;
  parts: Record<string, number>;
  gradNorm: number;
  seconds: number;
  images: number;
}

/** The loss of one batch, as named parts that are summed (with their weights already applied). */
export type StepLoss = (images: Tensor, targets: TargetBatch, rng: Rng, step: number) => Promise<Record<string, Tensor>>;

export interface TrainerHooks {
  onStep?(info: StepInfo): void | Promise<void>;
  /** Called every `evalEvery` steps and at the end; return a score to keep the best checkpoint. */
  onEval?(step: number): Promise<number | void>;
  /** Called with a checkpoint's bytes when it is the best so far (or the last). */
  onCheckpoint?(bytes: Uint8Array, kind: 'best' | 'last', step: number): Promise<void>;
  /**
   * Asked after each saved trainer state before the last step: true ends the run there, resumable
   * from that state (a machine's time running out); `run` then returns with `step` below `steps`.
   */
  shouldStop?(step: number): boolean;
}

export interface TrainerOptions {
  /**
   * The input transform every batch goes through before the loss: images resized and padded,
   * ground-truth boxes scaled, each image's size passed on for clipping. Default: the transform
   * of the model being trained (a FasterRCNN's, or the `student`'s of a module that wraps one,
   * as the distiller does); null: the loader's batches as they are.
   */
  transform?: DetectionTransform | null;
}

/**
 * The transform of a detector (kdet's FasterRCNN, torchvision's TvFasterRCNN: any module with a
 * DetectionTransform as `transform`), or of the detector a module trains as its `student`.
 */
export function transformOf(model: Module): DetectionTransform | null {
  const own = (m: unknown): DetectionTransform | null => {
    const t = (m as { transform?: unknown } | null)?.transform;
    return t instanceof DetectionTransform ? t : null;
  };
  return own(model) ?? own((model as { student?: unknown }).student);
}

/**
 * The training loop shared by plain detection training and distillation: seeded data order,
 * warm-up + step-decay schedule, SGD/Adam with weight decay, gradient clipping, periodic
 * evaluation, best/last checkpoints, and exact resume from a checkpoint (model, optimiser,
 * sampler RNG and data position).
 */
export class Trainer {
  readonly optimizer: Optimizer;
  readonly rng: Rng;
  readonly params: Parameter[];
  step = 0;
  best = -Infinity;
  /** What the loader's batches go through before the loss (see TrainerOptions.transform). */
  readonly transform: DetectionTransform | null;

  constructor(
    readonly model: Module,
    readonly data: AnyDataset,
    readonly config: TrainerConfig,
    readonly loss: StepLoss,
    readonly loaderOptions: Partial<LoaderOptions> = {},
    readonly metadata: Record<string, unknown> = {},
    options: TrainerOptions = {},
  ) {
    this.transform = options.transform !== undefined ? options.transform : transformOf(model);
    this.params = model.trainableParameters();
    const lr = config.schedule.lr;
    this.optimizer =
      config.optimizer === 'adam'
        ? new Adam(this.params, lr, { weightDecay: config.weightDecay })
        : new SGD(this.params, lr, { momentum: config.momentum, weightDecay: config.weightDecay });
    this.rng = new Rng(config.seed ^ 0x7a3c);
  }

  /** Restore model, optimiser, RNG and step from a checkpoint written by this trainer. */
  resume(bytes: Uint8Array, source = 'checkpoint'): void {
    const meta = loadCheckpoint(bytes, this.model, this.optimizer, source) as { trainer?: { step: number; rng: number[]; best: number } };
    if (!meta.trainer) throw new Error(`kdet.Trainer.resume: ${source} has no trainer state`);
    this.step = meta.trainer.step;
    this.rng.setState(meta.trainer.rng);
    this.best = meta.trainer.best ?? -Infinity;
  }

  async checkpoint(): Promise<Uint8Array> {
    return saveCheckpoint(this.model, { ...this.metadata, trainer: { step: this.step, rng: this.rng.getState(), best: this.best, config: this.config } }, this.optimizer);
  }

  private loader(): BatchLoader {
    return new BatchLoader(this.data, {
      batchSize: this.config.batchSize,
      shuffle: true,
      seed: this.config.seed,
      dropLast: true,
      hflip: this.config.hflip,
      ...this.loaderOptions,
    });
  }

  /** Batches from the current step on, epoch after epoch. */
  private async *batches(): AsyncGenerator<DetectionBatch> {
    const loader = this.loader();
    const per = loader.batchesPerEpoch;
    if (per === 0) throw new Error(`kdet.Trainer: the data set has ${this.data.length} images, fewer than one batch of ${this.config.batchSize}`);
    let epoch = Math.floor(this.step / per);
    let skip = this.step % per;
    for (;;) {
      for await (const b of loader.epoch(epoch)) {
        if (skip > 0) {
          skip--;
          continue;
        }
        yield b;
      }
      epoch++;
    }
  }

  async run(hooks: TrainerHooks = {}): Promise<void> {
    const cfg = this.config;
    const it = this.batches();
    while (this.step < cfg.steps) {
      const t0 = performance.now();
      const next = await it.next();
      const batch = next.value as DetectionBatch;
      const { images, targets } = batchToTensors(batch, this.transform);
      const lr = learningRate(cfg.schedule, this.step);
      this.optimizer.lr = lr;
      const step = this.step;
      const { value, grads, aux } = await valueAndGradsAsync(async (): Promise<LossWithAux> => {
        const parts = await this.loss(images, targets, this.rng, step);
        const loss = Object.values(parts).reduce((a, b) => add(a, b));
        return { loss, aux: parts };
      }, this.params.map((p) => p.value));
      images.dispose();
      // Clipping's factor goes into the optimiser's update (fused there for SGD) rather than into
      // a scaled copy of every gradient.
      const clip = cfg.clipNorm > 0 ? clipGradCoefficient(grads, cfg.clipNorm) : null;
      // The step's only read: the loss, its parts and the gradient norm packed into one tensor
      // (one GPU→CPU wait on WebGPU instead of one per scalar).
      const names = Object.keys(aux);
      const scalars = [value, ...names.map((k) => aux[k]!), ...(clip ? [clip.norm] : [])];
      const packed = scope(() => concat(scalars.map((t) => reshape(t, [1])), 0));
      const read = await packed.data();
      packed.dispose();
      const loss = read[0]!;
      const parts: Record<string, number> = {};
      names.forEach((k, i) => {
        parts[k] = read[1 + i]!;
        aux[k]!.dispose();
      });
      const gradNorm = clip ? read[1 + names.length]! : NaN;
      if (!Number.isFinite(loss)) {
        value.dispose();
        grads.forEach((g) => g.dispose());
        clip?.norm.dispose();
        clip?.coef.dispose();
        throw new Error(`kdet.Trainer: loss is ${loss} at step ${step} (parts ${JSON.stringify(parts)}); lower the learning rate or check the data`);
      }
      this.optimizer.apply(grads, clip ? { gradScale: clip.coef } : {});
      clip?.coef.dispose();
      value.dispose();
      clip?.norm.dispose();
      grads.forEach((g) => g.dispose());
      this.step++;
      await hooks.onStep?.({ step: this.step, lr, loss, parts, gradNorm, seconds: (performance.now() - t0) / 1000, images: batch.shape[0] });
      const last = this.step === cfg.steps;
      if (hooks.onEval && ((cfg.evalEvery > 0 && this.step % cfg.evalEvery === 0) || last)) {
        const score = await hooks.onEval(this.step);
        if (typeof score === 'number' && score > this.best) {
          this.best = score;
          await hooks.onCheckpoint?.(await this.checkpoint(), 'best', this.step);
        }
      }
      // The trainer state is also saved at every evaluation, so a long run stopped from outside
      // (a machine's session ending) resumes from its last evaluation with --resume, exactly.
      const evalStep = cfg.evalEvery > 0 && this.step % cfg.evalEvery === 0;
      const saveStep = (cfg.checkpointEvery ?? 0) > 0 && this.step % cfg.checkpointEvery === 0;
      if (last || evalStep || saveStep) {
        await hooks.onCheckpoint?.(await this.checkpoint(), 'last', this.step);
        if (!last && hooks.shouldStop?.(this.step)) break;
      }
    }
    await it.return(undefined);
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
