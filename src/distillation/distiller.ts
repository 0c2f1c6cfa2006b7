import { check } from '../engine/errors.js';
import { tensor, zeros } from '../engine/ops/creation.js';
import { mul } from '../engine/ops/elementwise.js';
import { scope } from '../engine/scope.js';
import { noGrad } from '../engine/tape.js';
import type { Rng } from '../engine/random.js';
import type { Tensor } from '../engine/tensor.js';
import { BOX_LOSS_BETA, gatherRows, positiveDeltas, type FasterRCNN, type TargetBatch } from '../detection/faster-rcnn.js';
import { poolRois } from '../detection/roi-heads.js';
import { kaimingNormal } from '../nn/init.js';
import { Conv2d } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import type { Parameter } from '../nn/parameter.js';
import { featureLossProblem, type DistillConfig } from './config.js';
import { cwdLoss, pkdLoss } from './feature-losses.js';
import { imitationMask } from './imitation-mask.js';
import { distillClassification, distillRegression, hintLoss } from './losses.js';
import { imageKey, weightsKey, type CacheStats, type TeacherFeatureStore } from './teacher-cache.js';

/** The adaptation layer: student channels → teacher channels at the hint layer. */
export class Adapter extends Module {
  readonly conv: Conv2d | null;

  constructor(studentChannels: number, teacherChannels: number, kind: DistillConfig['adapter'], rng: Rng) {
    super();
    if (kind === 'none') {
      if (studentChannels !== teacherChannels) {
        throw new Error(`kdet.Adapter: hints without adaptation need equal channels, student has ${studentChannels}, teacher ${teacherChannels}`);
      }
      this.conv = null;
    } else {
      const k = kind === '3x3' ? 3 : 1;
      this.conv = this.addModule('conv', new Conv2d(studentChannels, teacherChannels, k, rng, { padding: (k - 1) / 2, init: (s, r) => kaimingNormal(s, r, 'fanIn') }));
    }
  }

  forward(x: Tensor): Tensor {
    return this.conv ? this.conv.forward(x) : x;
  }
}

/**
 * A student, a frozen teacher and the adapter, trained together on the paper's objective. The
 * adapter's parameters are trained with the student (they are part of this module); the
 * teacher's are not (it is held outside the module tree).
 */
export class Distiller extends Module {
  readonly adapter: Adapter;
  /** Teacher backbone features served from the store / computed, since construction. */
  readonly teacherCache: CacheStats = { hits: 0, misses: 0 };
  private teacherKey: string | null = null;

  constructor(
    readonly student: FasterRCNN,
    readonly teacher: FasterRCNN,
    readonly config: DistillConfig,
    rng: Rng,
    /** Where the teacher's backbone features are kept between batches and runs (none: recompute). */
    readonly featureStore: TeacherFeatureStore | null = null,
  ) {
    super();
    // Checked before anything is allocated, so a refused configuration leaks nothing.
    check(config.headsLrScale >= 0, 'Distiller', () => `headsLrScale must be ≥ 0, got ${config.headsLrScale}`);
    check(config.headsLrScale === 1 || config.headsFromTeacher, 'Distiller', () => `headsLrScale ${config.headsLrScale} applies to heads copied from the teacher; set headsFromTeacher too`);
    check(Number.isInteger(config.hintFirstSteps) && config.hintFirstSteps >= 0, 'Distiller', () => `hintFirstSteps must be an integer ≥ 0, got ${config.hintFirstSteps}`);
    check(Number.isInteger(config.distillUntilStep) && config.distillUntilStep >= 0, 'Distiller', () => `distillUntilStep must be an integer ≥ 0, got ${config.distillUntilStep}`);
    check(config.distillUntilStep === 0 || config.distillUntilStep > config.hintFirstSteps, 'Distiller', () => `distillUntilStep ${config.distillUntilStep} ends the distillation before hintFirstSteps ${config.hintFirstSteps} does`);
    const featureProblem = featureLossProblem(config);
    check(featureProblem === null, 'Distiller', () => featureProblem!);
    checkCompatible(student, teacher);
    if (config.headsFromTeacher) for (const p of copyHeads(teacher, student)) p.lrScale = config.headsLrScale;
    this.addModule('student', student);
    this.adapter = this.addModule('adapter', new Adapter(student.backbone.outChannels, teacher.backbone.outChannels, config.adapter, rng));
    teacher.setTrainable(false);
    teacher.eval();
  }

