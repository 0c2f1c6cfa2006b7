// `kdet distill --student <torchvision builder>`: a MobileNetV3-320-FPN student from a ResNet-18-FPN
// teacher trained by kdet, end to end on tiny scenes; what it records; what it refuses.
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { readCheckpointMetadata } from '../../src/nn/checkpoint.js';
import { kdet } from './run-cli.js';

afterEach(() => vi.restoreAllMocks());

const MNV3 = 'fasterrcnn_mobilenet_v3_large_320_fpn';
const SMALL = ['--min-size', '64', '--max-size', '64', '--box-batch-size-per-image', '16', '--batch', '2'];
let dir: string;
let teacher: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kdet-distill-tv-'));
  const t = await kdet('train', '--preset', 'fasterrcnn_resnet18_fpn', ...SMALL, '--size', '64', '--train-size', '4', '--test-size', '2', '--steps', '1', '--eval-every', '0', '--out', join(dir, 't'));
  expect(t.err).toBe('');
  expect(t.code).toBe(0);
  teacher = join(dir, 't', 'best.safetensors');
  vi.restoreAllMocks();
}, 240_000);

describe('kdet distill --student <torchvision builder>', () => {
  it("runs the paper's recipe from a ResNet-18-FPN teacher; the checkpoint is a family model eval runs", async () => {
    const out = join(dir, 'paper');
    const r = await kdet('distill', '--teacher', teacher, '--student', MNV3, ...SMALL, '--recipe', 'paper', '--steps', '2', '--eval-every', '0', '--out', out);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/fasterrcnn_resnet18_fpn teacher → fasterrcnn_mobilenet_v3_large_320_fpn student/);
    expect(r.out).toMatch(/both see the same batches, resized by the student's transform to 64\/64/);
    expect(r.out).toMatch(/anchors the teacher also has: \d+\.\d % of the student's/);
    const log = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const steps = log.filter((l) => l.loss !== undefined);
    expect(steps).toHaveLength(2);
    for (const s of steps) for (const k of ['rpnCls', 'rpnReg', 'roiCls', 'roiReg', 'hint']) expect(Number.isFinite(s[k])).toBe(true);
    expect(steps[0].hint).toBeGreaterThan(0);
    const meta = readCheckpointMetadata(new Uint8Array(readFileSync(join(out, 'best.safetensors')))) as Record<string, any>;
    expect(meta).toMatchObject({ kind: 'detector', preset: MNV3, teacher, distill: { hint: true, regression: 'bounded', soft: true } });
    expect(meta.torchvision.transform).toMatchObject({ minSize: 64, maxSize: 64 });
    const e = await kdet('eval', '--checkpoint', join(out, 'best.safetensors'), '--test-size', '2');
    expect(e.err).toBe('');
    expect(e.code).toBe(0);
    expect(e.out).toMatch(/mAP@0\.5/);
  }, 240_000);

  it('--alone trains the same student without the teacher: the ground-truth losses only', async () => {
    const out = join(dir, 'alone');
    const r = await kdet('distill', '--teacher', teacher, '--student', MNV3, ...SMALL, '--alone', '--steps', '1', '--eval-every', '0', '--out', out);
    expect(r.code).toBe(0);
    const step = JSON.parse(readFileSync(join(out, 'log.jsonl'), 'utf8').split('\n')[0]!);
    expect(Object.keys(step).filter((k) => !['step', 'lr', 'loss', 'gradNorm', 'seconds'].includes(k)).sort()).toEqual(['roiCls', 'roiReg', 'rpnCls', 'rpnReg']);
  }, 240_000);

  it('--resume continues a distillation from its last.safetensors; a state of another kind is refused', async () => {
    const first = join(dir, 'paper');
    const state = join(first, 'last.safetensors');
    const out = join(dir, 'resumed');
    const r = await kdet('distill', '--teacher', teacher, '--student', MNV3, ...SMALL, '--recipe', 'paper', '--steps', '3', '--eval-every', '0', '--resume', state, '--out', out);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/resumed from its saved state/);
    const steps = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.loss !== undefined);
    expect(steps.map((l) => l.step)).toEqual([3]);
    expect(steps[0].hint).toBeGreaterThan(0);
    const alone = await kdet('distill', '--teacher', teacher, '--student', MNV3, ...SMALL, '--alone', '--steps', '3', '--resume', state, '--out', join(dir, 'r2'));
    expect(alone.code).toBe(2);
    expect(alone.err).toMatch(/--resume '.*' was distilled, not trained alone \(--alone\); its weights do not fit this run/);
    const adapter = await kdet('distill', '--teacher', teacher, '--student', MNV3, ...SMALL, '--recipe', 'paper', '--adapter', '3x3', '--steps', '3', '--resume', state, '--out', join(dir, 'r3'));
    expect(adapter.err).toMatch(/was distilled with --adapter 1x1, not 3x3/);
  }, 240_000);

  it('--compare-alone trains the same student alone (same seed and sizes) and reports the difference', async () => {
    const out = join(dir, 'compare');
    const r = await kdet('distill', '--teacher', teacher, '--student', MNV3, ...SMALL, '--steps', '1', '--eval-every', '0', '--compare-alone', '--out', out);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const c = JSON.parse(readFileSync(join(out, 'comparison.json'), 'utf8'));
    expect(c).toMatchObject({ recipe: 'soft-heads', heldOutImages: 2 });
    expect(Number.isFinite(c.gainPoints)).toBe(true);
    // The baseline is `distill --alone` with the same student, seed and sizes: its own run.
    const aloneLog = readFileSync(join(out, 'student-alone', 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(Object.keys(aloneLog[0]).filter((k) => !['step', 'lr', 'loss', 'gradNorm', 'seconds'].includes(k)).sort()).toEqual(['roiCls', 'roiReg', 'rpnCls', 'rpnReg']);
    const meta = readCheckpointMetadata(new Uint8Array(readFileSync(join(out, 'student-alone', 'best.safetensors')))) as Record<string, any>;
    expect(meta).toMatchObject({ preset: MNV3, distill: null });
    expect(meta.torchvision.transform).toMatchObject({ minSize: 64, maxSize: 64 });
    expect(meta.torchvision.box.batchSizePerImage).toBe(16);
  }, 240_000);

  it('--teacher-cache keeps the teacher\'s levels in float16: a second run reads them all and gives the first run\'s losses', async () => {
    const cache = join(dir, 'cache');
    const run = async (name: string) => {
      const out = join(dir, name);
      const r = await kdet('distill', '--teacher', teacher, '--student', MNV3, ...SMALL, '--steps', '2', '--eval-every', '0', '--teacher-cache', cache, '--out', out);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      return { out: r.out, log: readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.loss !== undefined) };
    };
    const cold = await run('cached-cold');
    expect(cold.out).toMatch(/teacher features: 4 computed, 0 read from .*cache \(float16\); the folder is bounded at 4096 MB/);
    const warm = await run('cached-warm');
    expect(warm.out).toMatch(/teacher features: 0 computed, 4 read from/);
    const terms = (l: Record<string, number>) => [l.loss, l.rpnCls, l.rpnReg, l.roiCls, l.roiReg, l.hint];
    expect(warm.log.map(terms)).toEqual(cold.log.map(terms));
    // One file per image, every level in float16: 256 channels × (16² + 8² + 4² + 2² + 1²) levels at 64².
    const files = readdirSync(cache, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      expect(f.name).toMatch(/\.f16$/);
      expect(statSync(join(f.parentPath ?? f.path, f.name)).size).toBe(2 * 256 * (256 + 64 + 16 + 4 + 1));
    }
  }, 240_000);

  it.each([
    [['--compare-alone', '--resume', 'x'], /--compare-alone with --resume would start the student alone from step 0/],
    [['--fine-grained'], /fine-grained imitation \(fineGrained\) is not available for torchvision models yet \(student fasterrcnn_mobilenet_v3_large_320_fpn\)/],
  ])('refuses %j in one line, exit 2, before any output', async (extra, re) => {
    const out = join(dir, `bad-${(extra as string[]).join('')}`);
    const r = await kdet('distill', '--teacher', teacher, '--student', MNV3, ...SMALL, '--steps', '1', ...(extra as string[]), '--out', out);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(re as RegExp);
    expect(r.err).toMatch(/^kdet distill: [^\n]+$/);
    expect(existsSync(out)).toBe(false);
  });

  it("refuses a kdet teacher for a family student, and the family's flags for kdet's students", async () => {
    const kdetTeacher = join(dir, 'tiny');
    expect((await kdet('train', '--preset', 'tiny', '--size', '64', '--train-size', '2', '--test-size', '2', '--steps', '1', '--batch', '2', '--eval-every', '0', '--out', kdetTeacher)).code).toBe(0);
    const a = await kdet('distill', '--teacher', join(kdetTeacher, 'best.safetensors'), '--student', MNV3, '--steps', '1', '--out', join(dir, 'a'));
    expect(a.code).toBe(2);
    expect(a.err).toMatch(/--teacher '.*' is a kdet tiny model; a fasterrcnn_mobilenet_v3_large_320_fpn student learns from a torchvision-family teacher/);
    const b = await kdet('distill', '--teacher', join(kdetTeacher, 'best.safetensors'), '--student', 'tiny', '--min-size', '64', '--steps', '1', '--out', join(dir, 'b'));
    expect(b.code).toBe(2);
    expect(b.err).toMatch(/--min-size is for torchvision students .*; --student tiny is kdet's own/);
  }, 120_000);
});
