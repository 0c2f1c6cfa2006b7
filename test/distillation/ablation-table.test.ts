import { expect, it } from 'vitest';
import { ABLATION_ROW_SETS, ABLATION_VARIANTS, ablationMarkdown, pairedDifferences, summarise, type RunResult } from '../../src/distillation/ablation.js';
import { defaultDistillConfig } from '../../src/distillation/config.js';
import { DEFAULT_RECIPE, recipeConfig } from '../../src/distillation/recipes.js';

const run = (variant: string, seed: number, map50: number): RunResult => ({ variant, seed, map50, cocoAP: map50 / 2, seconds: 1, stepSeconds: 0.5 });

it('the ablation table gives each variant its mean ± sample std and the share of the teacher–student gap it closes', () => {
  const results = [run('student', 0, 0.3), run('student', 1, 0.32), run('full', 0, 0.42), run('full', 1, 0.46), run('hint-adapt', 0, 0.28), run('hint-adapt', 1, 0.3)];
  const summary = summarise(results);
  expect(summary.map((s) => s.variant)).toEqual(['student', 'hint-adapt', 'full']); // the variants' order, not the runs'
  const full = summary.find((s) => s.variant === 'full')!;
  expect(full.map50Mean).toBeCloseTo(0.44, 12);
  expect(full.map50Std).toBeCloseTo(Math.sqrt(2 * 0.02 ** 2), 12); // n − 1 in the denominator

  const md = ablationMarkdown(summary, { map50: 0.61, cocoAP: 0.4 }, 'setup');
  // Teacher 0.61, student 0.31: full closes (0.44 − 0.31) / 0.30 = 43.3 %, hint-adapt widens it by 6.7 %.
  expect(md).toMatch(/\| full \| .* \| 2 \| 0\.4400 ± 0\.0283 \| 0\.2200 ± 0\.0141 \| 43\.3% \| 0\.500 \|/);
  expect(md).toMatch(/\| hint-adapt \| .* \| -6\.7% \|/);
  expect(md).toMatch(/\| student \| .* \| 0\.3100 ± 0\.0141 \| 0\.1550 ± 0\.0071 \|  \| 0\.500 \|/);
  expect(md).toContain('Gap closed by the full method: 43.3% of the teacher–student mAP@0.5 gap.');
  expect(md).toMatch(/full distillation > student alone: 0\.4400 vs 0\.3100 \(Δ \+0\.1300, seed std ≤ 0\.0283\) — reproduced/);
  expect(md).toMatch(/hints with adaptation > without: not run/);
});

it('every ablation variant has a unique name, and the beyond-the-paper rows start the heads from the teacher', () => {
  const names = ABLATION_VARIANTS.map((v) => v.name);
  expect(new Set(names).size).toBe(names.length);
  // The default table is the nine rows; --extended adds the rest.
  expect(ABLATION_VARIANTS.filter((v) => v.paper).map((v) => v.name)).toEqual(['student', 'soft-unweighted', 'soft-weighted', 'reg-l2', 'reg-bounded', 'hint-no-adapt', 'hint-adapt', 'full', 'full-fine-grained']);
  expect(ABLATION_VARIANTS.find((v) => v.name === 'heads-only')!.distill).toMatchObject({ soft: false, regression: 'none', hint: false, headsFromTeacher: true });
  expect(ABLATION_VARIANTS.find((v) => v.name === 'full-teacher-heads')!.distill).toMatchObject({ adapter: 'none', headsFromTeacher: true });
});

it('the named row sets list known rows, and the faithful set is the paper’s Table 4 plus the recipe and the later feature losses', () => {
  const names = new Set(ABLATION_VARIANTS.map((v) => v.name));
  for (const rows of Object.values(ABLATION_ROW_SETS)) for (const r of rows) expect(names.has(r)).toBe(true);
  const paperRows = ABLATION_VARIANTS.filter((v) => v.paper && !v.distill?.fineGrained).map((v) => v.name);
  expect(ABLATION_ROW_SETS.faithful).toEqual([...paperRows, 'soft-heads-lr0.2', 'full-pkd', 'full-cwd']);
  // The recipe row is what kdet distill runs by default.
  expect(defaultDistillConfig(ABLATION_VARIANTS.find((v) => v.name === 'soft-heads-lr0.2')!.distill!)).toEqual(recipeConfig(DEFAULT_RECIPE));
});

it('compares the paper’s directions paired by seed, over the seeds both variants ran', () => {
  // Seeds move every variant together (seed 1 is good for all): unpaired, the gain hides in the
  // spread; paired, it is there on every seed.
  const results = [
    run('student', 0, 0.28), run('student', 1, 0.33), run('student', 2, 0.30),
    run('full', 0, 0.30), run('full', 1, 0.345), run('full', 2, 0.31), run('full', 3, 0.9),
    run('soft-weighted', 0, 0.30), run('soft-weighted', 1, 0.36),
    run('soft-unweighted', 0, 0.31), run('soft-unweighted', 1, 0.355),
  ];
  expect(pairedDifferences(results, 'full', 'student').map((d) => +d.toFixed(6))).toEqual([0.02, 0.015, 0.01]); // seed 3 has no partner
  const md = ablationMarkdown(summarise(results), { map50: 0.6, cocoAP: 0.4 }, 'setup', results);
  expect(md).toMatch(/full distillation > student alone: .* — .*; paired by seed Δ \+0\.0150 ± 0\.0050, 3 of 3 seeds in the claimed direction — paired: reproduced/);
  expect(md).toMatch(/weighted soft CE > unweighted: .*paired by seed Δ -0\.0025 ± 0\.0106, 1 of 2 seeds in the claimed direction — paired: not reproduced/);
  // Without the runs (or with one seed) there is no paired verdict.
  expect(ablationMarkdown(summarise(results), null, 'setup')).not.toMatch(/paired/);
});

it('measures the gap a row closes against the student alone on that row’s own seeds', () => {
  // The student has seeds 0..4, the heads row 0..2 only; seeds 3 and 4 are good students.
  const results = [
    run('student', 0, 0.3), run('student', 1, 0.32), run('student', 2, 0.31), run('student', 3, 0.5), run('student', 4, 0.5),
    run('heads-only', 0, 0.45), run('heads-only', 1, 0.47), run('heads-only', 2, 0.46),
  ];
  const md = ablationMarkdown(summarise(results), { map50: 0.61, cocoAP: 0.4 }, 'setup', results);
  // Against seeds 0..2 (mean 0.31): (0.46 − 0.31) / 0.30 = 50.0 %; against all five (0.386) it would read 33.0 %.
  expect(md).toMatch(/\| heads-only \| .* \| 3 \| 0\.4600 ± 0\.0100 \| .* \| 50\.0% \|/);
  // Without the runs, the student's mean over its own seeds is all there is.
  expect(ablationMarkdown(summarise(results), { map50: 0.61, cocoAP: 0.4 }, 'setup')).toMatch(/\| heads-only \| .* \| 33\.0% \|/);
});
