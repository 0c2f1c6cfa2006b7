/**
 * The paper's objective on torchvision's FPN detectors: a student TvFasterRCNN (say
 * MobileNetV3-Large-320-FPN) learns from a frozen teacher TvFasterRCNN (say ResNet-FPN) through
 *
 * - hints per FPN level, each student level through its own adapter (1×1 by default) to the
 *   teacher level of the same spatial size (the same name where both have it); the hint term is
 *   the mean over the matched levels;
 * - the RPN's weighted soft cross-entropy and teacher-bounded regression on the anchors both
 *   detectors have: torchvision's RPN has one objectness logit o per anchor, so the two-way soft
 *   cross-entropy is taken over the pair [0, o] (softmax([0, o]) = [1 − σ(o), σ(o)], background
 *   first, w_bg on it). Anchors are matched as boxes: a student anchor whose box the teacher's
 *   generator also makes (same size, ratio and centre) takes the teacher's outputs there; the
 *   others get the ground-truth terms only;
 * - the box head's soft cross-entropy and bounded regression on the student's own sampled ROIs,
 *   pooled from the teacher's levels by the teacher's MultiScaleRoIAlign and classified by the
 *   teacher's head, per box.
 *
 * The ground-truth losses are torchvision's (TvFasterRCNN.forwardTrain); μ, T, w_bg, λ, ν, m, γ
 * and the switches mean what they mean for kdet's own presets (DistillConfig).
 */
import { check } from '../engine/errors.js';
import { tensor, zerosLike } from '../engine/ops/creation.js';
import { add, div, mul } from '../engine/ops/elementwise.js';
import { concat } from '../engine/ops/layout.js';
import { sum } from '../engine/ops/reduce.js';
import type { Rng } from '../engine/random.js';
import { scope } from '../engine/scope.js';
import { noGrad } from '../engine/tape.js';
import type { Tensor } from '../engine/tensor.js';
import { BOX_LOSS_BETA, gatherRows, positiveDeltas, type TargetBatch } from '../detection/faster-rcnn.js';
import type { Boxes } from '../detection/boxes.js';
import type { FeatureMaps } from '../detection/fpn.js';
import type { TvFasterRCNN } from '../detection/tv-faster-rcnn.js';
import { ModuleList } from '../models/module-list.js';
import { Module } from '../nn/module.js';
import type { Parameter } from '../nn/parameter.js';
import { featureLossProblem, type DistillConfig } from './config.js';
import { Adapter } from './distiller.js';
import { cwdLoss, pkdLoss } from './feature-losses.js';
import { boundedRegression, hintLoss, teacherL2Regression, weightedSoftCrossEntropy } from './losses.js';
import type { CacheStats, TeacherFeatureStore } from './teacher-cache.js';
import { TvTeacherCache } from './tv-teacher-cache.js';

/** For each student anchor, the index of the teacher anchor with the same box, or −1. */
export function matchAnchors(student: Boxes, teacher: Boxes): Int32Array {
  // Anchors are generated from integer strides and rounded base sizes: equal boxes are equal to
  // well below 1e-3 px in both, so a key of coordinates in thousandths of a pixel matches them.
  const key = (b: Boxes, i: number) => `${Math.round(b[4 * i]! * 1000)},${Math.round(b[4 * i + 1]! * 1000)},${Math.round(b[4 * i + 2]! * 1000)},${Math.round(b[4 * i + 3]! * 1000)}`;
  const index = new Map<string, number>();
  for (let j = teacher.length / 4 - 1; j >= 0; j--) index.set(key(teacher, j), j); // the first of equal boxes wins
  return Int32Array.from({ length: student.length / 4 }, (_, i) => index.get(key(student, i)) ?? -1);
}

/**
 * For each student level (in order), the teacher level it imitates: the same name if that level
 * has the same spatial size, else the first teacher level of that size; null where none has it.
 */
export function matchLevels(student: FeatureMaps, teacher: FeatureMaps): (string | null)[] {
  const size = (t: Tensor) => `${t.shape[2]}x${t.shape[3]}`;
  return [...student].map(([name, s]) => {
    const same = teacher.get(name);
    if (same && size(same) === size(s)) return name;
    for (const [tn, t] of teacher) if (size(t) === size(s)) return tn;
    return null;
  });
}

