import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SyntheticShapes } from '../../src/data/shapes.js';
import { chwToRgb, encodePng } from '../../src/data/image.js';
import { readPth } from '../../src/interop/pth.js';
import { decodeSafetensors } from '../../src/nn/safetensors.js';
import { kdet } from './run-cli.js';


let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kdet-cli-'));
});
afterEach(() => vi.restoreAllMocks());

describe('kdet CLI errors are one clear line', () => {
  it.each([
    [['train', '--steps', 'abc'], /--steps must be an integer ≥ 1, got 'abc'/],
    [['train', '--nope'], /unknown flag --nope/],
    [['train', '--backend', 'cuda'], /--backend must be one of wasm, webgpu, reference/],
    [['eval'], /--checkpoint is required/],
    [['eval', '--checkpoint', '/nonexistent/x.safetensors'], /cannot be read: ENOENT/],
    [['frobnicate'], /^kdet: unknown command 'frobnicate' \(commands: train, pretrain, distill, experiment, eval, detect, export, import, show-data, export-data; see kdet --help\)$/],
    [['distil'], /^kdet: unknown command 'distil' — did you mean 'distill'\?$/],
    [['train', '--step', '5'], /^kdet train: unknown flag --step — did you mean --steps\? \(see kdet train --help\)$/],
  ])('kdet %j', async (argv, re) => {
    const r = await kdet(...(argv as string[]));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(re as RegExp);
    expect(r.err).toMatch(/^kdet( [\w-]+)?: [^\n]+$/); // one line, prefixed with the command
    expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('refuses a corrupted checkpoint and names the file', async () => {
    const bad = join(dir, 'bad.safetensors');
    writeFileSync(bad, new Uint8Array([200, 0, 0, 0, 0, 0, 0, 0, 123]));
    const r = await kdet('eval', '--checkpoint', bad);
    expect(r.code).toBe(2);
    expect(r.err).toContain('bad.safetensors');
    expect(r.err).toMatch(/header length 200 exceeds the file/);
  });
});

describe('kdet end to end on a tiny model', () => {
  it('trains, evaluates, exports, detects and distils', async () => {
    const common = ['--data', 'shapes', '--size', '64', '--backend', 'wasm'];
    const t = await kdet('train', ...common, '--preset', 'tiny', '--steps', '3', '--train-size', '12', '--test-size', '6', '--eval-every', '3', '--out', join(dir, 't'));
    expect(t.err).toBe('');
    expect(t.code).toBe(0);
    const ckpt = join(dir, 't', 'best.safetensors');
    expect(existsSync(ckpt)).toBe(true);
    expect(readFileSync(join(dir, 't', 'log.jsonl'), 'utf8').trim().split('\n').length).toBeGreaterThanOrEqual(4);

    // A run resumes from its last.safetensors; one that is already at --steps is refused, not "done".
    const last = join(dir, 't', 'last.safetensors');
    const again = ['train', ...common, '--preset', 'tiny', '--train-size', '12', '--test-size', '6', '--eval-every', '0', '--out', join(dir, 't2'), '--resume', last];
    const done = await kdet(...again, '--steps', '3');
    expect(done.code).toBe(2);
    expect(done.err).toMatch(/^kdet train: --resume '.*last\.safetensors' is at step 3, not below --steps 3: nothing is left to train/);
    const resumed = await kdet(...again, '--steps', '4');
    expect(resumed.err).toBe('');
    expect(resumed.code).toBe(0);
    expect(readFileSync(join(dir, 't2', 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).step)).toEqual([4, 4]); // one step, one evaluation

    const e = await kdet('eval', '--checkpoint', ckpt, '--json');
    expect(e.code).toBe(0);
    const metrics = JSON.parse(e.out);
    expect(metrics.images).toBe(6);
    expect(Number.isFinite(metrics.map50)).toBe(true);

    const x = await kdet('export', '--torchvision', '--checkpoint', ckpt, '--out', join(dir, 'x'), '--images', '2');
    expect(x.code).toBe(0);
    expect(existsSync(join(dir, 'x', 'model.safetensors'))).toBe(true);
    // The .pth twin holds the same tensors under the same names (what torch.load returns).
    const st = decodeSafetensors(readFileSync(join(dir, 'x', 'model.safetensors'))).tensors;
    const pth = readPth(readFileSync(join(dir, 'x', 'model.pth')), 'model.pth');
    expect([...pth.keys()]).toEqual([...st.keys()]);
    for (const [name, t] of st) {
      expect(pth.get(name)!.shape).toEqual(t.shape);
      expect(Array.from(pth.get(name)!.data)).toEqual(Array.from(t.data));
    }

    const png = join(dir, 'scene.png');
    const sample = new SyntheticShapes({ length: 1, height: 64, width: 64, split: 'test' }).get(0);
    writeFileSync(png, encodePng(chwToRgb(sample.image, 64, 64)));
    const det = await kdet('detect', png, '--checkpoint', ckpt, '-o', join(dir, 'det.png'), '--threshold', '0');
    expect(det.err).toBe('');
    expect(det.code).toBe(0);
    expect(det.out).toMatch(/: \d+ detections? ≥ 0 → /);
    expect(existsSync(join(dir, 'det.png'))).toBe(true);
    expect((await kdet('detect', join(dir, 'missing.png'), '--checkpoint', ckpt)).err).toMatch(/image '.*missing.png' cannot be read: ENOENT/);

    const d = await kdet('distill', '--teacher', ckpt, '--student', 'tiny', '--steps', '2', '--eval-every', '2', '--out', join(dir, 'd'), '--recipe', 'paper', '--fine-grained');
    expect(d.err).toBe('');
    expect(d.code).toBe(0);
    const log = readFileSync(join(dir, 'd', 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(Object.keys(log[0])).toEqual(expect.arrayContaining(['rpnCls', 'rpnReg', 'roiCls', 'roiReg', 'hint']));

    // The options beyond the paper reach the distiller, and a multiplier for heads that were not copied is refused by name.
    const h = await kdet('distill', '--teacher', ckpt, '--student', 'tiny', '--steps', '3', '--eval-every', '0', '--out', join(dir, 'h'), '--recipe', 'paper', '--heads-from-teacher', '--heads-lr-scale', '0.2', '--adapter', 'none', '--temperature', '2', '--soft-t2', '--hint-first-steps', '1', '--distill-until', '2');
    expect(h.err).toBe('');
    expect(h.code).toBe(0);
    expect(JSON.parse(/terms: (.*)/.exec(h.out)![1]!)).toMatchObject({ headsFromTeacher: true, headsLrScale: 0.2, temperature: 2, scaleSoftByT2: true, hintFirstSteps: 1, distillUntilStep: 2 });
    const hLog = JSON.parse(readFileSync(join(dir, 'h', 'log.jsonl'), 'utf8').trim().split('\n')[0]!);
    expect(hLog).toMatchObject({ rpnCls: 0, roiCls: 0, rpnReg: 0, roiReg: 0 });
    expect(hLog.hint).toBeGreaterThan(0);
    const hBad = await kdet('distill', '--teacher', ckpt, '--student', 'tiny', '--steps', '1', '--out', join(dir, 'h2'), '--recipe', 'paper', '--heads-lr-scale', '0.2');
    expect(hBad.code).not.toBe(0);
    expect(hBad.code).toBe(2);
    expect(hBad.err).toMatch(/^kdet distill: --heads-lr-scale 0\.2 applies to heads copied from the teacher; add --heads-from-teacher$/);
    expect(existsSync(join(dir, 'h2'))).toBe(false); // refused before the output folder was made
    // A stop at or after the last step would distil throughout under another name: refused.
    const uBad = await kdet('distill', '--teacher', ckpt, '--student', 'tiny', '--steps', '2', '--out', join(dir, 'u'), '--distill-until', '2');
    expect(uBad.code).toBe(2);
    expect(uBad.err).toMatch(/--distill-until 2 is not below --steps 2/);
    expect(existsSync(join(dir, 'u'))).toBe(false);

    // A teacher cache folder serves a second run everything the first computed, with the same result.
    const tc = ['distill', '--teacher', ckpt, '--student', 'tiny', '--steps', '2', '--eval-every', '0', '--teacher-cache', join(dir, 'tc')];
    const c1 = await kdet(...tc, '--out', join(dir, 'c1'));
    expect(c1.code).toBe(0);
    expect(c1.out).toMatch(/teacher features: [1-9]\d* computed, 0 read from /);
    const c2 = await kdet(...tc, '--out', join(dir, 'c2'));
    expect(c2.out).toMatch(/teacher features: 0 computed, [1-9]\d* read from /);
    const losses = (run: string) => readFileSync(join(dir, run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.loss !== undefined && r.loss !== null).map((r) => [r.loss, r.gradNorm]);
    expect(losses('c2')).toEqual(losses('c1'));

    // The ablation runs variants × seeds, resumes finished runs, and --aggregate rebuilds the table alone.
    const abl = join(dir, 'abl');
    const ab = ['experiment', 'ablation', '--teacher', ckpt, '--student', 'tiny', '--steps', '2', '--test-size', '4', '--out', abl];
    const tooShort = await kdet(...ab, '--seeds', '1', '--only', 'student,full-until2250');
    expect(tooShort.code).toBe(2);
    expect(tooShort.err).toMatch(/variant 'full-until2250' stops its distillation terms at step 2250, not below --steps 2/);
    expect(existsSync(abl)).toBe(false);
    const a1 = await kdet(...ab, '--seeds', '1', '--only', 'student,full');
    expect(a1.err).toBe('');
    expect(a1.code).toBe(0);
    expect(existsSync(join(abl, 'runs', 'full-s0', 'result.json'))).toBe(true);
    expect(existsSync(join(abl, '.teacher-cache'))).toBe(false); // removed once every run finished
    // A finished run is never reused under other settings.
    const other = await kdet('experiment', 'ablation', '--teacher', ckpt, '--student', 'tiny', '--steps', '3', '--test-size', '4', '--out', abl, '--seeds', '1', '--only', 'student');
    expect(other.err).toMatch(/student-s0.result\.json was run with steps 2, not steps 3; use another --out or the same settings/);
    // The teacher is matched by content: the same file under another name serves its runs ...
    const moved = join(dir, 'moved.safetensors');
    const teacherBytes = readFileSync(ckpt);
    writeFileSync(moved, teacherBytes);
    const m1 = await kdet('experiment', 'ablation', '--teacher', moved, '--student', 'tiny', '--steps', '2', '--test-size', '4', '--out', abl, '--seeds', '1', '--aggregate');
    expect(m1.err).toBe('');
    expect(m1.code).toBe(0);
    // ... a retrained teacher saved over the same path does not (one weight's lowest mantissa byte changed) ...
    const retrained = Uint8Array.from(teacherBytes);
    retrained[retrained.length - 4] ^= 0x01;
    writeFileSync(moved, retrained);
    const m2 = await kdet('experiment', 'ablation', '--teacher', moved, '--student', 'tiny', '--steps', '2', '--test-size', '4', '--out', abl, '--seeds', '1', '--aggregate');
    expect(m2.code).not.toBe(0);
    expect(m2.err).toMatch(/full-s0.result\.json was run with teacherSha256 "[0-9a-f]{16}", not teacherSha256 "[0-9a-f]{16}"/);
    // ... and the student alone, which never reads the teacher, serves every teacher's table.
    const alone = join(dir, 'abl-alone');
    cpSync(join(abl, 'runs', 'student-s0'), join(alone, 'runs', 'student-s0'), { recursive: true });
    const m3 = await kdet('experiment', 'ablation', '--teacher', moved, '--student', 'tiny', '--steps', '2', '--test-size', '4', '--out', alone, '--seeds', '1', '--only', 'student');
    expect(m3.err).toBe('');
    expect(m3.code).toBe(0);
    expect(m3.out).not.toMatch(/— student seed 0/);
    expect(JSON.parse(readFileSync(join(alone, 'ablation.json'), 'utf8')).results).toHaveLength(1);
    const a2 = await kdet(...ab, '--seeds', '2', '--aggregate');
    expect(a2.code).toBe(0);
    expect(a2.out).not.toMatch(/— student seed 1/); // --aggregate trains nothing
    const table = readFileSync(join(abl, 'ablation.md'), 'utf8');
    expect(table).toMatch(/\| student \| .* \| 1 \| /);
    expect(table).toMatch(/\| full \| .* \| 1 \| /);
    expect(table).toMatch(/full distillation > student alone: .*one seed/);
    expect(JSON.parse(readFileSync(join(abl, 'ablation.json'), 'utf8')).results).toHaveLength(2);

    // --jobs runs each pending run in its own process; a run's result does not depend on where it ran.
    const inProcess = JSON.parse(readFileSync(join(abl, 'runs', 'full-s0', 'result.json'), 'utf8'));
    rmSync(join(abl, 'runs', 'full-s0', 'result.json'));
    const a3 = await kdet(...ab, '--seeds', '2', '--only', 'student,full', '--jobs', '2');
    expect(a3.err).toBe('');
    expect(a3.code).toBe(0);
    expect(a3.out).toMatch(/3 runs, 2 at a time/);
    for (const run of ['full-s0', 'student-s1', 'full-s1']) expect(readFileSync(join(abl, 'runs', run, 'console.log'), 'utf8')).toMatch(/mAP@0\.5/);
    const child = JSON.parse(readFileSync(join(abl, 'runs', 'full-s0', 'result.json'), 'utf8'));
    expect([child.map50, child.cocoAP]).toEqual([inProcess.map50, inProcess.cocoAP]);
    const summary = JSON.parse(readFileSync(join(abl, 'ablation.json'), 'utf8'));
    expect(summary.results).toHaveLength(4);
    // Both invocations that trained runs are on record (the --aggregate one trained none).
    expect(summary.invocations.map((i: { runs: number; jobs: number }) => [i.runs, i.jobs])).toEqual([[2, 1], [3, 2]]);
    const md = readFileSync(join(abl, 'ablation.md'), 'utf8');
    expect(md).toMatch(/`kdet experiment ablation .*--only student,full` trained and evaluated 2 runs in [\d.]+ min \(--jobs 1/);
    expect(md).toMatch(/`kdet experiment ablation .*--jobs 2` trained and evaluated 3 runs in [\d.]+ min \(--jobs 2/);
    const bad = await kdet(...ab, '--run', 'nope-s0');
    expect(bad.err).toMatch(/--run: expected <variant>-s<seed> with a known variant, got 'nope-s0'/);

    // A job cut off by --stop-after ends each run at its first saved state after the deadline and
    // writes no table; the same command resumes the runs, to the results of a job never cut off.
    const cutArgs = (out: string) => ['experiment', 'ablation', '--teacher', ckpt, '--student', 'tiny', '--steps', '4', '--checkpoint-every', '2', '--test-size', '4', '--seeds', '1', '--only', 'student,full', '--out', out];
    const whole = await kdet(...cutArgs(join(dir, 'whole')));
    expect(whole.code).toBe(0);
    const cut = join(dir, 'cut');
    const s1 = await kdet(...cutArgs(cut), '--stop-after', '0.0001');
    expect(s1.err).toBe('');
    expect(s1.code).toBe(0);
    expect(s1.out).toMatch(/stopped at step 2 of 4 \(--stop-after\)/);
    expect(s1.out).toMatch(/stopped with 2 of 2 runs unfinished/); // the second run never started
    expect(existsSync(join(cut, 'runs', 'student-s0', 'result.json'))).toBe(false);
    expect(existsSync(join(cut, 'runs', 'full-s0'))).toBe(false);
    expect(existsSync(join(cut, 'ablation.md'))).toBe(false);
    // A step trained after the saved state, then lost with the process, is dropped from the log.
    const cutLog = join(cut, 'runs', 'student-s0', 'log.jsonl');
    writeFileSync(cutLog, readFileSync(cutLog, 'utf8') + JSON.stringify({ step: 3, loss: 99 }) + '\n');
    // In processes (--jobs 2) each worker starts its first run; the children keep the parent's
    // deadline: the new run stops at step 2, the resumed one's next saved state is its end.
    const s2 = await kdet(...cutArgs(cut), '--stop-after', '0.0001', '--jobs', '2');
    expect(s2.code).toBe(0);
    expect(s2.out).toMatch(/stopped with 1 of 2 runs unfinished/);
    expect(readFileSync(join(cut, 'runs', 'full-s0', 'console.log'), 'utf8')).toMatch(/stopped at step 2 of 4/);
    expect(readFileSync(join(cut, 'runs', 'student-s0', 'console.log'), 'utf8')).toMatch(/resuming at step 2 from /);
    const s3 = await kdet(...cutArgs(cut));
    expect(s3.err).toBe('');
    expect(s3.code).toBe(0);
    expect(s3.out).toMatch(/resuming at step 2 from .*full-s0.last\.safetensors/);
    for (const run of ['student-s0', 'full-s0']) {
      const read = (out: string) => JSON.parse(readFileSync(join(out, 'runs', run, 'result.json'), 'utf8'));
      expect([read(cut).map50, read(cut).cocoAP, read(cut).resumedAt]).toEqual([read(join(dir, 'whole')).map50, read(join(dir, 'whole')).cocoAP, 2]);
      const steps = (out: string) => readFileSync(join(out, 'runs', run, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).map((r) => [r.step, r.loss ?? null, r.gradNorm ?? null]);
      expect(steps(cut)).toEqual(steps(join(dir, 'whole')));
    }
    // An unfinished run is never resumed under other settings.
    rmSync(join(cut, 'runs', 'full-s0', 'result.json'));
    writeFileSync(join(cut, 'runs', 'full-s0', 'setup.json'), readFileSync(join(cut, 'runs', 'full-s0', 'setup.json'), 'utf8').replace('"lr": 0.1', '"lr": 0.2'));
    const s4 = await kdet(...cutArgs(cut));
    expect(s4.code).toBe(2);
    expect(s4.err).toMatch(/full-s0.setup\.json records an unfinished run with other settings .*; use another --out or the same settings/);
  });
});
