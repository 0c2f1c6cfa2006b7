// src/detection/tv-checkpoint.ts, the browser-safe half of reading torchvision-family checkpoints
// (moved out of src/cli/load-tv-model.ts so that the demo's worker can use it): the settings a new
// model is built with (tvSettings, also behind `kdet train --preset <builder>` and `kdet distill
// --student <builder>`), the metadata check (plain Errors here, usage errors through the CLI's
// wrapper), and loadTvCheckpoint: a checkpoint written by saveCheckpoint with family metadata comes
// back as the same model (weights, detections), at other transform sizes when asked; a kdet-preset
// checkpoint and weights of another builder are refused in one line.
import { beforeAll, describe, expect, it } from 'vitest';
import { createWasmBackend } from '../../src/backends/wasm/index.js';
import * as k from '../../src/engine/index.js';
import { Rng } from '../../src/engine/random.js';
import { saveCheckpoint } from '../../src/nn/checkpoint.js';
import { IMAGENET_NORMALISATION } from '../../src/data/transforms.js';
import { buildTvModel, checkImportedMeta, ImportedDetector, isImportedMeta, loadTvCheckpoint, TV_ARCHS, tvSettings, type TvCheckpointMeta } from '../../src/detection/tv-checkpoint.js';
import { TV_PRESETS } from '../../src/detection/tv-presets.js';
import * as cli from '../../src/cli/load-tv-model.js';
import { UsageError } from '../../src/cli/args.js';
import { planTvTraining } from '../../src/cli/train-tv.js';

const MNV3 = 'fasterrcnn_mobilenet_v3_large_320_fpn';
const CLASSES = ['a', 'b', 'c'];

beforeAll(async () => {
  k.setBackend(await createWasmBackend({ threads: 1 }));
});

describe('tvSettings', () => {
  it("a new model: the builder's sizes, RPN and box settings, BatchNorm2d, ImageNet's normalisation", () => {
    const s = tvSettings(MNV3, 3);
    expect(s).toEqual({
      numClasses: 4,
      norm: 'batch',
      transform: { minSize: 320, maxSize: 640, imageMean: IMAGENET_NORMALISATION.mean, imageStd: IMAGENET_NORMALISATION.std, sizeDivisible: 32 },
      rpn: TV_PRESETS[MNV3].rpn,
      box: TV_PRESETS[MNV3].box,
    });
    // A min size above the builder's max raises the max with it, as torchvision's would refuse.
    expect(tvSettings('fasterrcnn_resnet18_fpn', 1, { minSize: 2000 }).transform).toMatchObject({ minSize: 2000, maxSize: 2000 });
  });

  it('options: sizes, sampling, norm, normalisation; a base of the same builder gives its settings, of another only its mean/std', () => {
    const s = tvSettings(MNV3, 10, { minSize: 128, maxSize: 128, boxBatchSizePerImage: 128, rpnBatchSizePerImage: 64, norm: 'frozen', imageMean: [0.5, 0.5, 0.5], imageStd: [0.25, 0.25, 0.25] });
    expect(s.transform).toMatchObject({ minSize: 128, maxSize: 128, imageMean: [0.5, 0.5, 0.5], imageStd: [0.25, 0.25, 0.25] });
    expect(s.box).toEqual({ ...TV_PRESETS[MNV3].box, batchSizePerImage: 128 });
    expect(s.rpn).toEqual({ ...TV_PRESETS[MNV3].rpn, batchSizePerImage: 64 });
    expect(s.norm).toBe('frozen');
    const base = { ...tvSettings(MNV3, 3, { boxBatchSizePerImage: 32, imageMean: [0.1, 0.2, 0.3] }), norm: 'frozen' as const };
    const same = tvSettings(MNV3, 3, { base });
    expect(same).toMatchObject({ norm: 'frozen', box: { batchSizePerImage: 32 }, transform: { imageMean: [0.1, 0.2, 0.3] } });
    const other = tvSettings('fasterrcnn_resnet18_fpn', 3, { base: { ...base, preset: MNV3 } });
    expect(other).toMatchObject({ norm: 'batch', box: TV_PRESETS.fasterrcnn_resnet18_fpn.box, rpn: TV_PRESETS.fasterrcnn_resnet18_fpn.rpn, transform: { imageMean: [0.1, 0.2, 0.3] } });
  });

  it("is what kdet train --preset <builder> plans (from scratch and from a checkpoint's settings)", async () => {
    const o = { preset: MNV3, from: '', backbone: null, norm: '', trainableLayers: -1, minSize: 96, maxSize: 160, rpnBatchSizePerImage: 0, boxBatchSizePerImage: 48 } as const;
    const plan = await planTvTraining(o, 5);
    expect(plan.settings).toEqual(tvSettings(MNV3, 5, { minSize: 96, maxSize: 160, boxBatchSizePerImage: 48 }));
    expect(plan.settings.box.batchSizePerImage).toBe(48);
    expect(plan.trainableLayers).toBe(6);
  });
});

