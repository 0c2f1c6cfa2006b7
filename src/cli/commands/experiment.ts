import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { evaluateDetector } from '../../detection/evaluate.js';
import { ABLATION_VARIANTS, ablationMarkdown, ablationSvg, summarise, type RunResult } from '../../distillation/ablation.js';
import { defaultDistillConfig } from '../../distillation/config.js';
import { parseArgs, usage, UsageError, type FlagSpec } from '../args.js';
import { BACKEND_NAMES, useBackend } from '../backend.js';
import { writeAtomic } from '../files.js';
import { loadDetector } from '../load-model.js';
import { openDataSet } from '../presets.js';
import { distillStudent } from './distill.js';

const flags = {
  teacher: { type: 'string', default: 'models/teacher.safetensors', help: 'teacher checkpoint' },
  student: { type: 'string', default: 'student', help: 'student preset' },
  steps: { type: 'int', default: 1500, help: 'steps per run (the same for every variant)' },
  batch: { type: 'int', default: 4, help: 'images per step' },
  lr: { type: 'number', default: 0.02, help: 'peak learning rate' },
  seeds: { type: 'int', default: 3, help: 'seeds per variant' },
  'test-size': { type: 'int', default: 500, help: 'held-out scenes' },
  only: { type: 'string', default: '', help: 'comma list of variants to run (others are read from earlier runs)' },
  aggregate: { type: 'boolean', default: false, help: 'run nothing: rebuild the table, JSON and plot from the finished runs in --out' },
  quick: { type: 'boolean', default: false, help: 'a few-minute version for CI: 4 variants, 1 seed, 30 steps, 40 test scenes' },
  backend: { type: 'string', default: 'wasm', choices: BACKEND_NAMES, help: 'compute backend' },
  out: { type: 'string', default: 'results/ablation', help: 'output folder (runs are resumable: finished runs are kept)' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

const QUICK_VARIANTS = ['student', 'soft-weighted', 'reg-bounded', 'full'];

/**
 * `kdet experiment ablation`: every variant × seed with the same steps and schedule, each run in
 * <out>/runs/<variant>-s<seed>/ (a finished run is reused, so the job resumes after an
 * interruption and can be split across processes with --only), then the table, JSON and plot.
 */
export async function experiment(argv: string[]): Promise<void> {
  const { flags: f, positionals } = parseArgs('experiment', argv, flags);
  if (f.help || positionals[0] !== 'ablation') {
    console.log(usage('experiment ablation', 'Reproduce the paper’s ablation in miniature (results/ablation.md).', flags));
    if (!f.help) throw new UsageError('kdet experiment: the only experiment is `ablation`');
    return;
  }
  await useBackend(f.backend);
  const { model: teacher, meta } = await loadDetector(f.teacher, '--teacher');
  const steps = f.quick ? 30 : f.steps;
  const seeds = f.quick ? 1 : f.seeds;
  const testLength = f.quick ? 40 : f['test-size'];
  const wanted = f.only ? f.only.split(',') : f.quick ? QUICK_VARIANTS : ABLATION_VARIANTS.map((v) => v.name);
  for (const w of wanted) if (!ABLATION_VARIANTS.some((v) => v.name === w)) throw new UsageError(`--only: unknown variant '${w}' (known: ${ABLATION_VARIANTS.map((v) => v.name).join(', ')})`);

  const teacherMetrics = await evaluateDetector(teacher, await openDataSet({ ...meta.data, testLength }, 'test'));
  console.log(`teacher (${meta.preset}): mAP@0.5 ${teacherMetrics.map50.toFixed(4)} on ${testLength} test scenes`);
  const results: RunResult[] = [];
  for (const v of ABLATION_VARIANTS) {
    for (let seed = 0; seed < seeds; seed++) {
      const dir = join(f.out, 'runs', `${v.name}-s${seed}`);
      const done = await readResult(dir);
      if (done) {
        results.push({ ...done, variant: v.name, seed });
        continue;
      }
      if (f.aggregate || !wanted.includes(v.name)) continue;
      console.log(`— ${v.name} seed ${seed}: ${v.description}`);
      const r = await distillStudent({
        teacher, teacherMeta: meta, teacherPath: f.teacher, studentPreset: f.student,
        distill: v.distill ? defaultDistillConfig(v.distill) : null,
        steps, batch: f.batch, lr: f.lr, evalEvery: 0, testLength, seed, out: dir,
      });
      const res: RunResult = { variant: v.name, seed, map50: r.last!.map50, cocoAP: r.last!.cocoAP, seconds: r.seconds, stepSeconds: r.stepSeconds };
      await writeAtomic(join(dir, 'result.json'), JSON.stringify(res, null, 2) + '\n');
      console.log(`  mAP@0.5 ${res.map50.toFixed(4)}, COCO AP ${res.cocoAP.toFixed(4)}, ${res.stepSeconds.toFixed(3)} s/step`);
      results.push(res);
    }
  }
  const summary = summarise(results);
  const setup = `Setup: teacher \`${f.teacher}\` (${meta.preset}), student preset \`${f.student}\`, ${meta.data.name} scenes ${meta.data.size}², ${steps} steps × batch ${f.batch}, lr ${f.lr}, evaluated on ${testLength} held-out scenes (the last step's model), up to ${seeds} seeds (0..${seeds - 1}; the table says how many finished per variant), backend ${f.backend}. Command: \`kdet experiment ablation${f.quick ? ' --quick' : ''} --steps ${steps} --seeds ${seeds}\`.`;
  const teacherRow = { map50: teacherMetrics.map50, cocoAP: teacherMetrics.cocoAP };
  await writeAtomic(join(f.out, 'ablation.md'), ablationMarkdown(summary, teacherRow, setup));
  await writeAtomic(join(f.out, 'ablation.svg'), ablationSvg(summary, teacherRow));
  await writeAtomic(join(f.out, 'ablation.json'), JSON.stringify({ teacher: teacherRow, summary, results }, null, 2) + '\n');
  console.log(ablationMarkdown(summary, teacherRow, setup));
}

async function readResult(dir: string): Promise<RunResult | null> {
  try {
    return JSON.parse(await readFile(join(dir, 'result.json'), 'utf8')) as RunResult;
  } catch {
    return null;
  }
}
