import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { readCheckpointMetadata } from '../../src/nn/checkpoint.js';
import { decodeSafetensors } from '../../src/nn/safetensors.js';
import { kdet } from './run-cli.js';

let dir: string;
let backbone: string;
let pretrainOut: string;

afterEach(() => vi.restoreAllMocks());

const tensorsOf = (path: string) => decodeSafetensors(new Uint8Array(readFileSync(path)), path).tensors;
const bytesOf = (t: { data: ArrayBufferView }) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
const oneLine = (err: string) => expect(err).toMatch(/^kdet [\w-]+: [^\n]+$/);

// Tiny and fast: 16 embedded train items (identical on every machine), big items on a 32² canvas.
const PRETRAIN = ['pretrain', '--backbone', 'tiny', '--items', 'embedded', '--steps', '40', '--batch', '16', '--train-size', '16', '--test-size', '50', '--size', '32', '--min-scale', '24', '--max-scale', '32'];
// A one-step detector run on two small scenes.
const TRAIN = ['train', '--preset', 'tiny', '--steps', '1', '--batch', '2', '--train-size', '2', '--test-size', '2', '--size', '64', '--eval-every', '0', '--lr', '0.05'];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kdet-pretrain-'));
  pretrainOut = join(dir, 'pre');
  const r = await kdet(...PRETRAIN, '--out', pretrainOut);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  backbone = join(pretrainOut, 'backbone.safetensors');
  vi.restoreAllMocks();
}, 120_000);