  /**
   * All loss terms of one batch, each already weighted, logged under its own name:
   * rpnCls, rpnReg, roiCls, roiReg (each with its distillation part folded in), hint (the
   * feature term, whichever featureLoss it is).
   */
  async losses(images: Tensor, targets: TargetBatch, rng: Rng, step: number): Promise<Record<string, Tensor>> {
    const cfg = this.config;
    if (step < cfg.hintFirstSteps) return this.hintStageLosses(images, targets);
    if (cfg.distillUntilStep > 0 && step >= cfg.distillUntilStep) return this.groundTruthLosses(images, targets, rng);
    const ramp = cfg.warmupSteps > 0 ? Math.min(1, step / cfg.warmupSteps) : 1;
    const s = await this.student.forwardTrain(images, targets, rng);
    const backend = images.backend;
    const rpnT = s.rpn.targets;
    const roiT = s.roi.targets;
    const classes = this.student.config.numClasses + 1;

    // The frozen teacher: no tape, and everything but what the losses read is freed at once.
    // Its heads run only when an output term reads them (hint-only variants skip them), and
    // nothing of it runs when no term is on.
    const heads = cfg.soft || cfg.regression !== 'none';
    const teacherFeatures = heads || cfg.hint ? await this.teacherFeatures(images) : null;
    const t = noGrad(() =>
      scope(() => {
        const features = teacherFeatures!;
        const rpn = heads ? this.teacher.rpnHead.forward(features) : null;
        const roi = heads ? this.teacher.boxHead.forward(poolRois(features, roiT.rois, this.teacher.stride, this.teacher.config.roiHeads)) : null;
        return {
          features: cfg.hint ? teacherFeatures : null,
          rpnLogits: rpn ? gatherRows(rpn.logits, rpnT.sampled) : null,
          rpnDeltas: rpn && rpnT.positive.length ? gatherRows(rpn.deltas, rpnT.positive) : null,
          roiLogits: roi ? roi.logits : null,
          roiDeltas: roi && roiT.positive.length ? positiveDeltas(roi.deltas, roiT.positive, roiT.labels, classes) : null,
        };
      }),
    );
    if (!t.features) teacherFeatures?.dispose();

    const out: Record<string, Tensor> = {};

    // RPN and ROI classification: μ·hard + (1−μ)·soft, background weighted in the soft term.
    const rpnLabels = tensor(rpnT.labels, [rpnT.labels.length], { dtype: 'int32', backend });
    const roiLabels = tensor(roiT.labels, [roiT.labels.length], { dtype: 'int32', backend });
    if (cfg.soft && t.rpnLogits && t.roiLogits) {
      const mu = 1 - (1 - cfg.mu) * ramp;
      const opts = { mu, temperature: cfg.temperature, scaleByTemperatureSquared: cfg.scaleSoftByT2 };
      out.rpnCls = distillClassification(gatherRows(s.rpn.logits, rpnT.sampled), t.rpnLogits, rpnLabels, { ...opts, classWeights: [cfg.backgroundWeight, 1] }).total;
      out.roiCls = distillClassification(s.roi.logits, t.roiLogits, roiLabels, { ...opts, classWeights: [cfg.backgroundWeight, ...Array(classes - 1).fill(1)] }).total;
    } else {
      out.rpnCls = s.losses.rpnCls;
      out.roiCls = s.losses.roiCls;
    }

    // Regression: smooth-L1 to the ground truth + ν·(teacher-bounded or plain-L2) term.
    const regression = (studentDeltas: Tensor, teacherDeltas: Tensor | null, targetsHost: Float32Array, count: number, plain: Tensor): Tensor => {
      if (cfg.regression === 'none' || !teacherDeltas || targetsHost.length === 0) return weighted(plain, cfg.lambda);
      const y = tensor(targetsHost, [targetsHost.length / 4, 4], { backend });
      const r = distillRegression(studentDeltas, teacherDeltas, y, {
        nu: cfg.nu * ramp,
        margin: cfg.margin,
        beta: BOX_LOSS_BETA,
        normaliser: count,
        mode: cfg.regression,
        distance: cfg.regressionDistance,
      });
      return weighted(r.total, cfg.lambda);
    };
    out.rpnReg = rpnT.positive.length
      ? regression(gatherRows(s.rpn.deltas, rpnT.positive), t.rpnDeltas, rpnT.targets, rpnT.sampled.length, s.losses.rpnReg)
      : weighted(s.losses.rpnReg, cfg.lambda);
    out.roiReg = roiT.positive.length
      ? regression(positiveDeltas(s.roi.deltas, roiT.positive, roiT.labels, classes), t.roiDeltas, roiT.targets, roiT.labels.length, s.losses.roiReg)
      : weighted(s.losses.roiReg, cfg.lambda);

    // Hint learning on the backbone output through the adaptation layer.
    if (cfg.hint && t.features) out.hint = mul(this.hint(s.features, t.features, targets), cfg.gamma * ramp);
    // A staged run logs the hint at every step, 0 after the stage where the objective has none.
    else if (cfg.hintFirstSteps > 0) out.hint = zeros([], { backend });
    return out;
  }

