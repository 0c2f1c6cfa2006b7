// The metadata sidecar of a torchvision-family export (kdet-meta.json, src/cli/tv-sidecar.ts): `kdet
// export --torchvision` writes it beside the weights, `kdet import --torchvision` takes its builder,
// classes, norm, transform and RPN/box settings from it (flags given still win), so a checkpoint
// survives export → PyTorch → import with its metadata intact; a sidecar that does not fit the
// weights, or is broken, is one line, exit 2, nothing written. scripts/scale-out.sh runs the whole
// round trip through torchrun.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { TV_PRESETS } from '../../src/detection/tv-presets.js';
import { readCheckpointMetadata } from '../../src/nn/checkpoint.js';
import { decodeSafetensors } from '../../src/nn/safetensors.js';
import { formatSidecar, readSidecar, SIDECAR_NAME, sidecarOf, type TvSidecar } from '../../src/cli/tv-sidecar.js';
import type { TvCheckpointMeta } from '../../src/cli/load-tv-model.js';
import { kdet } from './run-cli.js';

afterEach(() => vi.restoreAllMocks());

const MNV3 = 'fasterrcnn_mobilenet_v3_large_320_fpn';
const dir = mkdtempSync(join(tmpdir(), 'kdet-tv-sidecar-'));
const p = (...names: string[]) => join(dir, ...names);
const metaOf = (path: string) => readCheckpointMetadata(new Uint8Array(readFileSync(path))) as unknown as TvCheckpointMeta & Record<string, unknown>;
/** What must survive the round trip. */
const kept = (m: TvCheckpointMeta) => ({ preset: m.preset, classNames: m.classNames, numClasses: m.torchvision.numClasses, norm: m.torchvision.norm, transform: m.torchvision.transform, rpn: m.torchvision.rpn, box: m.torchvision.box });

let original: TvCheckpointMeta;

beforeAll(async () => {
  // A family model as kdet trains one (BatchNorm2d, 64² transform, 16 ROIs per image), one step.
  const t = await kdet('train', '--preset', MNV3, '--min-size', '64', '--max-size', '96', '--box-batch-size-per-image', '16', '--size', '64', '--batch', '1', '--train-size', '2', '--test-size', '1', '--steps', '1', '--eval-every', '0', '--out', p('run'));
  expect(t.code, t.err).toBe(0);
  original = metaOf(p('run', 'best.safetensors'));
  const e = await kdet('export', '--torchvision', '--checkpoint', p('run', 'best.safetensors'), '--out', p('export'));
  expect(e.code, e.err).toBe(0);
  expect(e.out).toMatch(new RegExp(`model\\.pth and ${SIDECAR_NAME} \\(\\d+ tensors\\)`));
  vi.restoreAllMocks();
}, 240_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A refusal: exit 2, one line on stderr matching `message`, nothing written at `out`. */
async function expectRefused(args: string[], message: RegExp, out: string): Promise<void> {
  const r = await kdet(...args);
  expect(r.code, r.err).toBe(2);
  expect(r.err.split('\n')).toHaveLength(1);
  expect(r.err).toMatch(message);
  expect(existsSync(out), `${out} written`).toBe(false);
}

/** A copy of the export's weights beside a sidecar of our own. */
function beside(name: string, sidecar: string | null): string {
  mkdirSync(p(name), { recursive: true });
  copyFileSync(p('export', 'model.pth'), p(name, 'model.pth'));
  if (sidecar !== null) writeFileSync(p(name, SIDECAR_NAME), sidecar);
  return p(name, 'model.pth');
}
const sidecar = (): TvSidecar => JSON.parse(readFileSync(p('export', SIDECAR_NAME), 'utf8')) as TvSidecar;

describe('kdet export --torchvision writes kdet-meta.json', () => {
  it("the builder, classes, norm and torchvision's keyword arguments for every setting", () => {
    const s = sidecar();
    const tv = original.torchvision;
    expect(s).toEqual({
      format: 'kdet-torchvision',
      version: 1,
      builder: MNV3,
      num_classes: 11,
      class_names: original.classNames,
      norm: 'batch',
      builder_kwargs: {
        min_size: 64, max_size: 96, image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225],
        rpn_pre_nms_top_n_train: 2000, rpn_pre_nms_top_n_test: 150, rpn_post_nms_top_n_train: 2000, rpn_post_nms_top_n_test: 150,
        rpn_nms_thresh: 0.7, rpn_fg_iou_thresh: 0.7, rpn_bg_iou_thresh: 0.3, rpn_batch_size_per_image: 256, rpn_positive_fraction: 0.5, rpn_score_thresh: 0.05,
        box_score_thresh: 0.05, box_nms_thresh: 0.5, box_detections_per_img: 100, box_fg_iou_thresh: 0.5, box_bg_iou_thresh: 0.5,
        box_batch_size_per_image: 16, box_positive_fraction: 0.25, bbox_reg_weights: [10, 10, 5, 5],
      },
      source: 'best.safetensors',
    });
    expect([tv.transform.minSize, tv.transform.maxSize, tv.box.batchSizePerImage]).toEqual([64, 96, 16]);
    // One list per line: readable, and what formatSidecar writes.
    expect(readFileSync(p('export', SIDECAR_NAME), 'utf8')).toBe(formatSidecar(s));
    expect(readFileSync(p('export', SIDECAR_NAME), 'utf8')).toMatch(/"class_names": \["T-shirt\/top", "Trouser", .*"Ankle boot"\],\n/);
  });

  it('reads back as the settings it was written from (sidecarOf → readSidecar)', () => {
    const back = readSidecar(formatSidecar(sidecarOf(original)), 'x.json');
    const tv = original.torchvision;
    expect(back).toEqual({ arch: MNV3, numClasses: 11, classNames: original.classNames, norm: 'batch', transform: tv.transform, rpn: tv.rpn, box: tv.box });
  });

  it("keys left out of builder_kwargs are the builder's defaults, as in torchvision", () => {
    const s = readSidecar(JSON.stringify({ format: 'kdet-torchvision', version: 1, builder: 'fasterrcnn_resnet50_fpn', num_classes: 3, class_names: ['a', 'b'], norm: 'frozen', builder_kwargs: { min_size: 512 } }), 'x.json');
    const preset = TV_PRESETS.fasterrcnn_resnet50_fpn;
    expect(s.transform).toEqual({ minSize: 512, maxSize: 1333, imageMean: [0.485, 0.456, 0.406], imageStd: [0.229, 0.224, 0.225], sizeDivisible: 32 });
    expect(s.rpn).toEqual(preset.rpn);
    expect(s.box).toEqual(preset.box);
  });
});

