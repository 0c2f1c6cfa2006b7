// `kdet import --torchvision` end to end: torchvision's fasterrcnn_mobilenet_v3_large_320_fpn
// (num_classes=5) with generated weights (scripts/fixtures-tv-import.py -> test/fixtures/cli/
// tv-import.json and two PNGs) is written here as a torch.save .pth (writePth) and as the
// safetensors file PyTorch writes (num_batches_tracked as I64, a few tensors F64), imported, and
// run by `kdet detect --json` and `kdet eval` on the PNGs: the same detections as torchvision's
// own float32 run, in the images' own pixels (boxes within 1e-3 px, scores within 1e-4). Broken,
// mismatched and hostile files are one line, exit 2, nothing written. An imported model exports
// back to the same weights, fine-tunes on other classes with `kdet train --preset <builder>
// --from`, and commands that cannot use it refuse it. When scripts/fixtures-tv-import.py has just run, the files PyTorch
// itself wrote (/tmp/kdet-tv-import) are imported too.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TV_PRESETS } from '../../src/detection/tv-presets.js';
import { writePth, type PthTensorInput } from '../../src/interop/pth.js';
import { readCheckpointMetadata } from '../../src/nn/checkpoint.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/nn/safetensors.js';
import { noteSkip } from '../helpers/skip.js';
import { checkGenerator, generate, type BackboneFixture, type GeneratedSpec } from '../models/torchvision-weights.js';
import { kdet } from './run-cli.js';

interface Fixture {
  builder: string;
  num_classes: number;
  min_size: number;
  max_size: number;
  names: [string, number[]][];
  num_batches_tracked: number;
  tensors: GeneratedSpec[];
  images: { file: string; height: number; width: number }[];
  detections: { boxes: number[][]; scores: number[]; labels: number[] }[];
}
interface DetectRecord {
  file: string;
  width: number;
  height: number;
  detections: { box: number[]; label: number; name: string; score: number; torchvisionLabel: number }[];
}

const FIXTURES = new URL('../fixtures/cli/', import.meta.url).pathname;
const fx = JSON.parse(readFileSync(join(FIXTURES, 'tv-import.json'), 'utf8')) as Fixture;
const PNGS = fx.images.map((i) => join(FIXTURES, i.file));
const ARCH = ['--arch', fx.builder];
const BOX_TOL = 1e-3;
const SCORE_TOL = 1e-4;
const PWNED = '/tmp/kdet-pth-pwned';

const dir = mkdtempSync(join(tmpdir(), 'kdet-tv-import-'));
const p = (name: string) => join(dir, name);

/** The state_dict torchvision had, regenerated from the names (float32; the counters int64 in a .pth). */
function stateDict(): Map<string, PthTensorInput> {
  const specs = new Map(fx.tensors.map((s) => [s.name, s]));
  return new Map(
    fx.names.map(([name, shape]): [string, PthTensorInput] => {
      const s = specs.get(name);
      if (s) return [name, { dtype: 'F32', shape, data: generate(s.name, s.shape, s.lo, s.hi) }];
      expect(name.endsWith('.num_batches_tracked'), name).toBe(true);
      return [name, { dtype: 'F32', shape, data: Float32Array.of(fx.num_batches_tracked) }];
    }),
  );
}

/**
 * safetensors as `safetensors.torch.save_file` writes a torchvision state_dict: num_batches_tracked
 * as I64, everything else F32, except the names in `f64` (stored as F64: exact for float32 values).
 */
function torchSafetensors(sd: Map<string, PthTensorInput>, f64: ReadonlySet<string> = new Set()): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of sd) {
    const dtype = name.endsWith('.num_batches_tracked') ? 'I64' : f64.has(name) ? 'F64' : 'F32';
    const bytes = new Uint8Array(t.data.length * (dtype === 'F32' ? 4 : 8));
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < t.data.length; i++) {
      if (dtype === 'I64') view.setBigInt64(8 * i, BigInt(t.data[i]!), true);
      else if (dtype === 'F64') view.setFloat64(8 * i, t.data[i]!, true);
      else view.setFloat32(4 * i, t.data[i]!, true);
    }
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    blobs.push(bytes);
    offset += bytes.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  json = Uint8Array.from([...json, ...new Array<number>((8 - (json.length % 8)) % 8).fill(0x20)]);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const b of blobs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** `kdet detect --json` on the fixture's PNGs with the checkpoint; the records. */