  /**
   * FitNets' stage 1: γ·hint alone, through the adapter. Only the student's backbone runs (the
   * detection losses would get weight 0); they are logged as 0 so every step has the same names.
   */
  private async hintStageLosses(images: Tensor, targets: TargetBatch): Promise<Record<string, Tensor>> {
    const features = this.student.features(images);
    const hint = mul(this.hint(features, await this.teacherFeatures(images), targets), this.config.gamma);
    const zero = () => zeros([], { backend: images.backend });
    return { rpnCls: zero(), rpnReg: zero(), roiCls: zero(), roiReg: zero(), hint };
  }

  /**
   * After distillUntilStep: the student's own detection losses (λ on the regression, as in the
   * objective), no teacher. The hint is logged as 0 where the objective has one, so every step
   * has the same names.
   */
  private async groundTruthLosses(images: Tensor, targets: TargetBatch, rng: Rng): Promise<Record<string, Tensor>> {
    const cfg = this.config;
    const s = await this.student.forwardTrain(images, targets, rng);
    const out: Record<string, Tensor> = { rpnCls: s.losses.rpnCls, rpnReg: weighted(s.losses.rpnReg, cfg.lambda), roiCls: s.losses.roiCls, roiReg: weighted(s.losses.roiReg, cfg.lambda) };
    if (cfg.hint || cfg.hintFirstSteps > 0) out.hint = zeros([], { backend: images.backend });
    return out;
  }

  /**
   * The unweighted feature term between the adapted student features and the teacher's: the
   * paper's hint (masked near objects when fine-grained), or PKD / CWD in its place.
   */
  private hint(studentFeatures: Tensor, teacherFeatures: Tensor, targets: TargetBatch): Tensor {
    const cfg = this.config;
    const adapted = this.adapter.forward(studentFeatures);
    if (cfg.featureLoss === 'pkd') return pkdLoss(adapted, teacherFeatures);
    if (cfg.featureLoss === 'cwd') return cwdLoss(adapted, teacherFeatures, cfg.cwdTau);
    let mask: Tensor | null = null;
    if (cfg.fineGrained) {
      const [n, , fh, fw] = studentFeatures.shape as [number, number, number, number];
      mask = tensor(imitationMask(this.student.anchorsFor(studentFeatures), targets.boxes, fh, fw, cfg.psi), [n, 1, fh, fw], { backend: studentFeatures.backend });
    }
    return hintLoss(adapted, teacherFeatures, { norm: cfg.hintNorm, reduction: cfg.hintReduction, mask });
  }