/** The options of DistillConfig these models do not have yet; null when the config is usable. */
export function tvDistillProblem(config: DistillConfig): string | null {
  if (config.fineGrained) return 'fine-grained imitation (fineGrained) is not available for torchvision models yet';
  if (config.hintFirstSteps > 0) return 'a hint-only first stage (hintFirstSteps) is not available for torchvision models yet';
  if (config.distillUntilStep > 0) return 'distillUntilStep is not available for torchvision models yet';
  if (config.headsLrScale < 0) return `headsLrScale must be ≥ 0, got ${config.headsLrScale}`;
  if (config.headsLrScale !== 1 && !config.headsFromTeacher) return `headsLrScale ${config.headsLrScale} applies to heads copied from the teacher; set headsFromTeacher too`;
  return null;
}

export class TvDistiller extends Module {
  /** One adapter per student FPN level, in level order (`adapters.0`, `adapters.1`, …). */
  readonly adapters: ModuleList<Adapter>;
  /** With headsFromTeacher: the student's parameters that started as the teacher's. */
  readonly copiedHeads: readonly string[] = [];
  private readonly cache: TvTeacherCache | null;
  /** Student anchor → teacher anchor, per anchor layout (padded size and levels). */
  private readonly anchorMaps = new Map<string, Int32Array>();

  constructor(
    readonly student: TvFasterRCNN,
    readonly teacher: TvFasterRCNN,
    readonly config: DistillConfig,
    rng: Rng,
    /** Keeps the teacher's levels per image across runs (tv-teacher-cache.ts: float16). */
    featureStore: TeacherFeatureStore | null = null,
  ) {
    super();
    this.cache = featureStore ? new TvTeacherCache(teacher, featureStore) : null;
    const why = tvDistillProblem(config) ?? featureLossProblem(config);
    check(why === null, 'TvDistiller', () => why!);
    check(student.numClasses === teacher.numClasses, 'TvDistiller', () => `student and teacher must have the same classes, got ${student.numClasses - 1} and ${teacher.numClasses - 1}`);
    const norm = (m: TvFasterRCNN) => JSON.stringify([m.transform.config!.mean, m.transform.config!.std]);
    check(norm(student) === norm(teacher), 'TvDistiller', () => `student and teacher must normalise images alike (they see the same batch), got ${norm(student)} and ${norm(teacher)}`);
    const weights = (m: TvFasterRCNN) => JSON.stringify(m.roiHeads.boxCoder.weights);
    check(weights(student) === weights(teacher), 'TvDistiller', () => `the box heads must encode boxes alike to compare their deltas, got weights ${weights(student)} and ${weights(teacher)}`);
    if (config.headsFromTeacher) {
      const copied = copyEqualHeads(teacher, student);
      for (const p of copied.params) p.lrScale = config.headsLrScale;
      this.copiedHeads = copied.names;
    }
    this.addModule('student', student);
    const levels = student.backbone.body.outChannels.length + (student.backbone.fpn.extraBlocks ? 1 : 0);
    this.adapters = this.addModule('adapters', new ModuleList(Array.from({ length: levels }, () => new Adapter(student.backbone.outChannels, teacher.backbone.outChannels, config.adapter, rng))));
    teacher.setTrainable(false);
    teacher.eval();
  }