async function detect(ckpt: string, tag: string, extra: string[] = ['--threshold', '0']): Promise<DetectRecord[]> {
  const json = p(`${tag}.json`);
  const r = await kdet('detect', ...PNGS, '--checkpoint', ckpt, ...extra, '--out', p(`drawn-${tag}`), '--json', json);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(readFileSync(json, 'utf8')) as DetectRecord[];
}

/** The records equal torchvision's detections (label k of torchvision is class name index k − 1). */
function expectTorchvision(records: DetectRecord[], what: string): { box: number; score: number } {
  let box = 0;
  let score = 0;
  records.forEach((rec, i) => {
    const want = fx.detections[i]!;
    expect([rec.width, rec.height]).toEqual([fx.images[i]!.width, fx.images[i]!.height]);
    expect(rec.detections.map((d) => d.label + 1), `${what} image ${i} labels`).toEqual(want.labels);
    expect(rec.detections.map((d) => d.torchvisionLabel)).toEqual(want.labels);
    expect(rec.detections.map((d) => d.name)).toEqual(want.labels.map((l) => `class${l}`));
    rec.detections.forEach((d, k) => {
      d.box.forEach((v, j) => (box = Math.max(box, Math.abs(v - want.boxes[k]![j]!))));
      score = Math.max(score, Math.abs(d.score - want.scores[k]!));
    });
  });
  expect(box, `${what}: max |box − torchvision's| (px)`).toBeLessThanOrEqual(BOX_TOL);
  expect(score, `${what}: max |score − torchvision's|`).toBeLessThanOrEqual(SCORE_TOL);
  console.log(`[import] ${what}: ${records.map((r) => r.detections.length)} detections, boxes within ${box.toExponential(1)} px, scores within ${score.toExponential(1)} of torchvision's`);
  return { box, score };
}

/** A refusal: exit 2, one line on stderr matching `message`, nothing written at `out`. */
async function expectRefused(args: string[], message: RegExp, out = p('never/out.safetensors')): Promise<void> {
  const r = await kdet(...args);
  expect(r.code, r.err).toBe(2);
  expect(r.err.split('\n')).toHaveLength(1);
  expect(r.err).toMatch(message);
  expect(existsSync(out), `${out} written`).toBe(false);
}

