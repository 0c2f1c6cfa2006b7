import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
  jobs: { type: 'int', default: 1, help: 'runs at once, each in its own process with KDET_THREADS split between them (results do not depend on it)' },
  run: { type: 'string', default: '', help: 'internal (used by --jobs): do the one run <variant>-s<seed> and exit' },
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
  const steps = f.quick ? 30 : f.steps;
  const seeds = f.quick ? 1 : f.seeds;
  const testLength = f.quick ? 40 : f['test-size'];
  const wanted = f.only ? f.only.split(',') : f.quick ? QUICK_VARIANTS : ABLATION_VARIANTS.map((v) => v.name);
  for (const w of wanted) if (!ABLATION_VARIANTS.some((v) => v.name === w)) throw new UsageError(`--only: unknown variant '${w}' (known: ${ABLATION_VARIANTS.map((v) => v.name).join(', ')})`);
  if (f.jobs < 1) throw new UsageError(`--jobs must be at least 1, got ${f.jobs}`);
  const runDir = (variant: string, seed: number) => join(f.out, 'runs', `${variant}-s${seed}`);
  const run = f.run ? /^(.+)-s(\d+)$/.exec(f.run) : null;
  const runVariant = run && ABLATION_VARIANTS.find((x) => x.name === run[1]);
  if (f.run && !runVariant) throw new UsageError(`--run: expected <variant>-s<seed> with a known variant, got '${f.run}'`);

  await useBackend(f.backend);
  const { model: teacher, meta } = await loadDetector(f.teacher, '--teacher');
  const runSetup: RunSetup = { teacher, meta, steps, batch: f.batch, lr: f.lr, testLength, teacherPath: f.teacher, student: f.student };
  if (runVariant) {
    const seed = Number(run![2]);
    await runOne(runVariant, seed, runDir(runVariant.name, seed), runSetup);
    return;
  }

  // The runs still to do, in table order; finished ones are read back below.
  const pending: { variant: (typeof ABLATION_VARIANTS)[number]; seed: number }[] = [];
  if (!f.aggregate) {
    for (const v of ABLATION_VARIANTS) {
      if (!wanted.includes(v.name)) continue;
      for (let seed = 0; seed < seeds; seed++) if (!(await readResult(runDir(v.name, seed)))) pending.push({ variant: v, seed });
    }
  }

  if (f.jobs > 1 && pending.length > 0) {
    await runInProcesses(pending.map((p) => `${p.variant.name}-s${p.seed}`), f.jobs, argv, (name) => join(f.out, 'runs', name));
  } else {
    for (const { variant, seed } of pending) await runOne(variant, seed, runDir(variant.name, seed), runSetup);
  }
  const teacherMetrics = await evaluateDetector(teacher, await openDataSet({ ...meta.data, testLength }, 'test'));
  console.log(`teacher (${meta.preset}): mAP@0.5 ${teacherMetrics.map50.toFixed(4)} on ${testLength} test scenes`);

  const results: RunResult[] = [];
  for (const v of ABLATION_VARIANTS) {
    for (let seed = 0; seed < seeds; seed++) {
      const done = await readResult(runDir(v.name, seed));
      if (done) results.push({ ...done, variant: v.name, seed });
    }
  }
  const summary = summarise(results);
  const setup = `Setup: teacher \`${f.teacher}\` (${meta.preset}), student preset \`${f.student}\`, ${meta.data.name} scenes ${meta.data.size}², ${steps} steps × batch ${f.batch}, lr ${f.lr}, evaluated on ${testLength} held-out scenes (the last step's model), up to ${seeds} seeds (0..${seeds - 1}; the table says how many finished per variant), backend ${f.backend}. Command: \`kdet experiment ablation${f.quick ? ' --quick' : ''} --steps ${steps} --seeds ${seeds}\`.`;
  const teacherRow = { map50: teacherMetrics.map50, cocoAP: teacherMetrics.cocoAP };
  await writeAtomic(join(f.out, 'ablation.md'), ablationMarkdown(summary, teacherRow, setup, results));
  await writeAtomic(join(f.out, 'ablation.svg'), ablationSvg(summary, teacherRow));
  await writeAtomic(join(f.out, 'ablation.json'), JSON.stringify({ teacher: teacherRow, summary, results }, null, 2) + '\n');
  console.log(ablationMarkdown(summary, teacherRow, setup, results));
}