  /**
   * All loss terms of one batch of [0, 1] images, each weighted, under kdet's names: rpnCls,
   * rpnReg, roiCls, roiReg (each with its distillation part folded in) and hint.
   */
  async losses(images: Tensor, targets: TargetBatch, rng: Rng, step: number): Promise<Record<string, Tensor>> {
    const cfg = this.config;
    const ramp = cfg.warmupSteps > 0 ? Math.min(1, step / cfg.warmupSteps) : 1;
    const s = await this.student.forwardTrain(images, targets, rng);
    const backend = images.backend;
    const padded = [images.shape[2]!, images.shape[3]!] as const;
    const sizes = targets.imageSizes ?? targets.boxes.map(() => padded);
    const n = images.shape[0]!;
    const rpnT = s.rpn.targets;
    const roiT = s.roi.targets;
    const classes = this.student.numClasses;
    const heads = cfg.soft || cfg.regression !== 'none';

    const out: Record<string, Tensor> = {};
    // The frozen teacher, off the tape: its levels (from the cache where it has them), its RPN's
    // outputs at the matched anchors and its box head on the student's sampled ROIs. Nothing of
    // the teacher runs when no term reads it.
    const cached = this.cache && (heads || cfg.hint) ? await this.cache.levels(images) : null;
    const t = noGrad(() =>
      scope(() => {
        const features: FeatureMaps = cached ?? (heads || cfg.hint ? this.teacher.features(images) : new Map());
        try {
          let rpn: { map: Int32Array; objectness: Tensor; deltas: Tensor } | null = null;
          let roi: { classLogits: Tensor; boxRegression: Tensor } | null = null;
          if (heads) {
            const o = this.teacher.rpn.outputs(features, padded);
            rpn = { map: this.anchorMap(s.rpn.anchors, o.anchors, padded), objectness: o.objectness, deltas: o.deltas };
            roi = this.teacher.roiHeads.forward(features, s.roi.boxes, sizes);
          }
          return { features, rpn, roi, teacherAnchors: rpn ? rpn.objectness.shape[0]! / n : 0 };
        } catch (e) {
          // The cache's levels were made outside this scope.
          for (const f of cached?.values() ?? []) f.dispose();
          throw e;
        }
      }),
    );
    try {
      // Classification: μ·(the student's own loss) + (1 − μ)·soft, w_bg on the background.
      const mu = 1 - (1 - cfg.mu) * ramp;
      const soft = { temperature: cfg.temperature, scaleByTemperatureSquared: cfg.scaleSoftByT2 };
      const m = s.rpn.anchors.length / 4;
      const matched = (rows: Int32Array) => {
        const student: number[] = [];
        const teacher: number[] = [];
        rows.forEach((g, k) => {
          const j = t.rpn!.map[g % m]!;
          if (j >= 0) {
            student.push(k);
            teacher.push(Math.floor(g / m) * t.teacherAnchors + j);
          }
        });
        return { student: Int32Array.from(student), teacher: Int32Array.from(teacher) };
      };
      if (cfg.soft && t.rpn && t.roi) {
        const pair = (x: Tensor) => concat([zerosLike(x), x], 1);
        const rows = matched(rpnT.sampled);
        out.rpnCls = rows.student.length
          ? add(mul(s.losses.rpnCls, mu), mul(weightedSoftCrossEntropy(pair(gatherRows(gatherRows(s.rpn.objectness, rpnT.sampled), rows.student)), pair(gatherRows(t.rpn.objectness, rows.teacher)), { ...soft, classWeights: [cfg.backgroundWeight, 1] }), 1 - mu))
          : s.losses.rpnCls;
        out.roiCls = add(mul(s.losses.roiCls, mu), mul(weightedSoftCrossEntropy(s.roi.classLogits, t.roi.classLogits, { ...soft, classWeights: [cfg.backgroundWeight, ...Array(classes - 1).fill(1)] }), 1 - mu));
      } else {
        out.rpnCls = s.losses.rpnCls;
        out.roiCls = s.losses.roiCls;
      }

      // Regression: the student's smooth-L1 + ν·(teacher-bounded or plain-L2 term) summed over the
      // positives the teacher has, divided by the sampled count as the smooth-L1 is.
      const teacherTerm = (studentDeltas: Tensor, teacherDeltas: Tensor, targetsHost: Float32Array, count: number): Tensor => {
        const perBox = cfg.regression === 'l2'
          ? teacherL2Regression(studentDeltas, teacherDeltas, cfg.regressionDistance, BOX_LOSS_BETA)
          : boundedRegression(studentDeltas, teacherDeltas, tensor(targetsHost, [targetsHost.length / 4, 4], { backend }), cfg.margin, cfg.regressionDistance, BOX_LOSS_BETA);
        return mul(div(sum(perBox), Math.max(count, 1)), cfg.nu * ramp);
      };
      let rpnReg = s.losses.rpnReg;
      let roiReg = s.losses.roiReg;
      if (cfg.regression !== 'none' && t.rpn && t.roi) {
        const pos = matched(rpnT.positive);
        if (pos.student.length) {
          const targetsHost = Float32Array.from(Array.from(pos.student).flatMap((k) => [...rpnT.targets.subarray(4 * k, 4 * k + 4)]));
          rpnReg = add(rpnReg, teacherTerm(gatherRows(gatherRows(s.rpn.deltas, rpnT.positive), pos.student), gatherRows(t.rpn.deltas, pos.teacher), targetsHost, rpnT.sampled.length));
        }
        if (roiT.positive.length) {
          roiReg = add(roiReg, teacherTerm(positiveDeltas(s.roi.boxRegression, roiT.positive, roiT.labels, classes), positiveDeltas(t.roi.boxRegression, roiT.positive, roiT.labels, classes), roiT.targets, roiT.labels.length));
        }
      }
      out.rpnReg = cfg.lambda === 1 ? rpnReg : mul(rpnReg, cfg.lambda);
      out.roiReg = cfg.lambda === 1 ? roiReg : mul(roiReg, cfg.lambda);

      if (cfg.hint) out.hint = mul(this.hint(s.features, t.features), cfg.gamma * ramp);
      return out;
    } finally {
      for (const f of t.features.values()) f.dispose();
      t.rpn?.objectness.dispose();
      t.rpn?.deltas.dispose();
      t.roi?.classLogits.dispose();
      t.roi?.boxRegression.dispose();
    }
  }

