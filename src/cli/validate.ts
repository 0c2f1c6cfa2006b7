/**
 * Checks the commands make before any model is built: the ranges shared by several commands'
 * flags, and whether a student preset can be distilled from a teacher with a given set of terms
 * (the conditions the Distiller asserts when it is built, here in terms of flags and presets).
 */
import type { FasterRCNNConfig } from '../detection/config.js';
import { featureLossProblem, type DistillConfig } from '../distillation/config.js';
import { UsageError, type FlagSpec } from './args.js';
import { modelConfig } from './presets.js';

/** Ranges of flags that several commands share. */
export const RANGE = {
  /** Image side: 32 px leaves the deepest preset a 4×4 feature map; 1024 px keeps memory sane. */
  size: { min: 32, max: 1024 },
  /** Seeds are hashed as unsigned 32-bit integers. */
  seed: { min: 0, max: 0xffffffff },
  positive: { min: 0, minExclusive: true },
  nonNegative: { min: 0 },
  atLeastOne: { min: 1 },
  probability: { min: 0, max: 1 },
  zoom: { min: 1, max: 16 },
} as const satisfies Record<string, Partial<FlagSpec>>;

function outChannels(c: FasterRCNNConfig): number {
  const last = c.backbone.stages[c.backbone.stages.length - 1]!;
  return last[last.length - 1]!;
}

const stride = (c: FasterRCNNConfig) => 2 ** (c.backbone.stages.length - 1);

/**
 * Why `studentPreset` cannot be distilled from a teacher of config `teacher` with terms `d`
 * (null: the student trained alone), or null if it can. `flag` turns a config name into the
 * option that sets it, for the message (`adapter` → `--adapter`).
 */
export function studentMismatch(studentPreset: string, teacher: FasterRCNNConfig, d: DistillConfig | null, flag: (name: string) => string = (n) => n): string | null {
  // Trained alone, the student only borrows the teacher's anchors: any preset will do.
  if (!d) return null;
  const student = modelConfig(studentPreset, teacher.numClasses);
  student.anchors = teacher.anchors;
  if (stride(student) !== stride(teacher)) return `student preset '${studentPreset}' has feature stride ${stride(student)}, the teacher ${stride(teacher)}; their RPN outputs and hint maps would not line up (choose a student with as many stages as the teacher)`;
  if (JSON.stringify(student.imageMean) !== JSON.stringify(teacher.imageMean) || JSON.stringify(student.imageStd) !== JSON.stringify(teacher.imageStd)) return 'the teacher normalises images differently from the student presets';
  const [cs, ct] = [outChannels(student), outChannels(teacher)];
  if (d.adapter === 'none' && cs !== ct) return `${flag('adapter')} none needs equal feature channels, but student preset '${studentPreset}' has ${cs} and the teacher ${ct}; use ${flag('adapter')} 1x1`;
  if (d.headsFromTeacher) {
    const why: string[] = [];
    if (cs !== ct) why.push(`feature channels ${cs} vs ${ct}`);
    if (student.roiHeads.poolSize !== teacher.roiHeads.poolSize) why.push(`ROI pool size ${student.roiHeads.poolSize} vs ${teacher.roiHeads.poolSize}`);
    if (student.roiHeads.representationSize !== teacher.roiHeads.representationSize) why.push(`box head width ${student.roiHeads.representationSize} vs ${teacher.roiHeads.representationSize}`);
    if (why.length) return `${flag('headsFromTeacher')} needs heads of the same sizes, but student preset '${studentPreset}' and the teacher differ in ${why.join(', ')}`;
  }
  return null;
}

/** Throws the mismatch (if any) as a UsageError. */
export function checkStudentFits(studentPreset: string, teacher: FasterRCNNConfig, d: DistillConfig | null, flag?: (name: string) => string): void {
  const why = studentMismatch(studentPreset, teacher, d, flag);
  if (why) throw new UsageError(why);
}

/**
 * The conditions between distillation settings that the Distiller asserts (one flag's range is
 * checked by the parser), in the options' names; `steps` is the run's length. Returns the first
 * problem or null.
 */
export function distillConfigProblem(d: DistillConfig, steps: number, flag: (name: string) => string = (n) => n): string | null {
  if (d.headsLrScale !== 1 && !d.headsFromTeacher) return `${flag('headsLrScale')} ${d.headsLrScale} applies to heads copied from the teacher; add ${flag('headsFromTeacher')}`;
  if (d.distillUntilStep > 0 && d.distillUntilStep >= steps) return `${flag('distillUntilStep')} ${d.distillUntilStep} is not below --steps ${steps}, so the terms would run throughout; give 0 for that`;
  if (d.distillUntilStep > 0 && d.distillUntilStep <= d.hintFirstSteps) return `${flag('distillUntilStep')} ${d.distillUntilStep} ends the distillation before ${flag('hintFirstSteps')} ${d.hintFirstSteps} does`;
  if (d.hintFirstSteps > 0 && d.hintFirstSteps >= steps) return `${flag('hintFirstSteps')} ${d.hintFirstSteps} is not below --steps ${steps}, so no step would train the detector's own losses`;
  return featureLossProblem(d, flag);
}