describe('kdet pretrain', () => {
  it('writes a backbone-only checkpoint with top-1 in [0, 1] and a log of finite, falling losses', async () => {
    expect(existsSync(backbone)).toBe(true);
    const meta = readCheckpointMetadata(new Uint8Array(readFileSync(backbone))) as Record<string, any>;
    expect(meta.kind).toBe('backbone');
    expect(meta.preset).toBe('tiny');
    expect(meta.steps).toBe(40);
    expect(meta.top1).toBeGreaterThanOrEqual(0);
    expect(meta.top1).toBeLessThanOrEqual(1);
    expect(meta.data).toMatchObject({ name: 'fashion', source: 'embedded', trainItems: 16, testItems: 50 });
    // Only the backbone, named as inside a detector: tiny has 3 convs, a weight and a bias each.
    const names = [...tensorsOf(backbone).keys()].sort();
    expect(names).toEqual(['backbone.0.bias', 'backbone.0.weight', 'backbone.3.bias', 'backbone.3.weight', 'backbone.6.bias', 'backbone.6.weight']);

    const lines = readFileSync(join(pretrainOut, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const losses = lines.filter((l) => 'loss' in l).map((l) => l.loss as number);
    expect(losses).toHaveLength(40);
    expect(losses.every(Number.isFinite)).toBe(true);
    const avg = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    // 16 items seen 40 times: the loss falls well below chance's ln 10 ≈ 2.30.
    expect(avg(losses.slice(-5))).toBeLessThan(avg(losses.slice(0, 5)) - 0.1);
    expect(lines.at(-1).eval).toEqual({ top1: meta.top1, images: 50 });
  });

  it('says which item source it used', async () => {
    const r = await kdet(...PRETRAIN, '--steps', '1', '--test-size', '10', '--out', join(dir, 'pre1'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/the subset embedded in kdet/);
  }, 60_000);

  it('resumes from its saved state to the uninterrupted run: the same log and backbone, bit for bit', async () => {
    const short = [...PRETRAIN, '--steps', '6', '--checkpoint-every', '3', '--test-size', '10'];
    const whole = join(dir, 'whole');
    expect((await kdet(...short, '--out', whole)).code).toBe(0);
    // The state is saved at step 3 (not at the end, where backbone.safetensors is the result).
    const state = join(whole, 'last.safetensors');
    expect(readCheckpointMetadata(new Uint8Array(readFileSync(state)))).toMatchObject({ kind: 'pretrain-state', step: 3 });
    const resumed = join(dir, 'resumed');
    const r = await kdet(...short, '--resume', state, '--out', resumed);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/resuming at step 3 from /);
    const rows = (out: string) => readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).map((x) => [x.step, x.loss ?? null, x.gradNorm ?? null, x.eval ?? null]);
    // The resumed run's log has steps 4–6 (and the evaluation); the whole run's, 1–6.
    expect(rows(resumed)).toEqual(rows(whole).slice(3));
    const a = tensorsOf(join(whole, 'backbone.safetensors'));
    const b = tensorsOf(join(resumed, 'backbone.safetensors'));
    for (const [name, t] of a) expect(bytesOf(b.get(name)!)).toEqual(bytesOf(t));
    // Another run's state, or a file that is not one, is refused in one line.
    const other = await kdet(...short, '--lr', '0.1', '--resume', state, '--out', join(dir, 'other'));
    expect(other.code).toBe(2);
    expect(other.err).toMatch(/^kdet pretrain: --resume '.*' is a run with lr 0\.05, not lr 0\.1; resume it with its own flags$/);
    const notState = await kdet(...short, '--resume', backbone, '--out', join(dir, 'other2'));
    expect(notState.code).toBe(2);
    expect(notState.err).toMatch(/is not a pretrain state \(kind "backbone"\)/);
    expect(existsSync(join(dir, 'other'))).toBe(false); // refused before the output folder was made
  }, 120_000);

  it.each([
    [['--min-scale', '40', '--max-scale', '30'], /--min-scale 40 is above --max-scale 30/],
    [['--size', '32', '--max-scale', '40'], /--max-scale 40 is above the canvas --size 32/],
    [['--train-size', '4', '--batch', '8'], /--train-size 4 is less than one batch/],
    [['--backbone', 'huge'], /--backbone must be one of/],
    [['--data', 'voc'], /--data must be one of fashion/],
  ])('refuses %j in one line, exit 2', async (extra, re) => {
    const r = await kdet('pretrain', '--items', 'embedded', ...(extra as string[]), '--out', join(dir, 'bad'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(re as RegExp);
    oneLine(r.err);
  });
});

describe('kdet train/distill --backbone-from', () => {
  it('starts from the pre-trained weights; frozen stages keep them bit for bit, the others train', async () => {
    const out = join(dir, 'train-freeze1');
    const r = await kdet(...TRAIN, '--backbone-from', backbone, '--freeze-stages', '1', '--out', out);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/backbone from .*first 1 stage\(s\) frozen/);
    const pre = tensorsOf(backbone);
    const after = tensorsOf(join(out, 'best.safetensors'));
    for (const name of ['backbone.0.weight', 'backbone.0.bias']) expect(bytesOf(after.get(name)!)).toEqual(bytesOf(pre.get(name)!));
    // Stage 2's conv was loaded, then trained one step.
    expect(after.get('backbone.3.weight')!.shape).toEqual(pre.get('backbone.3.weight')!.shape);
    expect(bytesOf(after.get('backbone.3.weight')!)).not.toEqual(bytesOf(pre.get('backbone.3.weight')!));
    const meta = readCheckpointMetadata(new Uint8Array(readFileSync(join(out, 'best.safetensors'))));
    expect(meta).toMatchObject({ backboneFrom: backbone, freezeStages: 1 });
  }, 120_000);

  it('every stage frozen: the whole backbone is the pre-trained one; distill does the same for the student', async () => {
    const out = join(dir, 'train-freeze3');
    const r = await kdet(...TRAIN, '--backbone-from', backbone, '--freeze-stages', '3', '--out', out);
    expect(r.code).toBe(0);
    const pre = tensorsOf(backbone);
    const after = tensorsOf(join(out, 'best.safetensors'));
    for (const [name, t] of pre) expect(bytesOf(after.get(name)!)).toEqual(bytesOf(t));

    const dOut = join(dir, 'distill-freeze3');
    const d = await kdet('distill', '--teacher', join(out, 'best.safetensors'), '--student', 'tiny', '--steps', '1', '--batch', '2', '--eval-every', '0', '--backbone-from', backbone, '--freeze-stages', '3', '--out', dOut);
    expect(d.err).toBe('');
    expect(d.code).toBe(0);
    const student = tensorsOf(join(dOut, 'best.safetensors'));
    for (const [name, t] of pre) expect(bytesOf(student.get(name)!)).toEqual(bytesOf(t));

    // The ablation starts every run from the backbone and records it: its runs never serve a table
    // of random starts, nor the other way round.
    const abl = join(dir, 'abl-pre');
    const ab = ['experiment', 'ablation', '--teacher', join(out, 'best.safetensors'), '--student', 'tiny', '--steps', '1', '--batch', '2', '--test-size', '2', '--seeds', '1', '--only', 'student', '--out', abl];
    const e = await kdet(...ab, '--backbone-from', backbone, '--freeze-stages', '3');
    expect(e.err).toBe('');
    expect(e.code).toBe(0);
    const result = JSON.parse(readFileSync(join(abl, 'runs', 'student-s0', 'result.json'), 'utf8'));
    expect(result.setup).toMatchObject({ freezeStages: 3, backboneSha256: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(readFileSync(join(abl, 'ablation.md'), 'utf8')).toMatch(/its backbone started from `.*backbone\.safetensors` \(tiny pre-trained as a classifier, first 3 stage\(s\) frozen\)/);
    for (const [name, t] of pre) expect(bytesOf(tensorsOf(join(abl, 'runs', 'student-s0', 'best.safetensors')).get(name)!)).toEqual(bytesOf(t));
    const scratch = await kdet(...ab);
    expect(scratch.code).toBe(2);
    expect(scratch.err).toMatch(/was run with backboneSha256 "[0-9a-f]{16}", freezeStages 3, not backboneSha256 null, freezeStages null; use another --out/);
  }, 180_000);

  it.each([
    [['--preset', 'student'], /--backbone-from '.*' holds a 'tiny' backbone, but --preset is 'student'/],
    [['--freeze-stages', '4'], /--freeze-stages 4 is more than the 3 stages of preset 'tiny'/],
  ])('train refuses %j in one line, exit 2, before any model or output', async (extra, re) => {
    const out = join(dir, `refused-${extra.join('')}`);
    const r = await kdet(...TRAIN, '--backbone-from', backbone, ...(extra as string[]), '--out', out);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(re as RegExp);
    oneLine(r.err);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses --freeze-stages without --backbone-from, and a file that is not a backbone', async () => {
    const a = await kdet(...TRAIN, '--freeze-stages', '1', '--out', join(dir, 'x'));
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/--freeze-stages 1 needs --backbone-from/);
    oneLine(a.err);
    const detector = join(dir, 'train-freeze3', 'best.safetensors');
    const b = await kdet(...TRAIN, '--backbone-from', detector, '--out', join(dir, 'y'));
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/is not a backbone checkpoint \(kind "detector"\)/);
    oneLine(b.err);
  });

  it('distill refuses a backbone of another preset than --student, and too many frozen stages', { timeout: 120_000 }, async () => {
    const teacher = join(dir, 'train-freeze3', 'best.safetensors');
    const a = await kdet('distill', '--teacher', teacher, '--student', 'tiny', '--steps', '1', '--backbone-from', backbone, '--freeze-stages', '5', '--out', join(dir, 'z'));
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/^kdet distill: --freeze-stages 5 is more than the 3 stages of preset 'tiny'$/);
    // A 4-stage teacher, so that the student preset fits it and only the backbone file is wrong.
    const big = join(dir, 'teacher4');
    expect((await kdet(...TRAIN, '--preset', 'teacher', '--out', big)).code).toBe(0);
    const b = await kdet('distill', '--teacher', join(big, 'best.safetensors'), '--student', 'student', '--steps', '1', '--backbone-from', backbone, '--out', join(dir, 'w'));
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/^kdet distill: --backbone-from '.*' holds a 'tiny' backbone, but --student is 'student'; /);
    oneLine(b.err);
    expect(existsSync(join(dir, 'w'))).toBe(false);
  });
});

