import { mkdir, readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { UsageError } from './args.js';
import { runKdetChild } from './child-process.js';
import { writeAtomic } from './files.js';
import type { TrainingResult } from './run-training.js';

/**
 * `kdet distill --compare-alone`: the same student trained on the ground truth alone, with the
 * same seed, schedule, data and backbone, so that what the teacher added is measured rather than
 * assumed. With two or more cores the baseline runs in a second process at the same time, the
 * threads shared out (results do not depend on the thread count); on one core it runs after.
 */

/** The flags that define a run apart from its objective: the baseline gets exactly these. */
const RUN_FLAGS = ['teacher', 'student', 'steps', 'batch', 'lr', 'eval-every', 'test-size', 'backend', 'seed', 'data', 'split', 'val-data', 'val-split', 'images', 'backbone-from', 'freeze-stages'] as const;

export const aloneDir = (out: string): string => join(out, 'student-alone');

/**
 * The baseline's command line: `distill --alone` with the run's own flags, into <out>/student-alone;
 * `extra` names further flags to pass on (a torchvision student's sizes, the ones given).
 */
export function aloneArgs(f: Record<string, string | number | boolean>, extra: readonly string[] = []): string[] {
  const args = ['distill', '--alone', `--out=${aloneDir(String(f.out))}`];
  for (const k of [...RUN_FLAGS, ...extra]) if (f[k] !== '' && f[k] !== undefined) args.push(`--${k}=${String(f[k])}`);
  return args;
}

/** How the cores are shared: threads for this process and for the baseline's (0: run it after). */
export function shareThreads(): { mine: number; baseline: number } {
  const total = Number(process.env.KDET_THREADS) || availableParallelism();
  if (total < 2) return { mine: total, baseline: 0 };
  const mine = Math.ceil(total / 2);
  return { mine, baseline: total - mine };
}

/** Starts the baseline in a second process; the promise it returns gives its exit code once it ends. */
export async function startBaseline(args: readonly string[], threads: number, out: string): Promise<{ exit: Promise<number> }> {
  const log = join(aloneDir(out), 'console.log');
  await mkdir(aloneDir(out), { recursive: true });
  console.log(`kdet distill --compare-alone: the student alone trains beside it in a second process (${threads} thread(s); log ${log})`);
  // Wrapped: an async function returning the bare promise would wait for the child to end.
  return { exit: runKdetChild('distill --compare-alone', args, threads, log) };
}

interface Scores {
  map50: number;
  cocoAP: number;
}

export interface Comparison {
  /** Scores of the last step's model on the held-out images (as the ablation compares). */
  distilled: Scores;
  alone: Scores;
  /** As recorded in the teacher's checkpoint. */
  teacher: Scores | null;
  /** Points of mAP@0.5 (×100) the teacher added. */
  gainPoints: number;
  /** Share of the teacher–student mAP@0.5 gap closed, or null without the teacher's score. */
  gapClosed: number | null;
  recipe: string;
  heldOutImages: number;
}

/** Reads the baseline's metrics.json; a missing or broken one is an error naming its log. */
export async function readBaseline(out: string, code: number): Promise<TrainingResult> {
  const log = join(aloneDir(out), 'console.log');
  if (code !== 0) throw new UsageError(`kdet distill --compare-alone: the student-alone run exited with code ${code}; see ${log}`);
  try {
    return JSON.parse(await readFile(join(aloneDir(out), 'metrics.json'), 'utf8')) as TrainingResult;
  } catch (e) {
    throw new UsageError(`kdet distill --compare-alone: the student-alone run wrote no readable metrics.json (${(e as Error).message}); see ${log}`);
  }
}

/** The comparison, printed and written to <out>/comparison.json. */
export async function reportComparison(out: string, distilled: TrainingResult, alone: TrainingResult, teacher: Scores | null, recipe: string): Promise<Comparison> {
  const d = distilled.last;
  const a = alone.last;
  if (!d || !a) throw new UsageError('kdet distill --compare-alone: a run ended without an evaluation');
  const gainPoints = 100 * (d.map50 - a.map50);
  const gap = teacher ? teacher.map50 - a.map50 : 0;
  const c: Comparison = {
    distilled: { map50: d.map50, cocoAP: d.cocoAP },
    alone: { map50: a.map50, cocoAP: a.cocoAP },
    teacher,
    gainPoints,
    gapClosed: teacher && gap > 0 ? (d.map50 - a.map50) / gap : null,
    recipe,
    heldOutImages: d.images,
  };
  await writeAtomic(join(out, 'comparison.json'), JSON.stringify(c, null, 2) + '\n');
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  console.log(`mAP@0.5 on ${d.images} held-out images, last step: distilled (${recipe}) ${d.map50.toFixed(4)}, student alone ${a.map50.toFixed(4)}: ${gainPoints >= 0 ? '+' : ''}${gainPoints.toFixed(1)} points` +
    (teacher ? `; teacher ${teacher.map50.toFixed(4)}, ${c.gapClosed !== null ? pct(c.gapClosed) : 'n/a'} of the gap closed` : '') + ` (${join(out, 'comparison.json')})`);
  return c;
}
