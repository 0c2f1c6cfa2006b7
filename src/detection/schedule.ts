/** Learning-rate schedule: linear warm-up from `warmupFactor`·lr, then ×gamma at each milestone. */
export interface LrSchedule {
  lr: number;
  warmupSteps: number;
  warmupFactor: number;
  /** Steps at which the rate is multiplied by `gamma`. */
  milestones: readonly number[];
  gamma: number;
}

export function learningRate(s: LrSchedule, step: number): number {
  const decay = s.gamma ** s.milestones.filter((m) => step >= m).length;
  if (step >= s.warmupSteps) return s.lr * decay;
  const alpha = step / s.warmupSteps;
  return s.lr * decay * (s.warmupFactor * (1 - alpha) + alpha);
}