  /** The mean over matched levels of the feature term between adapted student and teacher levels. */
  private hint(student: FeatureMaps, teacher: FeatureMaps): Tensor {
    const cfg = this.config;
    const match = matchLevels(student, teacher);
    if (match.every((x) => x === null)) {
      const sz = (f: FeatureMaps) => [...f].map(([k, v]) => `${k} ${v.shape[2]}×${v.shape[3]}`).join(', ');
      throw new Error(`kdet.TvDistiller: no student FPN level has the size of a teacher level (student: ${sz(student)}; teacher: ${sz(teacher)}); hints need levels of equal stride`);
    }
    const terms: Tensor[] = [];
    [...student.values()].forEach((s, i) => {
      const name = match[i];
      if (name === null || name === undefined) return;
      const adapted = this.adapters.at(i).forward(s);
      const z = teacher.get(name)!;
      terms.push(cfg.featureLoss === 'pkd' ? pkdLoss(adapted, z) : cfg.featureLoss === 'cwd' ? cwdLoss(adapted, z, cfg.cwdTau) : hintLoss(adapted, z, { norm: cfg.hintNorm, reduction: cfg.hintReduction }));
    });
    return div(terms.reduce((a, b) => add(a, b)), terms.length);
  }

  /** The student → teacher anchor map of this layout, computed once. */
  private anchorMap(student: Boxes, teacher: Boxes, padded: readonly [number, number]): Int32Array {
    const key = `${padded[0]}x${padded[1]}:${student.length}:${teacher.length}`;
    let map = this.anchorMaps.get(key);
    if (!map) {
      map = matchAnchors(student, teacher);
      if (!map.some((j) => j >= 0)) throw new Error(`kdet.TvDistiller: no student anchor is also a teacher anchor (the two anchor generators share no box), so the RPN terms have nothing to compare; turn them off (soft / regression) or give the models common anchor sizes`);
      this.anchorMaps.set(key, map);
    }
    return map;
  }

  /** Hits and misses of the teacher cache (zeros without one). */
  get teacherCache(): CacheStats {
    return this.cache?.stats ?? { hits: 0, misses: 0 };
  }

  /** Fraction of the student's anchors the teacher has, for the last layout seen (for the logs). */
  get matchedAnchorFraction(): number {
    const last = [...this.anchorMaps.values()].at(-1);
    return last ? last.reduce((k, j) => k + (j >= 0 ? 1 : 0), 0) / last.length : NaN;
  }
}

/**
 * headsFromTeacher on these models: the student's RPN head and box head (`rpn.head.…`,
 * `roi_heads.…`) take the teacher's weights wherever a tensor has the same name and shape. Across
 * the family the box head (TwoMLPHead, FastRCNNPredictor) and the RPN's 3×3 conv always fit; the
 * RPN's two 1×1 outputs fit only with as many anchors per location (3 for the ResNet builders, 15
 * for the MobileNetV3 ones) and keep their own initialisation otherwise.
 */
export function copyEqualHeads(from: TvFasterRCNN, to: TvFasterRCNN): { params: Parameter[]; names: string[] } {
  const theirs = new Map(from.namedParameters());
  const params: Parameter[] = [];
  const names: string[] = [];
  for (const [name, q] of to.namedParameters()) {
    if (!name.startsWith('rpn.head.') && !name.startsWith('roi_heads.')) continue;
    const p = theirs.get(name);
    if (!p || p.shape.join() !== q.shape.join()) continue;
    q.assign(noGrad(() => mul(p.value, 1)));
    params.push(q);
    names.push(name);
  }
  if (!params.length) throw new Error('kdet.TvDistiller: headsFromTeacher: no tensor of the RPN or box head has the same name and shape in teacher and student');
  return { params, names };
}