describe('kdet import --torchvision reads it back', () => {
  it('beside the weights: no --arch needed; classes, norm, transform, RPN and box settings equal the original', async () => {
    const r = await kdet('import', '--torchvision', p('export', 'model.pth'), '--out', p('back.safetensors'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(new RegExp(`read .*${SIDECAR_NAME} \\(beside the weights\\): ${MNV3}, 11 classes, batch norm, transform 64/96`));
    const m = metaOf(p('back.safetensors'));
    expect(kept(m)).toEqual(kept(original));
    expect(m.torchvision.importedFrom).toEqual({ file: 'model.pth', format: 'pth', tensors: expect.any(Number), meta: SIDECAR_NAME });
    // The same weights as the run's checkpoint, every one.
    const a = decodeSafetensors(new Uint8Array(readFileSync(p('run', 'best.safetensors')))).tensors;
    const b = decodeSafetensors(new Uint8Array(readFileSync(p('back.safetensors')))).tensors;
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [name, t] of b) expect(Buffer.from(t.data.buffer).equals(Buffer.from(a.get(name)!.data.buffer)), name).toBe(true);
  });

  it('from --meta, the safetensors file; flags given override its values', async () => {
    mkdirSync(p('elsewhere'), { recursive: true });
    copyFileSync(p('export', 'model.safetensors'), p('elsewhere', 'weights.safetensors'));
    const names = 'a,b,c,d,e,f,g,h,i,j';
    const r = await kdet('import', '--torchvision', p('elsewhere', 'weights.safetensors'), '--meta', p('export', SIDECAR_NAME), '--class-names', names, '--min-size', '80', '--max-size', '120', '--norm', 'frozen', '--out', p('over.safetensors'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/; --class-names given; --min-size given; --max-size given; --norm given$/m);
    const m = metaOf(p('over.safetensors'));
    expect(m.classNames).toEqual(names.split(','));
    expect(m.torchvision.norm).toBe('frozen');
    expect(m.torchvision.transform).toEqual({ ...original.torchvision.transform, minSize: 80, maxSize: 120 });
    expect([m.torchvision.rpn, m.torchvision.box]).toEqual([original.torchvision.rpn, original.torchvision.box]);
  });

  it("--meta none reads no sidecar (then --arch is required, and the builder's defaults apply)", async () => {
    await expectRefused(['import', '--torchvision', p('export', 'model.pth'), '--meta', 'none', '--out', p('never.safetensors')], /^kdet import: --arch is required: the builder the weights are for .*unless a kdet-meta\.json/, p('never.safetensors'));
    const r = await kdet('import', '--torchvision', p('export', 'model.pth'), '--meta', 'none', '--arch', MNV3, '--out', p('plain.safetensors'));
    expect(r.code, r.err).toBe(0);
    const m = metaOf(p('plain.safetensors'));
    expect([m.classNames[0], m.torchvision.norm, m.torchvision.transform.minSize, m.torchvision.box.batchSizePerImage]).toEqual(['class1', 'frozen', 320, 512]);
  });
});

describe('a sidecar that does not fit is refused, nothing written', () => {
  const out = p('never', 'out.safetensors');

  it('another builder than --arch; another class count than the weights (unless --class-names says what they are now)', async () => {
    await expectRefused(['import', '--torchvision', p('export', 'model.pth'), '--arch', 'fasterrcnn_mobilenet_v3_large_fpn', '--out', out], new RegExp(`^kdet import: --arch fasterrcnn_mobilenet_v3_large_fpn, but .*${SIDECAR_NAME} describes a ${MNV3}; give the sidecar of these weights with --meta, or --meta none`), out);
    const wrong = beside('classes', JSON.stringify({ ...sidecar(), num_classes: 4, class_names: ['a', 'b', 'c'] }));
    await expectRefused(['import', '--torchvision', wrong, '--out', out], /describes num_classes=4, but roi_heads\.box_predictor\.cls_score\.weight has 11 rows: the weights are not the model it describes \(a new box predictor\?\); give --class-names for the 10 classes, or the right --meta$/, out);
    const r = await kdet('import', '--torchvision', wrong, '--class-names', 'a,b,c,d,e,f,g,h,i,j', '--out', p('renamed.safetensors'));
    expect(r.code, r.err).toBe(0);
    expect(metaOf(p('renamed.safetensors')).torchvision.transform.minSize).toBe(64);
  });

  // Texts made when the test runs (the export exists only after beforeAll).
  const broken: [string, () => string, RegExp][] = [
    ['not JSON', () => '{"format": ', /not JSON \(/],
    ['another format', () => JSON.stringify({ format: 'something' }), /"format" is "something", not "kdet-torchvision"/],
    ['a newer version', () => JSON.stringify({ ...sidecar(), version: 2 }), /"version" 2 is not one this kdet reads \(1\)/],
    ['an unknown builder', () => JSON.stringify({ ...sidecar(), builder: 'retinanet_resnet50_fpn' }), /"builder" "retinanet_resnet50_fpn" is not one of fasterrcnn_resnet50_fpn/],
    ['class names that do not count', () => JSON.stringify({ ...sidecar(), class_names: ['a'] }), /"class_names" has 1 names, but "num_classes" 11 means 10 besides the background/],
    ['a class named twice', () => JSON.stringify({ ...sidecar(), class_names: ['a', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'] }), /"class_names" names 'a' twice/],
    ['a misspelt keyword', () => JSON.stringify({ ...sidecar(), builder_kwargs: { min_sz: 64 } }), /builder_kwargs: unknown key 'min_sz'/],
    ['a size that is not an integer', () => JSON.stringify({ ...sidecar(), builder_kwargs: { min_size: 64.5 } }), /builder_kwargs\.min_size 64\.5: an integer/],
    ['a mean of two numbers', () => JSON.stringify({ ...sidecar(), builder_kwargs: { image_mean: [0.5, 0.5] } }), /builder_kwargs\.image_mean \[0\.5,0\.5\]: a list of 3 numbers/],
    ['min_size above max_size', () => JSON.stringify({ ...sidecar(), builder_kwargs: { min_size: 700, max_size: 600 } }), /min_size 700 and max_size 600 must satisfy/],
    ['an unknown norm', () => JSON.stringify({ ...sidecar(), norm: 'group' }), /"norm" "group": "batch" \(BatchNorm2d\) or "frozen"/],
  ];
  it.each(broken)('%s: one line naming the field', async (name, text, message) => {
    const weights = beside(`broken-${name.replace(/\W+/g, '-')}`, text());
    await expectRefused(['import', '--torchvision', weights, '--out', out], new RegExp(`^kdet import: .*${SIDECAR_NAME}: .*${message.source}.* \\(found beside the weights; --meta none reads none\\)$`), out);
  });

  it('--meta that cannot be read', async () => {
    await expectRefused(['import', '--torchvision', p('export', 'model.pth'), '--meta', p('nope.json'), '--out', out], /^kdet import: --meta '.*nope\.json' cannot be read: ENOENT/, out);
  });
});