describe('checkImportedMeta and isImportedMeta', () => {
  const good = (): TvCheckpointMeta => ({ kind: 'detector', preset: MNV3, classNames: [...CLASSES], torchvision: tvSettings(MNV3, 3) });

  it('accepts good metadata; tells family metadata from a kdet preset’s', () => {
    expect(checkImportedMeta(good(), 'teacher', 't.safetensors')).toEqual(good());
    expect(isImportedMeta(good())).toBe(true);
    expect(isImportedMeta({ kind: 'detector', preset: 'student', model: {} })).toBe(false);
    expect(TV_ARCHS).toContain(MNV3);
  });

  it('refuses broken metadata in one line (a plain Error here, a UsageError through the CLI)', () => {
    const cases: [string, (m: any) => void, RegExp][] = [
      ['arch', (m) => (m.preset = 'fasterrcnn_vgg'), /unknown architecture "fasterrcnn_vgg"/],
      ['classes', (m) => m.classNames.pop(), /3 class names expected/],
      ['norm', (m) => (m.torchvision.norm = 'group'), /norm "group"/],
      ['transform', (m) => (m.torchvision.transform.maxSize = 1), /transform settings/],
      ['rpn', (m) => delete m.torchvision.rpn.nmsThresh, /RPN settings/],
      ['box', (m) => (m.torchvision.box.bboxRegWeights = [1, 1]), /box settings/],
    ];
    for (const [, edit, why] of cases) {
      const m = good();
      edit(m);
      let plain: unknown;
      try {
        checkImportedMeta(m, 'teacher', 't.safetensors');
      } catch (e) {
        plain = e;
      }
      expect(plain).toBeInstanceOf(Error);
      expect(plain).not.toBeInstanceOf(UsageError);
      expect((plain as Error).message).toMatch(/^teacher 't\.safetensors' is an imported torchvision model with broken metadata \(/);
      expect((plain as Error).message).toMatch(why);
      expect((plain as Error).message).not.toMatch(/\n/);
      expect(() => cli.checkImportedMeta(m, 'teacher', 't.safetensors')).toThrow(UsageError);
      expect(() => cli.checkImportedMeta(m, 'teacher', 't.safetensors')).toThrow((plain as Error).message);
    }
  });
});

describe('loadTvCheckpoint', () => {
  let bytes: Uint8Array;
  let settings: ReturnType<typeof tvSettings>;
  const image = (): { image: Float32Array; height: number; width: number } => {
    const r = new Rng(7);
    return { image: Float32Array.from({ length: 3 * 64 * 64 }, () => r.uniform()), height: 64, width: 64 };
  };

  beforeAll(async () => {
    settings = tvSettings(MNV3, 3, { minSize: 64, maxSize: 64 });
    const model = buildTvModel(MNV3, settings, { seed: 3 });
    bytes = await saveCheckpoint(model, { kind: 'detector', preset: MNV3, classNames: CLASSES, torchvision: settings, data: { name: 'shapes', size: 64 } });
    model.dispose();
  });

  it('builds the model the metadata describes, with its weights, in eval mode; the rest of the metadata comes back', async () => {
    const { model, meta } = loadTvCheckpoint(bytes, { source: 'm.safetensors' });
    const again = buildTvModel(MNV3, settings, { seed: 3 });
    try {
      expect(model.training).toBe(false);
      expect(meta).toMatchObject({ preset: MNV3, classNames: CLASSES, data: { name: 'shapes', size: 64 } });
      const a = model.stateDict();
      const b = again.stateDict();
      expect([...a.keys()]).toEqual([...b.keys()]);
      const differ: string[] = [];
      for (const [name, t] of a) {
        const [x, y] = [await t.data(), await b.get(name)!.data()];
        if (x.length !== y.length || x.some((v, i) => v !== y[i])) differ.push(name);
      }
      expect(differ).toEqual([]);
      again.eval();
      const [d1] = await model.detect([image()]);
      const [d2] = await again.detect([image()]);
      expect(Array.from(d1!.scores)).toEqual(Array.from(d2!.scores));
      expect(Array.from(d1!.boxes)).toEqual(Array.from(d2!.boxes));
      const det = new ImportedDetector(model);
      expect(det.config.numClasses).toBe(3);
      expect((await det.detectImages([image()]))[0]!.scores.length).toBe(d1!.scores.length);
    } finally {
      model.dispose();
      again.dispose();
    }
  }, 60_000);

  it('at other transform sizes when asked (the metadata keeps its own)', () => {
    const { model, meta } = loadTvCheckpoint(bytes, { minSize: 96, maxSize: 128 });
    try {
      expect(model.transform.config).toMatchObject({ minSize: 96, maxSize: 128 });
      expect(meta.torchvision.transform).toMatchObject({ minSize: 64, maxSize: 64 });
    } finally {
      model.dispose();
    }
    expect(() => loadTvCheckpoint(bytes, { minSize: 96, maxSize: 64 })).toThrow(/need 1 ≤ minSize ≤ maxSize/);
  });

  it('refuses a kdet-preset checkpoint and weights of another builder, in one line', async () => {
    const other = buildTvModel('fasterrcnn_resnet18_fpn', tvSettings('fasterrcnn_resnet18_fpn', 3, { minSize: 64, maxSize: 64 }));
    try {
      const kdetPreset = await saveCheckpoint(other, { kind: 'detector', preset: 'student', model: {} });
      expect(() => loadTvCheckpoint(kdetPreset, { source: 's.safetensors', what: 'teacher' })).toThrow(/^teacher 's\.safetensors' is a kdet student model, not one of torchvision's Faster R-CNN family/);
      const lying = await saveCheckpoint(other, { kind: 'detector', preset: MNV3, classNames: CLASSES, torchvision: settings });
      expect(() => loadTvCheckpoint(lying, { source: 'x.safetensors', what: 'teacher' })).toThrow(/^teacher 'x\.safetensors' does not fit the model it describes: parameter '.*' is missing/);
    } finally {
      other.dispose();
    }
  }, 60_000);
});
