/**
 * Hostile command lines: every one is refused with one line on stderr, `kdet <command>: ...`, exit
 * code 2 and no stack, before any work starts. The checkpoints here hold metadata and no weights,
 * and no backend may be installed by the end: a command that got as far as building a model (or
 * creating a backend) would fail differently, so these lines also show that every check comes first.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { commandName, main } from '../../src/cli/main.js';
import { modelConfig } from '../../src/cli/presets.js';
import { SHAPE_CLASSES } from '../../src/data/shapes.js';
import { encodePng } from '../../src/data/image.js';
import { state } from '../../src/engine/state.js';
import { encodeSafetensors } from '../../src/nn/safetensors.js';
import { kdet } from './run-cli.js';


const dir = mkdtempSync(join(tmpdir(), 'kdet-hostile-'));
const p = (name: string) => join(dir, name);
const metaFile = (name: string, meta: Record<string, unknown>) => writeFileSync(p(name), encodeSafetensors(new Map(), { format: 'kdet', kdet: JSON.stringify(meta) }));
const data = { name: 'shapes', size: 64, trainLength: 12, testLength: 6, seed: 0 };
const tiny = { kind: 'detector', preset: 'tiny', model: modelConfig('tiny', SHAPE_CLASSES.length), data, classNames: [...SHAPE_CLASSES] };

beforeAll(() => {
  metaFile('tiny.safetensors', tiny); // a tiny detector's metadata (no weights)
  metaFile('teacher.safetensors', { ...tiny, preset: 'teacher', model: modelConfig('teacher', SHAPE_CLASSES.length) });
  metaFile('last.safetensors', { ...tiny, trainer: { step: 5, config: { optimizer: 'sgd' } } });
  metaFile('other-kind.safetensors', { kind: 'tokenizer' });
  writeFileSync(p('plain.safetensors'), encodeSafetensors(new Map([['w', { dtype: 'F32', shape: [1], data: Float32Array.of(1) }]])));
  writeFileSync(p('notes.txt'), 'not a checkpoint, not an image\n');
  writeFileSync(p('img.png'), encodePng({ width: 8, height: 8, data: new Uint8Array(8 * 8 * 3) }));
  mkdirSync(p('folder'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const shapes = ['--data', 'shapes', '--size', '64', '--preset', 'tiny', '--train-size', '12', '--test-size', '6'];

/** [command line, what the one line must say]. */
export const HOSTILE: [string[], RegExp][] = [
  // Commands and flags that are near misses, missing values, stray words.
  [['distil', '--teacher', 'x'], /^kdet: unknown command 'distil' — did you mean 'distill'\?$/],
  [['train', '--step', '5'], /^kdet train: unknown flag --step — did you mean --steps\? \(see kdet train --help\)$/],
  [['train', '-steps', '5'], /unknown flag -steps — did you mean --steps\?/],
  [['train', '--out'], /--out needs a value$/],
  [['train', '--steps', '--batch', '4'], /--steps needs a value, got the flag --batch$/],
  [['train', 'steps', '5'], /unexpected argument 'steps' — did you mean --steps\?/],
  // Numbers out of range: zero, negative, NaN, huge.
  [['train', '--batch', '0'], /--batch must be an integer ≥ 1, got '0'/],
  [['train', '--steps', '-5'], /--steps must be an integer ≥ 1, got '-5'/],
  [['train', '--lr', 'NaN'], /--lr must be a number > 0, got 'NaN'/],
  [['train', '--size', '1e9'], /--size must be an integer in \[32, 1024\], got '1e9'/],
  [['train', '--steps', '1e400'], /--steps must be an integer ≥ 1, got '1e400'/],
  [['train', '--seed', '-1'], /--seed must be an integer in \[0, 4294967295\], got '-1'/],
  [['train', '--optimizer', 'sgdd'], /--optimizer must be one of sgd, adam, got 'sgdd' — did you mean 'sgd'\?/],
  [['train', ...shapes, '--batch', '16'], /--train-size 12 is less than one batch \(--batch 16\)/],
  // Output folders that cannot be made or written.
  [['train', ...shapes, '--out', join(p('notes.txt'), 'run')], /--out .*notes\.txt\/run: cannot create the folder \(.*notes\.txt is a file\)$/],
  ...(existsSync('/proc/self') ? ([[['train', ...shapes, '--out', '/proc/kdet-hostile/run'], /--out \/proc\/kdet-hostile\/run: cannot create the folder \(\/proc\/kdet-hostile: no such file or directory\)$/]] as [string[], RegExp][]) : []),
  // Resume files that cannot continue this run.
  [['train', ...shapes, '--resume', p('tiny.safetensors')], /--resume '.*tiny\.safetensors' holds no trainer state; resume from the last\.safetensors/],
  [['train', ...shapes, '--resume', p('last.safetensors'), '--steps', '5'], /--resume '.*last\.safetensors' is at step 5, not below --steps 5: nothing is left to train/],
  [['train', ...shapes, '--preset', 'student', '--resume', p('last.safetensors'), '--steps', '9'], /is a run of preset "tiny", not 'student'/],
  // Distillation weights and settings, refused before any model.
  [['distill'], /^kdet distill: --teacher is required/],
  [['distill', '--teacher', p('tiny.safetensors'), '--mu', '7'], /--mu must be a number in \[0, 1\], got '7'/],
  [['distill', '--teacher', p('tiny.safetensors'), '--temperature', '0'], /--temperature must be a number > 0, got '0'/],
  [['distill', '--teacher', p('tiny.safetensors'), '--psi', '-0.5'], /--psi must be a number in \[0, 1\], got '-0.5'/],
  [['distill', '--teacher', p('tiny.safetensors'), '--adapter', '2x2'], /--adapter must be one of 1x1, 3x3, none, got '2x2'/],
  [['distill', '--teacher', p('tiny.safetensors'), '--student', 'tiny', '--recipe', 'paper', '--heads-lr-scale', '0.2'], /--heads-lr-scale 0\.2 applies to heads copied from the teacher; add --heads-from-teacher/],
  [['distill', '--teacher', p('tiny.safetensors'), '--student', 'tiny', '--steps', '10', '--distill-until', '10'], /--distill-until 10 is not below --steps 10/],
  [['distill', '--teacher', p('teacher.safetensors'), '--student', 'tiny'], /student preset 'tiny' has feature stride 4, the teacher 8/],
  [['distill', '--teacher', p('tiny.safetensors'), '--student', 'tiny', '--out', join(p('notes.txt'), 'd')], /--out .*: cannot create the folder \(.*notes\.txt is a file\)/],
  [['distill', '--teacher', p('notes.txt')], /^kdet distill: --teacher '.*notes\.txt' is not a kdet checkpoint \(header length \d+ exceeds the file/],
  // Files that are missing, folders, or not checkpoints.
  [['eval', '--checkpoint', p('missing.safetensors')], /^kdet eval: --checkpoint '.*missing\.safetensors' cannot be read: ENOENT/],
  [['eval', '--checkpoint', p('folder')], /--checkpoint '.*folder' is a folder, not a file/],
  ...(existsSync('/dev/zero') ? ([[['eval', '--checkpoint', '/dev/zero'], /--checkpoint '\/dev\/zero' is not a regular file/]] as [string[], RegExp][]) : []), // read for ever before
  [['eval', '--checkpoint', p('plain.safetensors')], /is not a kdet checkpoint \(no kdet metadata\)/],
  [['eval', '--checkpoint', p('other-kind.safetensors')], /is not a detector checkpoint \(kind "tokenizer"\)/],
  [['eval', '--checkpoint', p('tiny.safetensors'), '--test-size', '-1'], /--test-size must be an integer ≥ 0, got '-1'/],
  [['detect', '--checkpoint', p('tiny.safetensors')], /^kdet detect: give at least one image/],
  [['detect', p('notes.txt'), '--checkpoint', p('tiny.safetensors')], /^kdet detect: .*notes\.txt: not a JPEG or PNG file/],
  [['detect', p('img.png'), '--checkpoint', p('tiny.safetensors'), '--threshold', '1.5'], /--threshold must be a number in \[0, 1\], got '1\.5'/],
  [['detect', p('img.png'), '--checkpoint', p('tiny.safetensors'), '-o', p('folder')], /-o .*folder: is a folder; give a file name/],
  [['export', '--checkpoint', p('tiny.safetensors')], /^kdet export: pass exactly one of --torchvision or --half/],
  [['export', '--torchvision', '--checkpoint', p('tiny.safetensors'), '--images', '-1'], /--images must be an integer in \[0, 256\], got '-1'/],
  [['export', '--torchvision', '--checkpoint', p('tiny.safetensors'), '--out', join(p('notes.txt'), 'x')], /--out .*: cannot create the folder/],
  [['show-data', '--data', 'fashon'], /^kdet show-data: --data must be fashion, shapes, voc:<DIR> or coco:<FILE.json>, got 'fashon' — did you mean 'fashion'\?$/],
  [['show-data', '--count', '0'], /--count must be an integer in \[1, 1024\], got '0'/],
  [['show-data', '--count', '1024', '--zoom', '16'], /the picture would be \d+ px wide/],
  [['show-data', '--out', join(p('notes.txt'), 'x.png')], /--out .*x\.png: cannot create its folder \(.*notes\.txt is a file\)/],
  [['experiment', 'ablaton'], /^kdet experiment: unknown experiment 'ablaton' — did you mean 'ablation'\?$/],
  [['experiment', 'ablation', '--seeds', '0'], /--seeds must be an integer in \[1, 100\], got '0'/],
  [['experiment', 'ablation', '--jobs', '0'], /--jobs must be an integer in \[1, 64\], got '0'/],
  [['experiment', 'ablation', '--student', 'huge'], /--student must be one of teacher, student, tiny, got 'huge'/],
  [['experiment', 'ablation', '--teacher', p('tiny.safetensors'), '--only', 'ful'], /--only: unknown variant 'ful' — did you mean 'full'\?/],
  [['experiment', 'ablation', '--teacher', p('teacher.safetensors'), '--student', 'tiny', '--only', 'student,full'], /variant 'full': student preset 'tiny' has feature stride 4, the teacher 8/],
];

describe('hostile command lines are one line and exit code 2, before any work', () => {
  it.each(HOSTILE.map(([argv, re]) => [argv.join(' ').replaceAll(dir, '<tmp>'), argv, re] as const))('kdet %s', async (_, argv, re) => {
    const r = await kdet(...argv);
    expect(r.code).toBe(2);
    const lines = r.err.split('\n');
    expect(lines).toHaveLength(1);
    // `kdet <command>: ` (`kdet experiment ablation: ` for the ablation); `kdet: ` when the command is unknown.
    const prefix = argv[0] === 'distil' ? 'kdet: ' : `kdet ${commandName(argv[0]!, argv.slice(1))}: `;
    expect(r.err.startsWith(prefix), `${r.err} starts with ${prefix}`).toBe(true);
    expect(r.err).toMatch(re);
    expect(r.err).not.toMatch(/\bat .*:\d+:\d+/); // no stack frame
    expect(r.out).toBe('');
  });

  it('installed no backend and built nothing', () => {
    expect(state.defaultBackend).toBeNull();
    expect(existsSync('/proc/kdet-hostile')).toBe(false);
  });
});

describe('the real process', () => {
  let bundle: string;
  beforeAll(async () => {
    // Inside the repository (build/ is ignored), so that its imports of packages resolve.
    bundle = join(process.cwd(), 'build', 'run', `hostile-test-${process.pid}.mjs`);
    await build({ entryPoints: ['src/cli/bin.ts'], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundle, packages: 'external', logLevel: 'warning' });
  });
  afterAll(() => rmSync(bundle, { force: true }));

  it.each([
    [['train', '--batch', '0'], "kdet train: --batch must be an integer ≥ 1, got '0'"],
    [['train', '--out', '/etc/passwd/x'], existsSync('/etc/passwd') ? 'kdet train: --out /etc/passwd/x: cannot create the folder (/etc/passwd is a file)' : null],
    [['distil'], "kdet: unknown command 'distil' — did you mean 'distill'?"],
  ] as [string[], string | null][])('kdet %j exits 2 with one line on stderr', (argv, line) => {
    if (line === null) return;
    const r = spawnSync(process.execPath, [bundle, ...argv], { encoding: 'utf8', cwd: dir, timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(line + '\n');
    expect(r.stdout).toBe('');
  });
});