beforeAll(() => {
  const sd = stateDict();
  writeFileSync(p('model.pth'), writePth(sd));
  writeFileSync(p('model.safetensors'), torchSafetensors(sd, new Set(['rpn.head.cls_logits.bias', 'roi_heads.box_predictor.bbox_pred.bias', 'backbone.fpn.layer_blocks.0.0.bias'])));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("the weight generator agrees with the fixture script's (every tensor's sum)", () => {
  checkGenerator({ tensors: fx.tensors } as unknown as BackboneFixture);
});

describe('import, then detect: torchvision’s detections', () => {
  it('a .pth: the checkpoint carries the transform and post-processing; detect --json gives torchvision’s boxes in original pixels', async () => {
    const r = await kdet('import', '--torchvision', p('model.pth'), ...ARCH, '--num-classes', '5', '--out', p('from-pth.safetensors'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/imported .*model\.pth \(pth, 330 tensors\) as fasterrcnn_mobilenet_v3_large_320_fpn: 5 classes with the background \(class1, class2, class3, class4\), images resized to 320\/640/);
    const bytes = new Uint8Array(readFileSync(p('from-pth.safetensors')));
    const preset = TV_PRESETS.fasterrcnn_mobilenet_v3_large_320_fpn;
    expect(readCheckpointMetadata(bytes)).toEqual({
      kind: 'detector',
      preset: 'fasterrcnn_mobilenet_v3_large_320_fpn',
      classNames: ['class1', 'class2', 'class3', 'class4'],
      torchvision: {
        numClasses: 5,
        norm: 'frozen',
        transform: { minSize: 320, maxSize: 640, imageMean: [0.485, 0.456, 0.406], imageStd: [0.229, 0.224, 0.225], sizeDivisible: 32 },
        rpn: JSON.parse(JSON.stringify(preset.rpn)),
        box: JSON.parse(JSON.stringify(preset.box)),
        importedFrom: { file: 'model.pth', format: 'pth', tensors: 330 },
      },
    });
    // FrozenBatchNorm2d: the counters were read and left out.
    const names = [...decodeSafetensors(bytes).tensors.keys()];
    expect(names).toHaveLength(330 - fx.names.filter(([n]) => n.endsWith('num_batches_tracked')).length);
    expectTorchvision(await detect(p('from-pth.safetensors'), 'pth'), 'import .pth');
  });

  it('a safetensors file with I64 counters and F64 tensors: the same weights, the same detections', async () => {
    const r = await kdet('import', '--torchvision', p('model.safetensors'), ...ARCH, '--out', p('from-st.safetensors'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/is float64 in .*model\.safetensors; read as float32/);
    const a = decodeSafetensors(new Uint8Array(readFileSync(p('from-pth.safetensors')))).tensors;
    const b = decodeSafetensors(new Uint8Array(readFileSync(p('from-st.safetensors')))).tensors;
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [name, t] of a) expect(Buffer.from(b.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
    expectTorchvision(await detect(p('from-st.safetensors'), 'st'), 'import .safetensors');
  });

  it('--norm batch keeps num_batches_tracked; --class-names names the labels; --threshold still filters what detect prints', async () => {
    const r = await kdet('import', '--torchvision', p('model.pth'), ...ARCH, '--norm', 'batch', '--class-names', 'cat, dog,bird,fish', '--out', p('batch.safetensors'));
    expect(r.code, r.err).toBe(0);
    const bytes = new Uint8Array(readFileSync(p('batch.safetensors')));
    expect(decodeSafetensors(bytes).tensors.get('backbone.body.1.block.0.1.num_batches_tracked')?.data[0]).toBe(fx.num_batches_tracked);
    const records = await detect(p('batch.safetensors'), 'batch', ['--threshold', '0.5']);
    records.forEach((rec, i) => {
      const want = fx.detections[i]!;
      const n = want.scores.filter((s) => s >= 0.5).length;
      expect(rec.detections.length).toBe(n);
      expect(rec.detections.map((d) => d.name)).toEqual(want.labels.slice(0, n).map((l) => ['cat', 'dog', 'bird', 'fish'][l - 1]));
      rec.detections.forEach((d, k) => expect(Math.abs(d.score - want.scores[k]!)).toBeLessThanOrEqual(SCORE_TOL));
    });
  });

  it('eval on COCO data: metrics, and COCO results in the data set’s ids and original pixels; without --data a clear error', async () => {
    // Ground truth: each image's top detection, under category ids 11..14.
    const coco = {
      images: fx.images.map((im, i) => ({ id: i + 1, file_name: im.file, width: im.width, height: im.height })),
      categories: [1, 2, 3, 4].map((k) => ({ id: 10 + k, name: `class${k}` })),
      annotations: fx.detections.map((d, i) => {
        const [x1, y1, x2, y2] = d.boxes[0]!;
        return { id: i + 1, image_id: i + 1, category_id: 10 + d.labels[0]!, bbox: [x1!, y1!, x2! - x1!, y2! - y1!], area: (x2! - x1!) * (y2! - y1!), iscrowd: 0 };
      }),
    };
    writeFileSync(p('coco.json'), JSON.stringify(coco));
    const e = await kdet('eval', '--checkpoint', p('from-pth.safetensors'), '--data', `coco:${p('coco.json')}`, '--images', FIXTURES, '--coco-results', p('results.json'), '--json');
    expect(e.code, e.err).toBe(0);
    const m = JSON.parse(e.out) as { map50: number; images: number; perClassAP: number[] };
    expect(m.images).toBe(2);
    // The top detection of each image is its ground truth: found, at full precision for its class.
    for (const d of fx.detections) expect(m.perClassAP[d.labels[0]! - 1]).toBeGreaterThan(0);
    const results = JSON.parse(readFileSync(p('results.json'), 'utf8')) as { image_id: number; category_id: number; bbox: number[]; score: number }[];
    fx.detections.forEach((want, i) => {
      const mine = results.filter((r) => r.image_id === i + 1);
      expect(mine.map((r) => r.category_id)).toEqual(want.labels.map((l) => 10 + l));
      mine.forEach((r, k) => {
        const [x1, y1, x2, y2] = want.boxes[k]!;
        [x1!, y1!, x2! - x1!, y2! - y1!].forEach((v, j) => expect(Math.abs(r.bbox[j]! - v)).toBeLessThanOrEqual(0.01));
      });
    });
    await expectRefused(['eval', '--checkpoint', p('from-pth.safetensors')], /^kdet eval: .*from-pth\.safetensors is an imported torchvision model \(fasterrcnn_mobilenet_v3_large_320_fpn\); give its data with --data voc:<DIR> or coco:<FILE\.json>/);
  });

  it('commands that cannot use a torchvision-family model refuse it', async () => {
    const ckpt = p('from-pth.safetensors');
    const refusal = /is a torchvision-family model \(fasterrcnn_mobilenet_v3_large_320_fpn\); here only kdet's own presets are supported yet/;
    await expectRefused(['distill', '--teacher', ckpt, '--out', p('never')], new RegExp(`^kdet distill: --teacher '${ckpt}' ${refusal.source}`), p('never'));
    await expectRefused(['train', '--resume', ckpt, '--out', p('never')], new RegExp(`^kdet train: --resume '${ckpt}' ${refusal.source}`), p('never/last.safetensors'));
    await expectRefused(['export', '--half', '--checkpoint', ckpt, '--out', p('never/half.safetensors')], /--half writes kdet's own presets; .* is a torchvision-family model \(fasterrcnn_mobilenet_v3_large_320_fpn\): export it with --torchvision/, p('never/half.safetensors'));
  });

  it('export --torchvision writes it back: the .pth imported again is the same model (weights bit for bit, torchvision\'s detections)', async () => {
    const r = await kdet('export', '--torchvision', '--checkpoint', p('from-pth.safetensors'), '--out', p('exported'));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/fasterrcnn_mobilenet_v3_large_320_fpn\(weights=None, weights_backbone=None, num_classes=5, min_size=/);
    const back = await kdet('import', '--torchvision', p('exported/model.pth'), ...ARCH, '--out', p('round-trip.safetensors'));
    expect(back.code, back.err).toBe(0);
    const a = decodeSafetensors(new Uint8Array(readFileSync(p('from-pth.safetensors')))).tensors;
    const b = decodeSafetensors(new Uint8Array(readFileSync(p('round-trip.safetensors')))).tensors;
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [name, t] of a) expect(Array.from(b.get(name)!.data), name).toEqual(Array.from(t.data));
    // And the names and shapes torchvision's state_dict has, every one.
    const exported = decodeSafetensors(new Uint8Array(readFileSync(p('exported/model.safetensors')))).tensors;
    expect([...exported].map(([n, t]) => [n, [...t.shape]]).filter(([n]) => !String(n).endsWith('num_batches_tracked'))).toEqual(fx.names.filter(([n]) => !n.endsWith('num_batches_tracked')));
    expectTorchvision(await detect(p('round-trip.safetensors'), 'round-trip'), 'export then import');
  }, 400_000); // ~60 s alone; 158 s when a training job held both cores

  it('fine-tunes on other data: frozen norms and 3 trainable layers by default, a new box predictor for the new classes; detect and eval run the result', async () => {
    const out = p('fine-tuned');
    const r = await kdet('train', '--preset', fx.builder, '--from', p('from-pth.safetensors'), '--data', 'shapes', '--size', '64', '--min-size', '64', '--max-size', '64', '--train-size', '4', '--test-size', '2', '--batch', '2', '--steps', '2', '--eval-every', '0', '--box-batch-size-per-image', '16', '--out', out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/FrozenBatchNorm2d, 3 trainable backbone layers; weights from from-pth\.safetensors but the box predictor, new for 6 classes \(it had 4\)/);
    const meta = readCheckpointMetadata(new Uint8Array(readFileSync(join(out, 'best.safetensors')))) as { preset: string; classNames: string[]; torchvision: { numClasses: number; norm: string; trainedFrom: string; transform: { minSize: number } } };
    expect([meta.preset, meta.torchvision.numClasses, meta.torchvision.norm, meta.torchvision.trainedFrom, meta.torchvision.transform.minSize]).toEqual([fx.builder, 7, 'frozen', 'from-pth.safetensors', 64]);
    expect(meta.classNames).toEqual(['circle', 'square', 'triangle', 'star', 'hexagon', 'cross']);
    const e = await kdet('eval', '--checkpoint', join(out, 'best.safetensors'), '--json');
    expect(e.code, e.err).toBe(0);
    expect(JSON.parse(e.out).images).toBe(2);
    await detect(join(out, 'best.safetensors'), 'fine-tuned');
  });

  it('train refuses torchvision flags on kdet presets, kdet-only flags on torchvision presets, and a --from that does not fit', async () => {
    const from = p('from-pth.safetensors');
    await expectRefused(['train', '--preset', 'student', '--norm', 'frozen', '--out', p('never')], /^kdet train: --norm is for the torchvision presets/, p('never'));
    await expectRefused(['train', '--preset', fx.builder, '--resume', from, '--out', p('never')], /^kdet train: --resume '.*' holds no trainer state; resume from the last.safetensors of a run/, p('never'));
    await expectRefused(['train', '--preset', 'fasterrcnn_resnet50_fpn', '--from', from, '--out', p('never')], /--from '.*' is a fasterrcnn_mobilenet_v3_large_320_fpn, not a fasterrcnn_resnet50_fpn; give --preset fasterrcnn_mobilenet_v3_large_320_fpn/, p('never'));
    await expectRefused(['train', '--preset', fx.builder, '--from', 'models/teacher.safetensors', '--out', p('never')], /--from 'models\/teacher\.safetensors' is a kdet teacher checkpoint; --preset .* starts from a torchvision-family checkpoint/, p('never'));
    await expectRefused(['train', '--preset', 'fasterrcnn_resnet50_fpn', '--trainable-layers', '6', '--out', p('never')], /--trainable-layers 6: fasterrcnn_resnet50_fpn has 5/, p('never'));
  });

  it('detect refuses an imported checkpoint whose metadata was edited into nonsense', async () => {
    const meta = readCheckpointMetadata(new Uint8Array(readFileSync(p('from-pth.safetensors')))) as { torchvision: Record<string, unknown> };
    const broken = (name: string, edit: Record<string, unknown>) => writeFileSync(p(name), encodeSafetensors(new Map(), { format: 'kdet', kdet: JSON.stringify({ ...meta, torchvision: { ...meta.torchvision, ...edit } }) }));
    broken('no-transform.safetensors', { transform: undefined });
    broken('rpn.safetensors', { rpn: { nmsThresh: 'high' } });
    await expectRefused(['detect', PNGS[0]!, '--checkpoint', p('no-transform.safetensors'), '--out', p('never/x.png')], /imported torchvision model with broken metadata \(transform settings\); import it again/, p('never/x.png'));
    await expectRefused(['detect', PNGS[0]!, '--checkpoint', p('rpn.safetensors'), '--out', p('never/x.png')], /broken metadata \(RPN settings\)/, p('never/x.png'));
  });
});

describe('import refuses what does not fit, writing nothing', () => {
  const out = p('never/out.safetensors');

  it('flags: missing file, arch or --out; --num-classes against cls_score; --class-names count', async () => {
    await expectRefused(['import', ...ARCH, '--out', out], /^kdet import: --torchvision <FILE> is required/);
    await expectRefused(['import', '--torchvision', p('model.pth'), '--out', out], /^kdet import: --arch is required: .*fasterrcnn_resnet50_fpn/);
    await expectRefused(['import', '--torchvision', p('model.pth'), '--arch', 'fasterrcnn_resnet50', '--out', out], /--arch must be one of .* — did you mean 'fasterrcnn_resnet50_fpn'\?/);
    await expectRefused(['import', '--torchvision', p('model.pth'), ...ARCH], /^kdet import: --out <checkpoint\.safetensors> is required$/);
    await expectRefused(['import', '--torchvision', p('nope.pth'), ...ARCH, '--out', out], /^kdet import: --torchvision '.*nope\.pth' cannot be read: ENOENT/);
    await expectRefused(
      ['import', '--torchvision', p('model.pth'), ...ARCH, '--num-classes', '91', '--out', out],
      /^kdet import: .*model\.pth: --num-classes 91, but roi_heads\.box_predictor\.cls_score\.weight has 5 rows: the weights are for num_classes=5 \(torchvision counts the background\)$/,
    );
    await expectRefused(['import', '--torchvision', p('model.pth'), ...ARCH, '--class-names', 'a,b', '--out', out], /--class-names gives 2 names, but the model has 4 classes besides the background \(num_classes=5\)/);
    await expectRefused(['import', '--torchvision', p('model.pth'), ...ARCH, '--min-size', '700', '--max-size', '600', '--out', out], /--min-size 700 is larger than --max-size 600/);
  });

  it('another architecture’s names, a shape that differs, a non-finite weight, a checkpoint dict without --key', async () => {
    await expectRefused(
      ['import', '--torchvision', p('model.pth'), '--arch', 'fasterrcnn_resnet50_fpn', '--out', out],
      /^kdet import: .*model\.pth: does not fit torchvision's fasterrcnn_resnet50_fpn: 273 missing \('backbone\.body\.conv1\.weight', .*\(273 in all\)\), 262 unexpected \('backbone\.body\.0\.0\.weight', .*; the weights look like a MobileNetV3 model/,
    );
    const sd = stateDict();
    sd.set('roi_heads.box_head.fc7.bias', { dtype: 'F32', shape: [512], data: new Float32Array(512) });
    writeFileSync(p('shape.safetensors'), torchSafetensors(sd));
    await expectRefused(['import', '--torchvision', p('shape.safetensors'), ...ARCH, '--out', out], /^kdet import: .*shape\.safetensors: 'roi_heads\.box_head\.fc7\.bias' has shape \[512\], but fasterrcnn_mobilenet_v3_large_320_fpn with num_classes=5 has \[1024\] there$/);
    const nan = stateDict();
    nan.get('rpn.head.conv.0.0.bias')!.data = Float32Array.of(...(nan.get('rpn.head.conv.0.0.bias')!.data as Float32Array).map((v, i) => (i === 3 ? NaN : v)));
    writeFileSync(p('nan.safetensors'), torchSafetensors(nan));
    await expectRefused(['import', '--torchvision', p('nan.safetensors'), ...ARCH, '--out', out], /'rpn\.head\.conv\.0\.0\.bias' holds 1 non-finite value \(NaN or infinity\)/);
    await expectRefused(['import', '--torchvision', join(FIXTURES, '../interop/checkpoint.pth'), ...ARCH, '--out', out], /holds a checkpoint dict \(keys: 'model', 'optimizer', 'epoch'\), not a state_dict: pass key 'model' \(kdet import --key model\)/);
    await expectRefused(['import', '--torchvision', p('model.safetensors'), ...ARCH, '--key', 'model', '--out', out], /a key \('model'\) applies only to \.pth checkpoints/);
    await expectRefused(['import', '--torchvision', p('from-pth.safetensors'), ...ARCH, '--out', out], /from-pth\.safetensors: is a kdet checkpoint already; use it as it is/);
  });

  const hostile: [string, RegExp][] = [
    ['hostile-os-system.pth', /\.pth pickle: global 'os\.system' is not allowed/],
    ['hostile-posix-stack-global.pth', /\.pth pickle: global 'posix\.system' is not allowed/],
    ['hostile-builtins-eval.pth', /\.pth pickle: global 'builtins\.eval' is not allowed/],
    ['hostile-inst.pth', /\.pth pickle: opcode INST \(os\.system\) is not allowed/],
    ['hostile-huge-binunicode.pth', /BINUNICODE needs 4294967280 bytes but only 4 remain/],
    ['truncated.pth', /the archive is truncated/],
    ['legacy.pth', /legacy torch\.save format .* is not supported/],
    ['torchscript.pt', /a TorchScript archive \(torch\.jit\.save\), not a state_dict/],
  ];
  const pwnedBefore = existsSync(PWNED);
  it.each(hostile)('%s: one line naming the problem, exit 2, nothing run or written', async (file, message) => {
    const path = join(FIXTURES, '../interop', file);
    await expectRefused(['import', '--torchvision', path, ...ARCH, '--out', out], new RegExp(`^kdet import: ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*${message.source}`));
    if (!pwnedBefore) expect(existsSync(PWNED)).toBe(false);
    expect(existsSync(p('never'))).toBe(false);
  });

  it('broken safetensors: garbage, a bad dtype, tensors past the data', async () => {
    writeFileSync(p('garbage.safetensors'), new TextEncoder().encode('not a model at all, just text\n'));
    await expectRefused(['import', '--torchvision', p('garbage.safetensors'), ...ARCH, '--out', out], /garbage\.safetensors: not a safetensors file nor a torch\.save zip archive/);
    const header = (h: object) => {
      const json = new TextEncoder().encode(JSON.stringify(h));
      const b = new Uint8Array(8 + json.length + 8);
      new DataView(b.buffer).setBigUint64(0, BigInt(json.length), true);
      b.set(json, 8);
      return b;
    };
    writeFileSync(p('f8.safetensors'), header({ w: { dtype: 'F8_E4M3', shape: [8], data_offsets: [0, 8] } }));
    await expectRefused(['import', '--torchvision', p('f8.safetensors'), ...ARCH, '--out', out], /tensor 'w': unsupported dtype "F8_E4M3"/);
    writeFileSync(p('past.safetensors'), header({ w: { dtype: 'F32', shape: [1000000, 1000000, 1000000], data_offsets: [0, 8] } }));
    await expectRefused(['import', '--torchvision', p('past.safetensors'), ...ARCH, '--out', out], /tensor 'w': data_offsets \[0, 8\] hold 8 bytes, shape \[1000000,1000000,1000000\] of F32 needs more than the file holds/);
  });
});

// The files PyTorch itself wrote (torch.save, and safetensors as save_file writes it), left in /tmp
// by scripts/fixtures-tv-import.py: imported like the generated ones, with the same detections.
const REAL = '/tmp/kdet-tv-import';
const realFiles = ['model.pth', 'model.safetensors', 'checkpoint.pth'].map((f) => join(REAL, f));
const haveReal = existsSync('/usr/bin/python3') && realFiles.every((f) => existsSync(f));
describe.skipIf(!haveReal)('files written by PyTorch itself (after /usr/bin/python3 scripts/fixtures-tv-import.py)', () => {
  for (const file of realFiles) {
    it(`${file}: imported, torchvision's detections`, async () => {
      const out = p(`real-${file.split('/').pop()}.safetensors`);
      const r = await kdet('import', '--torchvision', file, ...ARCH, '--num-classes', '5', ...(file.endsWith('checkpoint.pth') ? ['--key', 'model'] : []), '--out', out);
      expect(r.code, r.err).toBe(0);
      expectTorchvision(await detect(out, `real-${file.split('/').pop()}`), `PyTorch's ${file}`);
    });
  }
});
if (!haveReal) it('files written by PyTorch itself', () => noteSkip('importing files written by PyTorch', `${REAL} is absent (run /usr/bin/python3 scripts/fixtures-tv-import.py)`));
