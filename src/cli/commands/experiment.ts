import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { evaluateDetector } from '../../detection/evaluate.js';
import { ABLATION_ROW_SETS, ABLATION_VARIANTS, ablationMarkdown, ablationSvg, summarise, type RunResult, type RunSetupRecord } from '../../distillation/ablation.js';
import { defaultDistillConfig } from '../../distillation/config.js';
import { parseArgs, usage, UsageError, type FlagSpec } from '../args.js';
import { BACKEND_NAMES, useBackend } from '../backend.js';
import { prepareOutDir, writeAtomic } from '../files.js';
import type { FasterRCNN } from '../../detection/faster-rcnn.js';
import { buildDetector, builtinData, readDetectorFile, type DetectorCheckpointMeta } from '../load-model.js';
import { describeData } from '../data-spec.js';
import { MODEL_PRESETS, openDataSet } from '../presets.js';
import { didYouMean } from '../suggest.js';
import { kdetScript, runKdetChild } from '../child-process.js';
import { RANGE, studentMismatch } from '../validate.js';
import { distillStudent } from './distill.js';
import { readBackboneFile, type BackboneFile } from './pretrain.js';
import { readCheckpointMetadata } from '../../nn/checkpoint.js';

const flags = {
  teacher: { type: 'string', default: 'models/teacher.safetensors', help: 'teacher checkpoint' },
  student: { type: 'string', default: 'student', choices: MODEL_PRESETS, help: 'student preset' },
  steps: { type: 'int', default: 800, ...RANGE.atLeastOne, help: 'steps per run (the same for every variant)' },
  batch: { type: 'int', default: 4, ...RANGE.atLeastOne, help: 'images per step' },
  // 0.1, not the teacher's 0.02: the student alone reaches 0.05 / 0.22 / 0.33 / 0.30 mAP@0.5 in 800
  // steps at 0.02 / 0.06 / 0.1 / 0.15 (results/probes/student-lr-800).
  lr: { type: 'number', default: 0.1, ...RANGE.positive, help: 'peak learning rate' },
  seeds: { type: 'int', default: 3, min: 1, max: 100, help: 'seeds per variant' },
  'test-size': { type: 'int', default: 500, ...RANGE.atLeastOne, help: 'held-out scenes' },
  rows: { type: 'string', default: '', choices: ['', ...Object.keys(ABLATION_ROW_SETS)], help: "a named set of rows: faithful = the paper's Table 4 rows, the soft-heads recipe, PKD and CWD (give the pre-trained backbone with --backbone-from)" },
  only: { type: 'string', default: '', help: 'comma list of variants to run (others are read from earlier runs)' },
  extended: { type: 'boolean', default: false, help: 'also the rows beyond the paper\'s ablation (soft-bounded, heads from the teacher, μ / γ / warm-up of the full method)' },
  'backbone-from': { type: 'string', default: '', help: "start every run's student backbone from a backbone.safetensors of kdet pretrain (the paper's pre-trained students)" },
  'freeze-stages': { type: 'int', default: 0, ...RANGE.nonNegative, help: "with --backbone-from: keep the student's first k backbone stages fixed" },
  'teacher-cache': { type: 'boolean', default: true, help: 'compute the teacher\'s features once per image for all runs (<out>/.teacher-cache, removed at the end; results are the same without)' },
  jobs: { type: 'int', default: 1, min: 1, max: 64, help: 'runs at once, each in its own process with KDET_THREADS split between them (results do not depend on it)' },
  run: { type: 'string', default: '', help: 'internal (used by --jobs): do the one run <variant>-s<seed> and exit' },
  'checkpoint-every': { type: 'int', default: 500, ...RANGE.nonNegative, help: "save each run's trainer state every k steps (<run>/last.safetensors): a run cut off resumes from there when the job is started again (0: only at its end)" },
  'stop-after': { type: 'number', default: 0, ...RANGE.nonNegative, help: 'minutes: after this time each running run ends at its next saved state and no further run starts; the same command resumes (0: no limit)' },
  deadline: { type: 'number', default: 0, ...RANGE.nonNegative, help: 'internal (used by --jobs with --stop-after): the time to stop at, in ms since 1970' },
  aggregate: { type: 'boolean', default: false, help: 'run nothing: rebuild the table, JSON and plot from the finished runs in --out' },
  quick: { type: 'boolean', default: false, help: 'a few-minute version for CI: 4 variants, 1 seed, 30 steps, 40 test scenes' },
  backend: { type: 'string', default: 'wasm', choices: BACKEND_NAMES, help: 'compute backend' },
  out: { type: 'string', default: 'results/ablation', help: 'output folder (runs are resumable: finished runs are kept)' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

const QUICK_VARIANTS = ['student', 'soft-weighted', 'reg-bounded', 'full'];

type Variant = (typeof ABLATION_VARIANTS)[number];

/**
 * `kdet experiment ablation`: every variant × seed with the same steps and schedule, each run in
 * <out>/runs/<variant>-s<seed>/ (a finished run is reused, so the job resumes after an
 * interruption and can be split across processes with --only), then the table, JSON and plot.
 */
export async function experiment(argv: string[]): Promise<void> {
  const { flags: f, positionals } = parseArgs(argv.includes('ablation') ? 'experiment ablation' : 'experiment', argv, flags, { positionals: 1 });
  if (f.help) return void console.log(usage('experiment ablation', 'Reproduce the paper’s ablation in miniature (results/ablation.md).', flags));
  if (positionals[0] !== 'ablation') {
    const name = positionals[0];
    if (name === undefined) throw new UsageError('kdet experiment: name the experiment: kdet experiment ablation (see kdet experiment --help)');
    throw new UsageError(`kdet experiment: unknown experiment '${name}'${didYouMean(name, ['ablation'], (c) => `'${c}'`) || '; the only experiment is `ablation`'}`);
  }
  const steps = f.quick ? 30 : f.steps;
  const seeds = f.quick ? 1 : f.seeds;
  const testLength = f.quick ? 40 : f['test-size'];
  // A row that stops its terms at step k is a different row only when the run is longer than k.
  const stopsTooLate = (v: Variant) => (v.distill?.distillUntilStep ?? 0) >= steps;
  if (f.rows && f.only) throw new UsageError('kdet experiment ablation: give --rows or --only, not both');
  const wanted = f.rows ? [...ABLATION_ROW_SETS[f.rows]!] : f.only ? f.only.split(',') : f.quick ? QUICK_VARIANTS : ABLATION_VARIANTS.filter((v) => (f.extended || v.paper) && !stopsTooLate(v)).map((v) => v.name);
  for (const w of wanted) {
    const v = ABLATION_VARIANTS.find((x) => x.name === w);
    if (!v) throw new UsageError(`kdet experiment ablation: --only: unknown variant '${w}'${didYouMean(w, ABLATION_VARIANTS.map((x) => x.name), (c) => `'${c}'`) || ` (known: ${ABLATION_VARIANTS.map((x) => x.name).join(', ')})`}`);
    if (stopsTooLate(v)) throw new UsageError(`--only: variant '${w}' stops its distillation terms at step ${v.distill!.distillUntilStep}, not below --steps ${steps}; run it with more steps`);
  }
  // One clock for the whole job: the children of --jobs get the parent's deadline, not their own.
  const deadline = f.deadline > 0 ? f.deadline : f['stop-after'] > 0 ? Date.now() + f['stop-after'] * 60000 : 0;
  const runDir = (variant: string, seed: number) => join(f.out, 'runs', `${variant}-s${seed}`);
  const run = f.run ? /^(.+)-s(\d+)$/.exec(f.run) : null;
  const runVariant = run && ABLATION_VARIANTS.find((x) => x.name === run[1]);
  if (f.run && !runVariant) throw new UsageError(`--run: expected <variant>-s<seed> with a known variant, got '${f.run}'`);
  if (f.jobs > 1 && !f.run && !f.aggregate) kdetScript('experiment ablation --jobs'); // --jobs starts processes of the built CLI: is there one?

  // Everything is checked before the backend or any model exists: the teacher's file, that the
  // student fits it in every variant to be trained, then the output folder.
  const teacherFile = await readDetectorFile(f.teacher, '--teacher');
  const builtin = builtinData(teacherFile.meta);
  if (!builtin) throw new UsageError(`kdet experiment ablation: runs on the built-in scenes; --teacher '${f.teacher}' was trained on ${describeData(teacherFile.meta.data)}`);
  const meta = { ...teacherFile.meta, data: builtin };
  const teacherBytes = teacherFile.bytes;
  const backbone = await readBackboneFile('experiment ablation', f['backbone-from'], f['freeze-stages'], f.student, '--student');
  if (!f.aggregate) {
    for (const v of runVariant ? [runVariant] : ABLATION_VARIANTS.filter((x) => wanted.includes(x.name))) {
      const why = studentMismatch(f.student, meta.model, v.distill ? defaultDistillConfig(v.distill) : null);
      if (why) throw new UsageError(`kdet experiment ablation: variant '${v.name}': ${why}`);
    }
    if (meta.data.trainLength < f.batch) throw new UsageError(`kdet experiment ablation: the teacher's data set has ${meta.data.trainLength} training scenes, less than one batch (--batch ${f.batch})`);
  }
  await prepareOutDir('--out', f.out);
  await useBackend(f.backend);
  const teacher = buildDetector(teacherFile);
  const teacherCache = f['teacher-cache'] ? join(f.out, '.teacher-cache') : null;
  const teacherSha256 = sha16(teacherBytes);
  const backboneSetup = backbone ? { backboneSha256: sha16(backbone.bytes), freezeStages: backbone.freezeStages } : {};
  const record: RunSetupRecord = { teacher: f.teacher, teacherSha256, student: f.student, steps, batch: f.batch, lr: f.lr, testLength, ...backboneSetup };
  const readResult = (dir: string, variant: Variant) => readRunResult(dir, record, variant.distill !== null);
  const runSetup: RunSetup = { teacher, meta, steps, batch: f.batch, lr: f.lr, testLength, teacherPath: f.teacher, teacherSha256, student: f.student, teacherCache, backbone, record, checkpointEvery: f['checkpoint-every'], ...(deadline ? { deadline } : {}) };
  if (runVariant) {
    const seed = Number(run![2]);
    await runOne(runVariant, seed, runDir(runVariant.name, seed), runSetup);
    return;
  }

  // The runs still to do, in table order; finished ones are read back below.
  const pending: { variant: Variant; seed: number }[] = [];
  if (!f.aggregate) {
    for (const v of ABLATION_VARIANTS) {
      if (!wanted.includes(v.name)) continue;
      for (let seed = 0; seed < seeds; seed++) if (!(await readResult(runDir(v.name, seed), v))) pending.push({ variant: v, seed });
    }
  }

  const started = Date.now();
  if (f.jobs > 1 && pending.length > 0) {
    // Longest runs first, so that the last ones to finish are short and no process waits long.
    const ordered = [...pending].sort((a, b) => runCost(b.variant) - runCost(a.variant));
    await runInProcesses(ordered.map((p) => ({ name: `${p.variant.name}-s${p.seed}`, variant: p.variant })), f.jobs, argv, (name) => join(f.out, 'runs', name), readResult, deadline);
  } else {
    for (const { variant, seed } of pending) {
      await runOne(variant, seed, runDir(variant.name, seed), runSetup);
      if (deadline && Date.now() >= deadline) break;
    }
  }
  let unfinished = 0;
  for (const { variant, seed } of pending) if (!(await readResult(runDir(variant.name, seed), variant))) unfinished++;
  if (unfinished > 0) {
    // Only a deadline leaves runs unfinished (a failed run is an error above): no table yet.
    console.log(`--stop-after: stopped with ${unfinished} of ${pending.length} runs unfinished (their states are saved); the same command resumes them`);
    return;
  }
  // Every run is done: the cache (about 130 KB per image and flip) has served its purpose.
  if (teacherCache) await rm(teacherCache, { recursive: true, force: true });
  // Each invocation that trained runs is recorded in ablation.json, so a table assembled over
  // several invocations (--only, an interrupted job resumed) keeps every one's cost, not the last.
  const previous = await readInvocations(join(f.out, 'ablation.json'));
  const invocations = pending.length
    ? [...previous, { date: new Date(started).toISOString().slice(0, 16) + 'Z', command: `kdet experiment ${argv.join(' ')}`, runs: pending.length, minutes: Number(((Date.now() - started) / 60000).toFixed(1)), jobs: f.jobs, cores: availableParallelism(), teacherCache: teacherCache !== null }]
    : previous;
  const teacherMetrics = await evaluateDetector(teacher, await openDataSet({ ...meta.data, testLength }, 'test'));
  console.log(`teacher (${meta.preset}): mAP@0.5 ${teacherMetrics.map50.toFixed(4)} on ${testLength} test scenes`);

  const results: RunResult[] = [];
  for (const v of ABLATION_VARIANTS) {
    for (let seed = 0; seed < seeds; seed++) {
      const done = await readResult(runDir(v.name, seed), v);
      if (done) results.push({ ...done, variant: v.name, seed });
    }
  }
  const summary = summarise(results);
  const ran = invocations.map((i) => `${i.date}: \`${i.command}\` trained and evaluated ${i.runs} runs in ${i.minutes} min (--jobs ${i.jobs}, ${i.cores} cores, teacher cache ${i.teacherCache ? 'on' : 'off'}).`);
  const start = backbone ? `, its backbone started from \`${backbone.path}\` (${backbone.meta.preset} pre-trained as a classifier${backbone.freezeStages ? `, first ${backbone.freezeStages} stage(s) frozen` : ''})` : ', from random weights';
  const setup = `Setup: teacher \`${f.teacher}\` (${meta.preset}), student preset \`${f.student}\`${start}, ${meta.data.name} scenes ${meta.data.size}², ${steps} steps × batch ${f.batch}, lr ${f.lr}, evaluated on ${testLength} held-out scenes (the last step's model), up to ${seeds} seeds (0..${seeds - 1}; the table says how many finished per variant), backend ${f.backend}.${ran.length ? `\n\nRuns:\n${ran.map((r) => `- ${r}`).join('\n')}` : ''}`;
  const teacherRow = { map50: teacherMetrics.map50, cocoAP: teacherMetrics.cocoAP };
  await writeAtomic(join(f.out, 'ablation.md'), ablationMarkdown(summary, teacherRow, setup, results));
  await writeAtomic(join(f.out, 'ablation.svg'), ablationSvg(summary, teacherRow));
  await writeAtomic(join(f.out, 'ablation.json'), JSON.stringify({ teacher: teacherRow, invocations, summary, results }, null, 2) + '\n');
  console.log(ablationMarkdown(summary, teacherRow, setup, results));
}

/** One `kdet experiment ablation` that trained runs into an output folder. */
interface Invocation {
  date: string;
  command: string;
  runs: number;
  minutes: number;
  jobs: number;
  cores: number;
  teacherCache: boolean;
}

async function readInvocations(file: string): Promise<Invocation[]> {
  if (!existsSync(file)) return [];
  let parsed: { invocations?: Invocation[] };
  try {
    parsed = JSON.parse(await readFile(file, 'utf8')) as { invocations?: Invocation[] };
  } catch (e) {
    throw new UsageError(`${file}: not a JSON ablation summary (${(e as Error).message}); move it away to start a new record`);
  }
  return Array.isArray(parsed.invocations) ? parsed.invocations : [];
}

interface RunSetup {
  teacher: FasterRCNN;
  meta: DetectorCheckpointMeta;
  teacherPath: string;
  teacherSha256: string;
  student: string;
  steps: number;
  batch: number;
  lr: number;
  testLength: number;
  teacherCache: string | null;
  /** The pre-trained student backbone every run starts from, or null (random weights). */
  backbone: BackboneFile | null;
  /** What each run's result.json records, to be matched when it is reused. */
  record: RunSetupRecord;
  /** Steps between saved trainer states. */
  checkpointEvery: number;
  /** When set (ms since 1970): a run ends at its first saved state after it. */
  deadline?: number;
}

/** First 16 hex digits of a file's SHA-256: how runs recognise the same teacher or backbone. */
const sha16 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex').slice(0, 16);

/**
 * One variant × seed, trained and evaluated in this process; writes <dir>/result.json last. A run
 * cut off (a machine's session ending, --stop-after) resumes exactly from its last saved state
 * when the job is started again; null: it stopped at the deadline, without a result.
 */
async function runOne(v: Variant, seed: number, dir: string, s: RunSetup): Promise<RunResult | null> {
  console.log(`— ${v.name} seed ${seed}: ${v.description}`);
  const setup = JSON.stringify({ variant: v.name, seed, setup: s.record }, null, 2) + '\n';
  const resume = await resumableState(dir, setup, s.steps);
  if (resume) {
    console.log(`  resuming at step ${resume.step} from ${join(dir, 'last.safetensors')}`);
  } else {
    // A fresh start: what an earlier attempt left is removed (not console.log, which the parent
    // of --jobs is writing this very run's output to).
    await mkdir(dir, { recursive: true });
    for (const file of ['last.safetensors', 'best.safetensors', 'log.jsonl', 'metrics.json', 'report.html', 'result.json']) await rm(join(dir, file), { force: true });
    await writeAtomic(join(dir, 'setup.json'), setup);
  }
  const r = await distillStudent({
    teacher: s.teacher, teacherMeta: s.meta, teacherPath: s.teacherPath, studentPreset: s.student,
    distill: v.distill ? defaultDistillConfig(v.distill) : null,
    steps: s.steps, batch: s.batch, lr: s.lr, evalEvery: 0, checkpointEvery: s.checkpointEvery, testLength: s.testLength, seed, out: dir,
    ...(resume ? { resume: resume.bytes } : {}),
    ...(s.deadline ? { deadline: s.deadline } : {}),
    ...(s.teacherCache ? { teacherCache: s.teacherCache } : {}),
    ...(s.backbone ? { backbone: s.backbone } : {}),
  });
  if (r.stoppedAt !== undefined) {
    console.log(`  stopped at step ${r.stoppedAt} of ${s.steps} (--stop-after); the same command resumes it`);
    return null;
  }
  // seconds and stepSeconds are this process's share when the run was resumed (resumedAt says so).
  const res: RunResult = { variant: v.name, seed, map50: r.last!.map50, cocoAP: r.last!.cocoAP, seconds: r.seconds, stepSeconds: r.stepSeconds, setup: s.record, ...(resume ? { resumedAt: resume.step } : {}) };
  await writeAtomic(join(dir, 'result.json'), JSON.stringify(res, null, 2) + '\n');
  console.log(`  mAP@0.5 ${res.map50.toFixed(4)}, COCO AP ${res.cocoAP.toFixed(4)}, ${res.stepSeconds.toFixed(3)} s/step`);
  return res;
}

/**
 * The saved trainer state of an unfinished run with this setup (its setup.json), or null: no
 * state, a state from before setup.json was written, or one already at the last step. Steps the
 * log recorded after that state (trained, then lost when the run was cut off) are dropped from
 * log.jsonl, so the resumed run's log reads as one uninterrupted run's.
 */
async function resumableState(dir: string, setup: string, steps: number): Promise<{ bytes: Uint8Array; step: number } | null> {
  const setupFile = join(dir, 'setup.json');
  const stateFile = join(dir, 'last.safetensors');
  if (!existsSync(setupFile) || !existsSync(stateFile)) return null;
  const recorded = await readFile(setupFile, 'utf8');
  if (recorded !== setup) {
    throw new UsageError(`kdet experiment ablation: ${setupFile} records an unfinished run with other settings (${recorded.replace(/\s+/g, ' ').slice(0, 300)}); use another --out or the same settings`);
  }
  const bytes = new Uint8Array(await readFile(stateFile));
  const step = (readCheckpointMetadata(bytes, stateFile).trainer as { step?: number } | undefined)?.step;
  if (typeof step !== 'number' || step >= steps) return null;
  const log = join(dir, 'log.jsonl');
  if (existsSync(log)) {
    const kept = (await readFile(log, 'utf8')).split('\n').filter((line) => line && (JSON.parse(line) as { step: number }).step <= step);
    await writeAtomic(log, kept.map((l) => l + '\n').join(''));
  }
  return { bytes, step };
}

/**
 * Runs `runs` (names <variant>-s<seed>) `jobs` at a time, each in a child process of this CLI
 * (`--run`), the wasm threads shared out between them. One process per run at one thread each uses
 * a small machine better than one run on all threads: a training step has serial parts (the
 * optimiser, data, small ops) that leave the other cores idle. Each run's output goes to
 * <dir>/console.log; a failed run stops the rest from starting and is reported with its log.
 */
async function runInProcesses(runs: { name: string; variant: Variant }[], jobs: number, argv: readonly string[], dirOf: (run: string) => string, readResult: (dir: string, variant: Variant) => Promise<RunResult | null>, deadline: number): Promise<void> {
  const threads = Math.max(1, Math.floor((Number(process.env.KDET_THREADS) || availableParallelism()) / jobs));
  const dropped = (name: string) => (a: string, i: number) => !new RegExp(`^--${name}(=|$)`).test(a) && !(argv[i - 1] === `--${name}` && !a.startsWith('--'));
  const childArgv = [...argv.filter((a, i) => dropped('jobs')(a, i) && dropped('stop-after')(a, i)), ...(deadline ? ['--deadline', String(deadline)] : [])];
  console.log(`${runs.length} runs, ${jobs} at a time, ${threads} wasm thread(s) each; logs in <run>/console.log`);
  const queue = [...runs];
  let failed: string | null = null;
  const worker = async () => {
    // After the deadline a worker starts no further run (its first one it always starts).
    for (let next = queue.shift(); next && !failed; next = deadline && Date.now() >= deadline ? undefined : queue.shift()) {
      const run = next.name;
      const dir = dirOf(run);
      await mkdir(dir, { recursive: true });
      const started = Date.now();
      console.log(`  start ${run}`);
      const code = await runKdetChild('experiment ablation --jobs', ['experiment', ...childArgv, '--run', run], threads, join(dir, 'console.log'));
      const res = await readResult(dir, next.variant);
      if (code === 0 && !res && deadline && Date.now() >= deadline) {
        console.log(`  stopped ${run} at its first saved state after the deadline`);
        break;
      }
      if (code !== 0 || !res) {
        failed = `${run} exited with code ${code}; see ${join(dir, 'console.log')}`;
        break;
      }
      console.log(`  done ${run}: mAP@0.5 ${res.map50.toFixed(4)}, COCO AP ${res.cocoAP.toFixed(4)}, ${((Date.now() - started) / 60000).toFixed(1)} min`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, runs.length) }, worker));
  if (failed) throw new UsageError(`kdet experiment ablation: run ${failed}`);
}

/** A run's relative cost: the teacher's heads for output terms, its backbone for any term. */
function runCost(v: Variant): number {
  const d = v.distill ? defaultDistillConfig(v.distill) : null;
  if (!d) return 0;
  return (d.soft || d.regression !== 'none' ? 2 : 0) + (d.hint ? 1 : 0);
}
/**
 * A finished run's result, or null if it has none yet. A result trained with other settings is an
 * error (reusing it would put, say, a 1500-step run in an 800-step table without a word). The
 * teacher is compared only for variants that use it (the student alone never reads the teacher, so
 * its runs serve every teacher's table), by content where the run recorded it (a moved file is the
 * same teacher; a retrained one saved over the old path is not), by path in runs written before
 * the content was recorded.
 */
async function readRunResult(dir: string, expected: RunSetupRecord, usesTeacher: boolean): Promise<RunResult | null> {
  const file = join(dir, 'result.json');
  let r: RunResult;
  try {
    r = JSON.parse(await readFile(file, 'utf8')) as RunResult;
  } catch {
    return null;
  }
  const byContent = r.setup?.teacherSha256 !== undefined;
  // The backbone's keys are compared both ways: a run from a pre-trained backbone never serves a
  // table of random starts, nor the other way round.
  const keys = new Set([...Object.keys(expected), 'backboneSha256', 'freezeStages']) as Set<keyof RunSetupRecord>;
  const compared = [...keys].filter((k) => {
    if (k === 'teacher') return usesTeacher && !byContent;
    if (k === 'teacherSha256') return usesTeacher && byContent;
    return true;
  });
  const differ = r.setup ? compared.filter((k) => r.setup![k] !== expected[k]) : [];
  if (differ.length) {
    throw new UsageError(`kdet experiment ablation: ${file} was run with ${differ.map((k) => `${k} ${JSON.stringify(r.setup![k] ?? null)}`).join(', ')}, not ${differ.map((k) => `${k} ${JSON.stringify(expected[k] ?? null)}`).join(', ')}; use another --out or the same settings`);
  }
  return r;
}
