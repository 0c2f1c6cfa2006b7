/**
 * Training-step time of whole detectors (issue 5's benchmark line): kdet-wasm's student, teacher
 * and distillation steps beside torchvision's Faster R-CNN on PyTorch CPU with the same
 * architecture, batch 4, 128² Fashion-MNIST scenes.
 *
 *   node scripts/run.mjs bench/train-step.ts [--steps 25] [--skip 5] [--threads 1] [--no-torch]
 *
 * Each side trains `steps` real steps from the same data and reports the median wall time of the
 * steps after the first `skip` (warm-up: pipeline compilation, pool filling, first allocations).
 * kdet's time is read from its own log.jsonl (`seconds` per step: batch building, forward,
 * backward, clipping, update); torchvision's from the peer's summary.json, which times the same
 * span. Run on an otherwise idle machine: with other processes on the cores, wall time includes
 * waiting for a core. Writes bench/TRAIN-STEP.md.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const steps = opt('steps', 25);
const skip = opt('skip', 5);
const threads = opt('threads', 1);
const withTorch = !argv.includes('--no-torch');
const work = join(tmpdir(), 'kdet-train-step');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const env = { ...process.env, KDET_THREADS: String(threads) };
function kdet(args: string[]): number {
  const out = join(work, `kdet-${args.join('-').replace(/[^a-z0-9]+/gi, '_')}`);
  execFileSync('node', ['scripts/run.mjs', 'src/cli/bin.ts', ...args, '--steps', String(steps), '--eval-every', '0', '--test-size', '1', '--out', out], { stdio: ['ignore', 'ignore', 'inherit'], env });
  const log = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step?: number; seconds?: number });
  return median(log.filter((r) => r.seconds !== undefined && r.step! > skip).map((r) => r.seconds!));
}

function torch(preset: string): number {
  const data = join(work, 'scenes');
  if (!existsSync(join(data, 'train.json'))) {
    execFileSync('node', ['scripts/run.mjs', 'scripts/dump-scenes.ts', '--data', 'fashion', '--split', 'train', '--length', '60', '--size', '128', '--seed', '0', '--out', data, '--plan-steps', String(steps), '--batch', '4', '--train-seed', '0'], { stdio: 'ignore' });
  }
  const out = join(work, `torch-${preset}`);
  execFileSync('/usr/bin/python3', ['bench/torch-peer/train_torchvision.py', '--preset', preset, '--data', data, '--out', out, '--steps', String(steps), '--batch', '4', '--threads', String(threads), '--linear', 'onednn', '--skip-timing', String(skip), '--no-test'], { stdio: ['ignore', 'ignore', 'inherit'] });
  return (JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { medianStepSeconds: number }).medianStepSeconds;
}

const teacher = 'models/teacher.safetensors';
const rows: { what: string; kdet: number; torch: number | null }[] = [];
const student = kdet(['train', '--preset', 'student']);
rows.push({ what: 'student step (plain)', kdet: student, torch: withTorch ? torch('student') : null });
rows.push({ what: 'teacher step', kdet: kdet(['train', '--preset', 'teacher']), torch: withTorch ? torch('teacher') : null });
const full = kdet(['distill', '--teacher', teacher, '--student', 'student']);
rows.push({ what: 'distillation step (full method)', kdet: full, torch: null });

let torchVersion = 'not run';
if (withTorch) torchVersion = execFileSync('/usr/bin/python3', ['-c', 'import torch, torchvision; print(torch.__version__, torchvision.__version__)'], { encoding: 'utf8' }).trim().replace(' ', ' / torchvision ');
const lines = [
  `# Training-step time: kdet-wasm vs PyTorch CPU`,
  '',
  `Batch 4, 128² Fashion-MNIST scenes, median wall seconds of steps ${skip + 1}–${steps} (after warm-up), ${threads} thread(s) on each side.`,
  `Machine: ${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}, Node ${process.version}, PyTorch ${torchVersion} (box-head Linear as 1×1 convolutions: Debian's torch has only reference BLAS).`,
  `Command: \`node scripts/run.mjs bench/train-step.ts --steps ${steps} --skip ${skip} --threads ${threads}\`.`,
  '',
  '| step | kdet-wasm (s) | PyTorch CPU (s) | kdet / PyTorch |',
  '| --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.what} | ${r.kdet.toFixed(3)} | ${r.torch === null ? '—' : r.torch.toFixed(3)} | ${r.torch === null ? '—' : (r.kdet / r.torch).toFixed(2) + '×'} |`),
  '',
  `Distillation step / plain student step: ${(full / student).toFixed(2)}×.`,
  '',
];
console.log(lines.join('\n'));
writeFileSync(`bench/TRAIN-STEP${threads > 1 ? `-${threads}threads` : ''}.md`, lines.join('\n'));
