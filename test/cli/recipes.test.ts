/**
 * `kdet distill --recipe`: a named objective that every typed flag overrides, `--alone` for the
 * baseline, and `--compare-alone`, which trains that baseline beside the distillation (in a second
 * process where there are two cores) and reports what the teacher added.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultDistillConfig } from '../../src/distillation/config.js';
import { DEFAULT_RECIPE, recipeConfig, RECIPES } from '../../src/distillation/recipes.js';
import { readCheckpointMetadata } from '../../src/nn/checkpoint.js';
import { kdet } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'kdet-recipes-'));
const teacher = join(dir, 'teacher', 'best.safetensors');
const terms = (out: string) => JSON.parse(/terms: (.*)/.exec(out)![1]!);
const meta = (file: string) => readCheckpointMetadata(readFileSync(file), file) as { distill: unknown };
const run = (name: string, ...flags: string[]) => kdet('distill', '--teacher', teacher, '--student', 'tiny', '--steps', '2', '--eval-every', '0', '--out', join(dir, name), ...flags);

beforeAll(async () => {
  const t = await kdet('train', '--data', 'shapes', '--size', '64', '--preset', 'tiny', '--train-size', '12', '--test-size', '6', '--steps', '3', '--eval-every', '0', '--out', join(dir, 'teacher'));
  expect(t.err).toBe('');
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('kdet distill --recipe', () => {
  it('runs the default recipe, soft targets on the teacher’s heads, and says so', async () => {
    expect(DEFAULT_RECIPE).toBe('soft-heads');
    const r = await run('default');
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^recipe soft-heads: the paper's weighted soft CE/m);
    expect(terms(r.out)).toEqual(recipeConfig('soft-heads'));
    expect(terms(r.out)).toMatchObject({ soft: true, regression: 'none', hint: false, headsFromTeacher: true, headsLrScale: 0.2, mu: 0.5, backgroundWeight: 1.5 });
    // The checkpoint records the resolved objective, not the recipe's name alone.
    expect(meta(join(dir, 'default', 'best.safetensors')).distill).toEqual(recipeConfig('soft-heads'));
  });

  it('runs the paper’s defaults exactly under --recipe paper', async () => {
    const r = await run('paper', '--recipe', 'paper');
    expect(r.code).toBe(0);
    expect(terms(r.out)).toEqual(defaultDistillConfig());
    expect(terms(r.out)).toMatchObject({ mu: 0.5, gamma: 0.5, nu: 0.5, temperature: 1, margin: 0, backgroundWeight: 1.5, adapter: '1x1', soft: true, regression: 'bounded', hint: true });
  });

  it('lets every typed flag override the recipe, and only those', async () => {
    const r = await run('override', '--recipe', 'paper', '--no-hint', '--mu', '0.5', '--bg-weight', '1');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/recipe paper with --mu=0\.5 --bg-weight=1 --hint=false from the command line/);
    expect(terms(r.out)).toEqual(defaultDistillConfig({ hint: false, backgroundWeight: 1 }));
    // Turning the teacher's heads off takes the recipe's multiplier for them along.
    const s = await run('no-heads', '--no-heads-from-teacher');
    expect(s.code).toBe(0);
    expect(terms(s.out)).toEqual(recipeConfig('soft-heads', { headsFromTeacher: false, headsLrScale: 1 }));
  });

  it('puts PKD or CWD in the hint’s place from the command line', async () => {
    const r = await run('pkd', '--recipe', 'paper', '--feature-loss', 'pkd', '--gamma', '6');
    expect(r.err).toBe('');
    expect(terms(r.out)).toEqual(defaultDistillConfig({ featureLoss: 'pkd', gamma: 6 }));
    const c = await run('cwd', '--recipe', 'paper', '--feature-loss', 'cwd', '--cwd-tau', '2');
    expect(c.code).toBe(0);
    expect(terms(c.out)).toMatchObject({ featureLoss: 'cwd', cwdTau: 2, hint: true });
    const bad = await run('cwd-bad', '--recipe', 'paper', '--cwd-tau', '2');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^kdet distill: --cwd-tau 2 applies to --feature-loss cwd, not hint$/);
    expect(existsSync(join(dir, 'cwd-bad'))).toBe(false);
  });

  it('refuses unknown recipes and contradictory flags in one line, before any work', async () => {
    const a = await run('bad1', '--recipe', 'papr');
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/^kdet distill: --recipe must be one of soft-heads, paper, got 'papr' — did you mean 'paper'\?$/);
    const b = await run('bad2', '--alone', '--mu', '0.3');
    expect(b.err).toMatch(/^kdet distill: --alone trains the student without the teacher; drop --mu$/);
    const c = await run('bad3', '--alone', '--compare-alone');
    expect(c.err).toMatch(/--alone and --compare-alone together/);
    const d = await run('bad4', '--compare-alone', '--resume', teacher);
    expect(d.err).toMatch(/--compare-alone with --resume/);
    for (const name of ['bad1', 'bad2', 'bad3', 'bad4']) expect(existsSync(join(dir, name))).toBe(false);
    expect(RECIPES.map((x) => x.name)).toEqual(['soft-heads', 'paper']);
  });

  it('--compare-alone trains the same student alone beside it and reports the difference', async () => {
    const r = await run('cmp', '--compare-alone', '--test-size', '6');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const cmp = JSON.parse(readFileSync(join(dir, 'cmp', 'comparison.json'), 'utf8'));
    const distilled = JSON.parse(readFileSync(join(dir, 'cmp', 'metrics.json'), 'utf8'));
    const alone = JSON.parse(readFileSync(join(dir, 'cmp', 'student-alone', 'metrics.json'), 'utf8'));
    expect(cmp.distilled.map50).toBe(distilled.last.map50);
    expect(cmp.alone.map50).toBe(alone.last.map50);
    expect(cmp.gainPoints).toBeCloseTo(100 * (distilled.last.map50 - alone.last.map50), 10);
    expect(cmp.recipe).toBe('soft-heads');
    expect(r.out).toMatch(/mAP@0\.5 on 6 held-out images, last step: distilled \(soft-heads\) [\d.]+, student alone [\d.]+: [+-][\d.]+ points/);
    // The baseline is the student alone with the same seed and schedule: the same as --alone.
    expect(meta(join(dir, 'cmp', 'student-alone', 'best.safetensors')).distill).toBeNull();
    const solo = await run('solo', '--alone', '--test-size', '6');
    expect(solo.code).toBe(0);
    const soloMetrics = JSON.parse(readFileSync(join(dir, 'solo', 'metrics.json'), 'utf8'));
    expect(soloMetrics.last).toEqual(alone.last);
  }, 180_000);
});