describe('kdet pretrain / train --backbone-from for torchvision builders (their body)', () => {
  const MNV3 = 'fasterrcnn_mobilenet_v3_large_320_fpn';
  // Two steps on a 32² canvas: enough to change every BatchNorm's running statistics.
  const PRE_TV = ['pretrain', '--backbone', MNV3, '--items', 'embedded', '--steps', '2', '--batch', '4', '--train-size', '8', '--test-size', '8', '--size', '32', '--min-scale', '16', '--max-scale', '32'];
  const TRAIN_TV = ['train', '--preset', MNV3, '--steps', '1', '--batch', '2', '--train-size', '2', '--test-size', '2', '--size', '64', '--min-size', '64', '--max-size', '64', '--box-batch-size-per-image', '16', '--eval-every', '0'];
  let body: string;

  beforeAll(async () => {
    const r = await kdet(...PRE_TV, '--out', join(dir, 'pre-mnv3'));
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    body = join(dir, 'pre-mnv3', 'backbone.safetensors');
    vi.restoreAllMocks();
  }, 120_000);

  it("writes the body under the detector's names and the detector starts from it: frozen layers and statistics bit for bit", async () => {
    const meta = readCheckpointMetadata(new Uint8Array(readFileSync(body))) as Record<string, any>;
    expect(meta).toMatchObject({ kind: 'backbone', preset: MNV3, backbone: { body: 'mobilenet_v3_large' }, steps: 2 });
    const pre = tensorsOf(body);
    // Blocks 0–16 of MobileNetV3-Large's features, BatchNorm2d's five tensors per norm; no FPN, no head.
    expect([...pre.keys()].every((k) => k.startsWith('backbone.body.'))).toBe(true);
    expect(pre.has('backbone.body.16.0.weight')).toBe(true);
    expect(pre.has('backbone.body.0.1.num_batches_tracked')).toBe(true);
    const stats = pre.get('backbone.body.0.1.running_mean')!.data as Float32Array;
    expect(stats.some((v) => v !== 0)).toBe(true); // trained statistics, not the initial zeros

    const out = join(dir, 'tv-from-body');
    const r = await kdet(...TRAIN_TV, '--backbone-from', body, '--out', out);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/FrozenBatchNorm2d, 3 trainable backbone layers; body from .*backbone\.safetensors \(mobilenet_v3_large, pre-trained 2 steps/);
    const after = tensorsOf(join(out, 'best.safetensors'));
    // Torchvision's recipe with weights_backbone: FrozenBatchNorm2d (no num_batches_tracked), the
    // blocks before stage 3 of 6 (block 4) frozen, so they are the pre-trained ones exactly.
    expect(after.has('backbone.body.0.1.num_batches_tracked')).toBe(false);
    for (const name of ['backbone.body.0.0.weight', 'backbone.body.0.1.running_mean', 'backbone.body.0.1.running_var', 'backbone.body.0.1.weight', 'backbone.body.3.block.0.0.weight']) {
      expect(bytesOf(after.get(name)!)).toEqual(bytesOf(pre.get(name)!));
    }
    // Block 16 was loaded, then trained one step.
    expect(bytesOf(after.get('backbone.body.16.0.weight')!)).not.toEqual(bytesOf(pre.get('backbone.body.16.0.weight')!));
    const detMeta = readCheckpointMetadata(new Uint8Array(readFileSync(join(out, 'best.safetensors')))) as Record<string, any>;
    expect(detMeta.torchvision).toMatchObject({ norm: 'frozen', backboneFrom: 'backbone.safetensors' });
  }, 240_000);

  it('--resume continues a builder run from its last.safetensors with its recorded norms; other settings are refused', async () => {
    const first = join(dir, 'tv-resume-a');
    expect((await kdet(...TRAIN_TV, '--backbone-from', body, '--steps', '2', '--out', first)).code).toBe(0);
    const state = join(first, 'last.safetensors');
    const out = join(dir, 'tv-resume-b');
    const r = await kdet(...TRAIN_TV, '--steps', '3', '--resume', state, '--out', out);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/FrozenBatchNorm2d, 3 trainable backbone layers; resumed from its saved state/);
    const steps = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.loss !== undefined).map((l) => l.step);
    expect(steps).toEqual([3]);
    const other = await kdet(...TRAIN_TV, '--steps', '3', '--box-batch-size-per-image', '8', '--resume', state, '--out', join(dir, 'tv-resume-c'));
    expect(other.code).toBe(2);
    expect(other.err).toMatch(/--resume '.*' was trained with other model settings/);
    const done = await kdet(...TRAIN_TV, '--steps', '2', '--resume', state, '--out', join(dir, 'tv-resume-d'));
    expect(done.err).toMatch(/is at step 2, not below --steps 2/);
    const both = await kdet(...TRAIN_TV, '--steps', '3', '--resume', state, '--backbone-from', body, '--out', join(dir, 'tv-resume-e'));
    expect(both.err).toMatch(/--resume continues a run from its own state; drop --from \/ --backbone-from/);
  }, 240_000);

  it.each([
    [['--preset', 'fasterrcnn_resnet50_fpn'], /--backbone-from '.*' holds a 'fasterrcnn_mobilenet_v3_large_320_fpn' backbone \(body mobilenet_v3_large\), but --preset 'fasterrcnn_resnet50_fpn' has a resnet50 body/],
    [['--freeze-stages', '1'], /--freeze-stages is for kdet's presets; fasterrcnn_mobilenet_v3_large_320_fpn keeps layers fixed with --trainable-layers/],
    [['--from', 'x.safetensors'], /give --from \(a whole detector\) or --backbone-from \(a pre-trained body\), not both/],
  ])('train refuses %j in one line, exit 2, before any model or output', async (extra, re) => {
    const out = join(dir, `tv-refused-${extra.join('')}`);
    const r = await kdet(...TRAIN_TV, '--backbone-from', body, ...(extra as string[]), '--out', out);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(re as RegExp);
    oneLine(r.err);
    expect(existsSync(out)).toBe(false);
  });

  it("refuses a kdet preset's backbone for a builder, and a builder's body for a kdet preset", async () => {
    const a = await kdet(...TRAIN_TV, '--backbone-from', backbone, '--out', join(dir, 'tv-a'));
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/holds a 'tiny' backbone, but --preset 'fasterrcnn_mobilenet_v3_large_320_fpn' has a mobilenet_v3_large body/);
    const b = await kdet(...TRAIN, '--backbone-from', body, '--out', join(dir, 'tv-b'));
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/holds a 'fasterrcnn_mobilenet_v3_large_320_fpn' backbone, but --preset is 'tiny'/);
  });
});
