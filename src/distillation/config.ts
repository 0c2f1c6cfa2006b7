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
  /** γ: weight of the hint loss. */
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
  hint: boolean;
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
