/**
 * Every weight and switch of the distillation objective (../shared/PAPER.md), defaulting to the
 * paper's values:
 *   L = L_RPN + L_RCN + γ·L_hint,
 *   L_cls = μ·L_hard + (1−μ)·L_soft (weighted, temperature T),
 *   L_reg = smoothL1 + ν·L_b (teacher-bounded, margin m).
 */
export interface DistillConfig {
  /** μ: hard-label share of the classification loss. */
  mu: number;
  /** Temperature T of the soft targets. */
  temperature: number;
  /** Multiply the soft term by T² (Hinton et al. 2015; beyond the paper, whose T is 1). */
  scaleSoftByT2: boolean;
  /** w_background of the soft loss (other classes 1). */
  backgroundWeight: number;
  /** λ: weight of the regression terms inside L_RPN and L_RCN. */
  lambda: number;
  /** ν: weight of the teacher-bounded regression term. */
  nu: number;
  /** m: margin of the bound. */
  margin: number;
  /** γ: weight of the hint loss (of the feature term, whichever `featureLoss` it is). */
  gamma: number;
  /** Which terms are on (the ablation switches them). */
  soft: boolean;
  /** 'bounded' = the paper's L_b; 'l2' = plain L2 to the teacher's deltas; 'none' = off. */
  regression: 'bounded' | 'l2' | 'none';
  /**
   * Distance inside that term: the paper's squared L2, or smooth-L1 with the ground-truth term's
   * β (beyond the paper; its gradient per coordinate is capped at 1, L2's grows with the error).
   */
  regressionDistance: 'l2' | 'smooth-l1';
  /** The feature term on (γ·L_hint, or PKD / CWD in its place: `featureLoss`). */
  hint: boolean;
  /**
   * The loss of the feature term, between the adapted student feature and the teacher's (beyond
   * the paper, which has 'hint': the L2 / L1 of hintNorm and hintReduction). 'pkd': Cao et al.
   * 2022, MSE of the per-channel standardised maps / 2; 'cwd': Shu et al. 2021, KL of the
   * per-channel spatial softmaxes at temperature cwdTau (src/distillation/feature-losses.ts).
   * Logged as `hint` whichever it is. hintNorm, hintReduction and fineGrained belong to 'hint'.
   */
  featureLoss: 'hint' | 'pkd' | 'cwd';
  /** τ of CWD's spatial softmax (its loss carries τ²); featureLoss 'cwd' only. */
  cwdTau: number;
  /** 1×1 adaptation layer (the paper's default), 3×3, or none (needs equal channel counts). */
  adapter: '1x1' | '3x3' | 'none';
  hintNorm: 'l2' | 'l1';
  hintReduction: 'mean' | 'sum-per-image';
  /** Fine-grained imitation (Wang et al. 2019): the hint only near objects. */
  fineGrained: boolean;
  /** ψ of the fine-grained mask. */
  psi: number;
  /** Steps over which the distillation terms ramp linearly from 0 to full weight (0: none). */
  warmupSteps: number;
  /**
   * Start the student's RPN head and ROI box head from the teacher's weights (beyond the paper).
   * Possible when both backbones end in the same channel count and the heads have the same sizes;
   * with hints and no adaptation layer the student's features are pulled into the space those
   * heads were trained on.
   */
  headsFromTeacher: boolean;
  /**
   * Learning-rate multiplier of those copied heads (beyond the paper; needs headsFromTeacher).
   * The student's lr suits a fresh backbone; at that rate the early steps undo the teacher's heads.
   * Set as the heads' Parameter.lrScale when the Distiller is built (the student belongs to it).
   */
  headsLrScale: number;
  /**
   * FitNets' stage 1 (Romero et al. 2015; beyond the paper, which trains all terms jointly): for
   * the first k steps the loss is γ·hint alone, so the backbone learns the teacher's features
   * before the detection losses pull on it; the configured objective follows. With the teacher's
   * heads as the start and no adapter, the student is then its heads on teacher-like features.
   * The other terms stay in the step's log at weight 0, so every step logs the same names.
   */
  hintFirstSteps: number;
  /**
   * The distillation terms are on for the first k steps only (0: throughout); from step k on the
   * objective is the ground truth alone and the teacher is not run (beyond the paper). Asks
   * whether the terms that lead mid-run, at the peak lr, cost the student its lead once the lr
   * drops (results/probes/full-3000: ahead at step 1500, behind at 3000). They do not: stopped at
   * the drop they end where they end when run throughout (results/ablation-3000-teacher-6000).
   */
  distillUntilStep: number;
}

export function defaultDistillConfig(overrides: Partial<DistillConfig> = {}): DistillConfig {
  return {
    mu: 0.5,
    temperature: 1,
    scaleSoftByT2: false,
    backgroundWeight: 1.5,
    lambda: 1,
    nu: 0.5,
    margin: 0,
    gamma: 0.5,
    soft: true,
    regression: 'bounded',
    regressionDistance: 'l2',
    hint: true,
    featureLoss: 'hint',
    cwdTau: 1,
    adapter: '1x1',
    hintNorm: 'l2',
    hintReduction: 'mean',
    fineGrained: false,
    psi: 0.5,
    warmupSteps: 0,
    headsFromTeacher: false,
    headsLrScale: 1,
    hintFirstSteps: 0,
    distillUntilStep: 0,
    ...overrides,
  };
}

/** The feature losses `featureLoss` may name. */
export const FEATURE_LOSSES: readonly DistillConfig['featureLoss'][] = ['hint', 'pkd', 'cwd'];

/**
 * Why the feature-term settings cannot be used together, or null: an unknown featureLoss, a
 * cwdTau that is not a finite number > 0 or is set for another loss, and the 'hint' loss's own
 * options (hintNorm, hintReduction, fineGrained's mask) given to PKD or CWD, which have none.
 * `flag` turns a config name into the option that sets it, for messages.
 */
export function featureLossProblem(d: DistillConfig, flag: (name: string) => string = (n) => n): string | null {
  if (!FEATURE_LOSSES.includes(d.featureLoss)) return `${flag('featureLoss')} must be one of ${FEATURE_LOSSES.join(', ')}, got '${d.featureLoss}'`;
  if (!(d.cwdTau > 0 && Number.isFinite(d.cwdTau))) return `${flag('cwdTau')} must be a finite number > 0, got ${d.cwdTau}`;
  if (d.featureLoss !== 'cwd' && d.cwdTau !== 1) return `${flag('cwdTau')} ${d.cwdTau} applies to ${flag('featureLoss')} cwd, not ${d.featureLoss}`;
  if (d.featureLoss !== 'hint') {
    const hintOnly = [
      d.hintNorm !== 'l2' && `${flag('hintNorm')} ${d.hintNorm}`,
      d.hintReduction !== 'mean' && `${flag('hintReduction')} ${d.hintReduction}`,
      d.fineGrained && flag('fineGrained'),
    ].filter((x): x is string => typeof x === 'string');
    if (hintOnly.length) return `${hintOnly.join(', ')} ${hintOnly.length > 1 ? 'apply' : 'applies'} to ${flag('featureLoss')} hint; ${d.featureLoss} has no such option`;
  }
  return null;
}