  /** The teacher's backbone features of a batch, from the feature store where it has them. */
  private async teacherFeatures(images: Tensor): Promise<Tensor> {
    const store = this.featureStore;
    // In a scope of their own, so the backbone's intermediate activations go at once.
    if (!store) return noGrad(() => scope(() => this.teacher.features(images)));
    const [n, c, h, w] = images.shape as [number, number, number, number];
    const [fh, fw] = this.teacher.backbone.outputSize(h, w);
    const per = this.teacher.backbone.outChannels * fh * fw;
    this.teacherKey ??= weightsKey(await Promise.all(this.teacher.backbone.parameters().map(async (p) => (await p.value.data()) as Float32Array)).then((ws) => [...ws, Float32Array.from([...this.teacher.config.imageMean, ...this.teacher.config.imageStd])]));
    const pixels = (await images.data()) as Float32Array;
    const keys = Array.from({ length: n }, (_, i) => `${this.teacherKey}/${imageKey(pixels.subarray(i * c * h * w, (i + 1) * c * h * w), [c, h, w])}`);
    const found = await Promise.all(keys.map((k) => store.get(k, per)));
    const missing = found.flatMap((f, i) => (f ? [] : [i]));
    this.teacherCache.hits += n - missing.length;
    this.teacherCache.misses += missing.length;
    if (missing.length) {
      // Only the images the store lacks go through the backbone, as one smaller batch.
      const sub = new Float32Array(missing.length * c * h * w);
      missing.forEach((i, j) => sub.set(pixels.subarray(i * c * h * w, (i + 1) * c * h * w), j * c * h * w));
      const subImages = tensor(sub, [missing.length, c, h, w], { backend: images.backend });
      const computed = noGrad(() => scope(() => this.teacher.features(subImages)));
      subImages.dispose();
      const values = (await computed.data()) as Float32Array;
      if (computed.shape.join() !== [missing.length, this.teacher.backbone.outChannels, fh, fw].join()) {
        throw new Error(`kdet.Distiller: teacher features are [${computed.shape}], expected [${[missing.length, this.teacher.backbone.outChannels, fh, fw]}]`);
      }
      computed.dispose();
      for (const [j, i] of missing.entries()) {
        found[i] = values.slice(j * per, (j + 1) * per);
        await store.put(keys[i]!, found[i]!);
      }
    }
    const all = new Float32Array(n * per);
    found.forEach((f, i) => all.set(f!, i * per));
    return tensor(all, [n, this.teacher.backbone.outChannels, fh, fw], { backend: images.backend });
  }
}

/** x·k, or x itself at k = 1 (no extra op on the tape). */
function weighted(x: Tensor, k: number): Tensor {
  return k === 1 ? x : mul(x, k);
}

/**
 * The student's RPN and box heads take copies of the teacher's weights (same names and shapes).
 * Returns the student's parameters that were overwritten.
 */
export function copyHeads(from: FasterRCNN, to: FasterRCNN): Parameter[] {
  const copied: Parameter[] = [];
  for (const [part, src, dst] of [
    ['RPN head', from.rpnHead, to.rpnHead],
    ['box head', from.boxHead, to.boxHead],
  ] as const) {
    const mine = new Map(dst.namedParameters());
    for (const [name, p] of src.namedParameters()) {
      const q = mine.get(name);
      if (!q || q.shape.join() !== p.shape.join()) {
        throw new Error(`kdet.Distiller: headsFromTeacher needs equal heads, but the ${part}'s '${name}' is [${p.shape}] in the teacher and ${q ? `[${q.shape}]` : 'missing'} in the student`);
      }
      q.assign(noGrad(() => mul(p.value, 1)));
      copied.push(q);
    }
  }
  return copied;
}

/** Student and teacher must share anchors and feature stride so that RPN outputs and hint maps align. */
export function checkCompatible(student: FasterRCNN, teacher: FasterRCNN): void {
  const a = student.config;
  const b = teacher.config;
  const why: string[] = [];
  if (student.stride !== teacher.stride) why.push(`feature stride ${student.stride} vs ${teacher.stride}`);
  if (JSON.stringify(a.anchors) !== JSON.stringify(b.anchors)) why.push(`anchors ${JSON.stringify(a.anchors)} vs ${JSON.stringify(b.anchors)}`);
  if (a.numClasses !== b.numClasses) why.push(`classes ${a.numClasses} vs ${b.numClasses}`);
  if (JSON.stringify(a.imageMean) !== JSON.stringify(b.imageMean) || JSON.stringify(a.imageStd) !== JSON.stringify(b.imageStd)) why.push('image normalisation differs');
  if (why.length) throw new Error(`kdet.Distiller: student and teacher are incompatible: ${why.join('; ')}`);
}
