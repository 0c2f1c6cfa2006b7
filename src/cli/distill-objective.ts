import type { DistillConfig } from '../distillation/config.js';
import { recipe, recipeConfig } from '../distillation/recipes.js';
import { UsageError } from './args.js';

/**
 * `kdet distill`'s objective from its flags: the named recipe, then every term flag the user
 * typed on top (a flag left out keeps the recipe's value, never a global default), or nothing at
 * all for `--alone`.
 */

/** The DistillConfig field each term flag of `kdet distill` sets. */
export const TERM_FLAGS = {
  mu: 'mu', temperature: 'temperature', 'soft-t2': 'scaleSoftByT2', 'bg-weight': 'backgroundWeight', nu: 'nu', margin: 'margin', gamma: 'gamma', lambda: 'lambda',
  soft: 'soft', regression: 'regression', 'reg-distance': 'regressionDistance', hint: 'hint', 'feature-loss': 'featureLoss', 'cwd-tau': 'cwdTau', adapter: 'adapter', 'hint-norm': 'hintNorm', 'hint-reduction': 'hintReduction',
  'fine-grained': 'fineGrained', psi: 'psi', 'distill-warmup': 'warmupSteps', 'heads-from-teacher': 'headsFromTeacher', 'heads-lr-scale': 'headsLrScale', 'hint-first-steps': 'hintFirstSteps', 'distill-until': 'distillUntilStep',
} as const satisfies Record<string, keyof DistillConfig>;

type TermFlag = keyof typeof TERM_FLAGS;

const FLAG_OF_FIELD = new Map<string, string>(Object.entries(TERM_FLAGS).map(([flag, field]) => [field, `--${flag}`]));

/** The option that sets a DistillConfig field, for messages (`headsLrScale` → `--heads-lr-scale`). */
export const flagOf = (field: string): string => FLAG_OF_FIELD.get(field) ?? field;

export interface Objective {
  /** null: the student alone (--alone). */
  config: DistillConfig | null;
  /** The recipe the config started from, and the flags that overrode it. */
  recipe: string;
  overridden: string[];
}

/**
 * The objective of `kdet distill` from its parsed flags and the set of flags given. Turning the
 * teacher's heads off leaves their lr multiplier nothing to scale, so a recipe's multiplier goes
 * with them unless --heads-lr-scale was typed too (then the usual error names it).
 */
export function objectiveFromFlags(f: Record<string, unknown> & { recipe: string; alone: boolean }, given: ReadonlySet<string>): Objective {
  const typed = (Object.keys(TERM_FLAGS) as TermFlag[]).filter((k) => given.has(k));
  if (f.alone) {
    const extra = [...(given.has('recipe') ? ['recipe'] : []), ...typed];
    if (extra.length) throw new UsageError(`kdet distill: --alone trains the student without the teacher; drop ${extra.map((k) => `--${k}`).join(', ')}`);
    if (given.has('compare-alone') && f['compare-alone']) throw new UsageError('kdet distill: --alone and --compare-alone together would train the same student twice; give one');
    return { config: null, recipe: 'alone', overridden: [] };
  }
  const overrides: Record<string, unknown> = {};
  for (const k of typed) overrides[TERM_FLAGS[k]] = f[k];
  if (overrides.headsFromTeacher === false && !given.has('heads-lr-scale')) overrides.headsLrScale = 1;
  recipe(f.recipe); // the parser checked the name; this keeps the two lists from drifting apart
  return { config: recipeConfig(f.recipe, overrides as Partial<DistillConfig>), recipe: f.recipe, overridden: typed.map((k) => `--${k}=${String(f[k])}`) };
}

/** One line for the console and the logs: which recipe, and what was changed in it. */
export function describeObjective(o: Objective): string {
  if (!o.config) return 'objective: the ground truth alone (--alone)';
  return `recipe ${o.recipe}${o.overridden.length ? ` with ${o.overridden.join(' ')} from the command line` : ''}: ${recipe(o.recipe).description}`;
}