interface RunSetup {
  teacher: Awaited<ReturnType<typeof loadDetector>>['model'];
  meta: Awaited<ReturnType<typeof loadDetector>>['meta'];
  teacherPath: string;
  student: string;
  steps: number;
  batch: number;
  lr: number;
  testLength: number;
}

/** One variant × seed, trained and evaluated in this process; writes <dir>/result.json last. */
async function runOne(v: (typeof ABLATION_VARIANTS)[number], seed: number, dir: string, s: RunSetup): Promise<RunResult> {
  console.log(`— ${v.name} seed ${seed}: ${v.description}`);
  const r = await distillStudent({
    teacher: s.teacher, teacherMeta: s.meta, teacherPath: s.teacherPath, studentPreset: s.student,
    distill: v.distill ? defaultDistillConfig(v.distill) : null,
    steps: s.steps, batch: s.batch, lr: s.lr, evalEvery: 0, testLength: s.testLength, seed, out: dir,
  });
  const res: RunResult = { variant: v.name, seed, map50: r.last!.map50, cocoAP: r.last!.cocoAP, seconds: r.seconds, stepSeconds: r.stepSeconds };
  await writeAtomic(join(dir, 'result.json'), JSON.stringify(res, null, 2) + '\n');
  console.log(`  mAP@0.5 ${res.map50.toFixed(4)}, COCO AP ${res.cocoAP.toFixed(4)}, ${res.stepSeconds.toFixed(3)} s/step`);
  return res;
}

/**
 * Runs `runs` (names <variant>-s<seed>) `jobs` at a time, each in a child process of this CLI
 * (`--run`), the wasm threads shared out between them. One process per run at one thread each uses
 * a small machine better than one run on all threads: a training step has serial parts (the
 * optimiser, data, small ops) that leave the other cores idle. Each run's output goes to
 * <dir>/console.log; a failed run stops the rest from starting and is reported with its log.
 */
async function runInProcesses(runs: string[], jobs: number, argv: readonly string[], dirOf: (run: string) => string): Promise<void> {
  const threads = Math.max(1, Math.floor((Number(process.env.KDET_THREADS) || availableParallelism()) / jobs));
  const script = kdetScript();
  const childArgv = argv.filter((a, i) => !/^--jobs(=|$)/.test(a) && !(argv[i - 1] === '--jobs' && !a.startsWith('--')));
  console.log(`${runs.length} runs, ${jobs} at a time, ${threads} wasm thread(s) each; logs in <run>/console.log`);
  const queue = [...runs];
  let failed: string | null = null;
  const worker = async () => {
    for (let run = queue.shift(); run && !failed; run = queue.shift()) {
      const dir = dirOf(run);
      await mkdir(dir, { recursive: true });
      const log = await open(join(dir, 'console.log'), 'w');
      const started = Date.now();
      console.log(`  start ${run}`);
      const code = await new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, [...process.execArgv, script, 'experiment', ...childArgv, '--run', run], {
          env: { ...process.env, KDET_THREADS: String(threads) },
          stdio: ['ignore', log.fd, log.fd],
        });
        child.on('error', reject);
        child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
      });
      await log.close();
      const res = await readResult(dir);
      if (code !== 0 || !res) {
        failed = `${run} exited with code ${code}; see ${join(dir, 'console.log')}`;
        break;
      }
      console.log(`  done ${run}: mAP@0.5 ${res.map50.toFixed(4)}, COCO AP ${res.cocoAP.toFixed(4)}, ${((Date.now() - started) / 60000).toFixed(1)} min`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, runs.length) }, worker));
  if (failed) throw new Error(`kdet experiment ablation: run ${failed}`);
}

/** bin/kdet.js of this package, found upwards from this module (dist/cli.js or the source tree). */
function kdetScript(): string {
  for (let d = dirname(fileURLToPath(import.meta.url)), up = 0; up < 5; up++, d = dirname(d)) {
    const candidate = join(d, 'bin', 'kdet.js');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('kdet experiment ablation --jobs: cannot find bin/kdet.js to start the runs with');
}

async function readResult(dir: string): Promise<RunResult | null> {
  try {
    return JSON.parse(await readFile(join(dir, 'result.json'), 'utf8')) as RunResult;
  } catch {
    return null;
  }
}
