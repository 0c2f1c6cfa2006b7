import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fashionScenes } from '../../src/data/fashion-scenes.js';
import { openVoc } from '../../src/data/voc.js';
import type { Backend } from '../../src/engine/backend.js';
import { memoryStats, setBackend } from '../../src/engine/index.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { Rng } from '../../src/engine/random.js';
import { iouMatrix, type Boxes } from '../../src/detection/boxes.js';
import { defaultConfig, type FasterRCNNConfig } from '../../src/detection/config.js';
import { evaluateDetector } from '../../src/detection/evaluate.js';
import { FasterRCNN, type Detections } from '../../src/detection/faster-rcnn.js';
import { proposals } from '../../src/detection/rpn.js';
import { defaultTrainerConfig, Trainer, transformOf, type StepInfo } from '../../src/detection/trainer.js';
import { DetectionTransform, resizeBilinear, type ImageInput, type ImageSize, type TransformConfig } from '../../src/detection/transform.js';
import { Module } from '../../src/nn/module.js';
import { loadCheckpoint, readCheckpointMetadata, saveCheckpoint } from '../../src/nn/checkpoint.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';

const loaded = await loadBackendsUnderTest();

// Detections and training losses of models/teacher.safetensors captured with the code before
// per-image sizes and the transform existed (see the file's `made`).
const baseline = JSON.parse(readFileSync(new URL('../fixtures/detection/teacher-baseline.json', import.meta.url), 'utf8')) as {
  backends: Record<string, { sceneIds: number[]; detections: { boxes: number[]; scores: number[]; labels: number[] }[]; trainLosses: { rngSeed: number; batchIds: number[]; losses: Record<string, number> } }>;
};
const teacherBytes = new Uint8Array(readFileSync(new URL('../../models/teacher.safetensors', import.meta.url)));
const teacherMeta = readCheckpointMetadata(teacherBytes) as { model: FasterRCNNConfig };
const scenes = await fashionScenes({ split: 'test', length: 8, seed: 0, size: 128, source: 'embedded' });
const vocRoot = new URL('../fixtures/data/voc', import.meta.url).pathname;

function teacher(transform?: TransformConfig): FasterRCNN {
  const model = new FasterRCNN(transform ? { ...teacherMeta.model, transform } : teacherMeta.model, new Rng(0));
  loadCheckpoint(teacherBytes, model);
  model.eval();
  return model;
}

/** A small detector (stride 4) with a transform for ~48 px images; cheap on every backend. */
function tinyConfig(numClasses: number, transform: TransformConfig | null = { minSize: 48, maxSize: 80, sizeDivisible: 4 }): FasterRCNNConfig {
  const cfg = defaultConfig(numClasses, { inChannels: 3, stages: [[8], [16], [16]] });
  cfg.anchors.sizes = [8, 16, 32];
  cfg.roiHeads.representationSize = 32;
  cfg.roiHeads.sampler.batchSizePerImage = 32;
  cfg.rpn.preNmsTopN = { train: 200, test: 200 };
  cfg.rpn.postNmsTopN = { train: 50, test: 100 };
  return transform ? { ...cfg, transform } : cfg;
}

function noise(h: number, w: number, seed: number): ImageInput {
  const rng = new Rng(seed);
  return { image: Float32Array.from({ length: 3 * h * w }, () => rng.uniform()), height: h, width: w };
}

const plain = (d: Detections) => ({ boxes: Array.from(d.boxes), scores: Array.from(d.scores), labels: Array.from(d.labels) });

/** Largest x2 and y2 over boxes. */
function extent(boxes: Boxes): [number, number] {
  let x = 0;
  let y = 0;
  for (let i = 0; i < boxes.length; i += 4) (x = Math.max(x, boxes[i + 2]!)), (y = Math.max(y, boxes[i + 3]!));
  return [y, x];
}

function expectInside(boxes: Boxes, [h, w]: ImageSize, what: string): void {
  for (let i = 0; i < boxes.length; i += 4) {
    const [x1, y1, x2, y2] = boxes.subarray(i, i + 4);
    if (!(x1! >= 0 && y1! >= 0 && x2! <= w && y2! <= h)) throw new Error(`${what}: box ${i / 4} [${x1}, ${y1}, ${x2}, ${y2}] is not inside ${h}x${w}`);
  }
}

/** A fashion scene scaled ×2 and placed at (dy, dx) on a canvas of its mean colour. */
function canvas(scene: { image: Float32Array; boxes: Float32Array; labels: Int32Array }, h: number, w: number, dy: number, dx: number) {
  const big = resizeBilinear(scene.image, 3, 128, 128, 256, 256);
  const image = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) {
    let mean = 0;
    for (let i = 0; i < 128 * 128; i++) mean += scene.image[c * 128 * 128 + i]!;
    image.subarray(c * h * w, (c + 1) * h * w).fill(mean / (128 * 128));
    for (let y = 0; y < 256; y++) image.set(big.subarray((c * 256 + y) * 256, (c * 256 + y + 1) * 256), (c * h + y + dy) * w + dx);
  }
  const boxes = Float32Array.from(scene.boxes, (v, i) => v * 2 + (i % 2 === 0 ? dx : dy));
  return { input: { image, height: h, width: w }, boxes, labels: scene.labels };
}

describeEachBackend(loaded, (backend: Backend, name: string) => {
  const base = baseline.backends[name];

  describe('the same-size path is unchanged', () => {
    it.skipIf(!base)('the teacher checkpoint detects exactly as before the transform existed (detect on a tensor)', async () => {
      setBackend(backend);
      const model = teacher();
      expect(model.transform.identity).toBe(true);
      const n = base!.sceneIds.length;
      const images = new Float32Array(n * 3 * 128 * 128);
      base!.sceneIds.forEach((id, i) => images.set(scenes.get(id).image, i * 3 * 128 * 128));
      const t = tensor(images, [n, 3, 128, 128]);
      const dets = await model.detect(t);
      t.dispose();
      if (name !== 'webgpu') expect(dets.map(plain)).toEqual(base!.detections);
      else {
        // Bit for bit on the SwiftShader the fixture was made with; a software GPU's JIT follows
        // the host CPU (FMA or not), so elsewhere the same numbers to float32 rounding.
        dets.forEach((d, i) => {
          const want = base!.detections[i]!;
          expect(Array.from(d.labels)).toEqual(want.labels);
          d.boxes.forEach((v, j) => expect(Math.abs(v - want.boxes[j]!)).toBeLessThan(1e-3));
          d.scores.forEach((v, j) => expect(Math.abs(v - want.scores[j]!)).toBeLessThan(1e-5));
        });
      }
      // detectImages on same-size images goes through the identity transform: the same numbers.
      if (name === 'wasm') {
        const viaImages = await model.detectImages(base!.sceneIds.map((id) => scenes.get(id)));
        expect(viaImages.map(plain)).toEqual(base!.detections);
      }
      model.dispose();
    });

    // The teacher's training forward costs ~20 s on the float64 reference backend and a software
    // GPU; there the tiny model's checks below cover the same code.
    it.skipIf(!base || name !== 'wasm')('the teacher checkpoint gives exactly the training losses it gave before (loader batch through the trainer path)', async () => {
      setBackend(backend);
      const model = teacher();
      model.train();
      const samples = base!.trainLosses.batchIds.map((id) => scenes.get(id));
      const batch = {
        images: new Float32Array(samples.length * 3 * 128 * 128),
        shape: [samples.length, 3, 128, 128] as [number, number, number, number],
        boxes: samples.map((s) => s.boxes),
        labels: samples.map((s) => s.labels),
        ids: samples.map((s) => s.id),
        sizes: samples.map((): [number, number] => [128, 128]),
        difficult: samples.map(() => undefined),
        iscrowd: samples.map(() => undefined),
      };
      samples.forEach((s, i) => batch.images.set(s.image, i * 3 * 128 * 128));
      const p = model.prepareBatch(batch);
      expect(p.targets.imageSizes).toEqual([[128, 128], [128, 128]]);
      const fw = await model.forwardTrain(p.images, p.targets, new Rng(base!.trainLosses.rngSeed));
      const losses: Record<string, number> = {};
      for (const [k, v] of Object.entries(fw.losses)) losses[k] = await v.itemAsync();
      expect(losses).toEqual(base!.trainLosses.losses);
      p.images.dispose();
      model.dispose();
    });

    it('detectImages equals detect on a tensor for same-size images, with and without a transform', async () => {
      setBackend(backend);
      const images = [noise(48, 64, 1), noise(48, 64, 2)];
      const t = tensor(Float32Array.from([...images[0]!.image, ...images[1]!.image]), [2, 3, 48, 64]);
      for (const transform of [null, { minSize: 48, maxSize: 80, sizeDivisible: 4 }]) {
        const model = new FasterRCNN(tinyConfig(3, transform), new Rng(5));
        model.eval();
        const a = await model.detect(t);
        const b = await model.detectImages(images);
        expect(b.map(plain)).toEqual(a.map(plain));
        expect(a.some((d) => d.scores.length > 0)).toBe(true);
        model.dispose();
      }
      t.dispose();
    });

    it('checkpoints without a transform section load as the identity; with one, carry it', async () => {
      setBackend(backend);
      const old = new FasterRCNN(tinyConfig(3, null), new Rng(1));
      const bytes = await saveCheckpoint(old, { model: old.config });
      const meta = readCheckpointMetadata(bytes) as { model: FasterRCNNConfig };
      expect('transform' in meta.model).toBe(false);
      const again = new FasterRCNN(meta.model, new Rng(2));
      expect(again.transform.identity).toBe(true);
      const withT = new FasterRCNN(tinyConfig(3), new Rng(1));
      const meta2 = readCheckpointMetadata(await saveCheckpoint(withT, { model: withT.config })) as { model: FasterRCNNConfig };
      const rebuilt = new FasterRCNN(meta2.model, new Rng(2));
      expect(rebuilt.transform.config).toEqual({ minSize: 48, maxSize: 80, sizeDivisible: 4, mean: withT.config.imageMean, std: withT.config.imageStd });
      expect(() => new FasterRCNN({ ...tinyConfig(3), transform: { minSize: 48, maxSize: 10, sizeDivisible: 4 } }, new Rng(0))).toThrow(/minSize <= maxSize/);
      for (const m of [old, again, withT, rebuilt]) m.dispose();
    });
  });

  describe('images of different sizes in one padded batch', () => {
    it('clips RPN proposals to each image, anchors over the padded map', async () => {
      setBackend(backend);
      const model = new FasterRCNN(tinyConfig(3), new Rng(3));
      // A padded 48×80 batch: a 48×48 image and a 45×80 one. Zero logits and deltas make every
      // anchor a proposal, so the clipping is all that bounds them.
      const anchors = model.anchorGenerator.anchors(12, 20);
      const m = anchors.length / 4;
      const logits = tensor(new Float32Array(2 * m * 2), [2 * m, 2]);
      const deltas = tensor(new Float32Array(2 * m * 4), [2 * m, 4]);
      const cfg = { ...model.config.rpn, postNmsTopN: { train: 10_000, test: 10_000 }, preNmsTopN: { train: 10_000, test: 10_000 }, nmsThreshold: 1 };
      const sizes: ImageSize[] = [[48, 48], [45, 80]];
      const own = await proposals(logits, deltas, anchors, 2, sizes, cfg, model.rpnCoder, false);
      own.forEach((p, i) => expectInside(p, sizes[i]!, `proposals of image ${i}`));
      expect(extent(own[0]!)).toEqual([48, 48]);
      expect(extent(own[1]!)).toEqual([45, 80]);
      // The padded size alone lets the smaller image's proposals reach into its padding.
      const padded = await proposals(logits, deltas, anchors, 2, { height: 48, width: 80 }, cfg, model.rpnCoder, false);
      expect(extent(padded[0]!)[1]).toBe(80);
      logits.dispose();
      deltas.dispose();
      model.dispose();
    });

    it('clips detections to each image and returns them in its original pixels', async () => {
      setBackend(backend);
      const model = new FasterRCNN(tinyConfig(3), new Rng(4));
      model.eval();
      const images = [noise(48, 48, 7), noise(40, 70, 8)];
      const t = model.transform.batch(images);
      expect(t.imageSizes).toEqual([[48, 48], [45, 80]]);
      expect(t.shape).toEqual([2, 3, 48, 80]);
      const dets = await model.detectImages(images);
      expect(dets[0]!.scores.length).toBeGreaterThan(0);
      expect(dets[1]!.scores.length).toBeGreaterThan(0);
      dets.forEach((d, i) => expectInside(d.boxes, [images[i]!.height, images[i]!.width], `detections of image ${i}`));
      // Without the per-image sizes, the 48×48 image's boxes reach into the padding.
      const x = tensor(t.images, t.shape);
      const unclipped = await model.detect(x);
      expect(extent(unclipped[0]!.boxes)[1]).toBeGreaterThan(48);
      const clipped = await model.detect(x, t.imageSizes);
      clipped.forEach((d, i) => expectInside(d.boxes, t.imageSizes[i]!, `detections of image ${i} in the batch`));
      x.dispose();
      model.dispose();
    });

    it('finds known boxes in original pixels on wide and tall images (the teacher with a transform)', async () => {
      setBackend(backend);
      // The teacher was trained on 128² scenes; with short side 128 the transform brings a scene
      // scaled ×2 onto a 256×400 canvas back to the scale it knows, at 128×200.
      const model = teacher({ minSize: 128, maxSize: 213, sizeDivisible: 8 });
      const wide = canvas(scenes.get(1), 256, 400, 0, 90);
      const tall = canvas(scenes.get(3), 400, 256, 110, 0);
      // Each 200×200 padded image costs ~2.5 scenes: on the float64 reference backend and a
      // software GPU, the wide image alone.
      const cases = name === 'wasm' ? [wide, tall] : [wide];
      const dets = await model.detectImages(cases.map((c) => c.input));
      cases.forEach((c, i) => {
        const d = dets[i]!;
        expectInside(d.boxes, [c.input.height, c.input.width], `image ${i}`);
        const iou = iouMatrix(c.boxes, d.boxes);
        const k = d.scores.length;
        for (let g = 0; g < c.labels.length; g++) {
          let best = 0;
          for (let j = 0; j < k; j++) if (d.labels[j] === c.labels[g] && d.scores[j]! >= 0.5) best = Math.max(best, iou[g * k + j]!);
          expect(best, `ground-truth box ${g} of image ${i}`).toBeGreaterThan(0.7);
        }
      });
      // The top detection of the wide image is the identity teacher's on the 128² scene, ×2 and
      // shifted (the baseline's, where this backend has one).
      if (base) {
        const ref = base.detections[1]!;
        const want = Float32Array.from(ref.boxes.slice(0, 4), (v, j) => v * 2 + (j % 2 === 0 ? 90 : 0));
        expect(dets[0]!.labels[0]).toBe(ref.labels[0]);
        expect(iouMatrix(want, dets[0]!.boxes.subarray(0, 4))[0]).toBeGreaterThan(0.9);
      }
      model.dispose();
    });
  });

  describe('training on mixed sizes', () => {
    it('trains on a VOC folder of mixed-size JPEGs (finite losses) and detects in original pixels', async () => {
      setBackend(backend);
      const before = memoryStats(backend);
      const ds = await openVoc({ root: vocRoot, ids: ['000001', '000002', '000003'], classNames: 'infer' });
      const sizes = await Promise.all([0, 1, 2].map(async (i) => {
        const s = await ds.get(i);
        return [s.height, s.width];
      }));
      expect(new Set(sizes.map((s) => s.join())).size).toBe(3);
      const model = new FasterRCNN(tinyConfig(ds.classNames.length), new Rng(6));
      const cfg = defaultTrainerConfig({ steps: 2, batchSize: 3, seed: 1, schedule: { lr: 0.005, warmupSteps: 1, warmupFactor: 0.1, milestones: [], gamma: 0.1 } });
      const trainer = new Trainer(model, ds, cfg, async (images, targets, rng) => {
        // What the loss sees: the transformed batch, each image's size, boxes inside it.
        expect(images.shape[2]! % 4).toBe(0);
        expect(images.shape[3]! % 4).toBe(0);
        targets.imageSizes!.forEach((s, i) => expectInside(targets.boxes[i]!, s, `scaled ground truth of image ${i}`));
        const resized = sizes.map(([h, w]) => model.transform.resizedSize(h!, w!).join());
        for (const s of targets.imageSizes!) expect(resized).toContain(s.join());
        return (await model.forwardTrain(images, targets, rng)).losses;
      });
      expect(trainer.transform).toBe(model.transform);
      const infos: StepInfo[] = [];
      await trainer.run({ onStep: (s) => void infos.push(s) });
      expect(infos).toHaveLength(2);
      for (const s of infos) {
        expect(Number.isFinite(s.loss)).toBe(true);
        for (const v of Object.values(s.parts)) expect(Number.isFinite(v)).toBe(true);
      }
      model.eval();
      const samples = await Promise.all([0, 1, 2].map((i) => ds.get(i)));
      const dets = await model.detectImages(samples);
      dets.forEach((d, i) => expectInside(d.boxes, [samples[i]!.height, samples[i]!.width], `detections of ${ds.ids[i]}`));
      // Evaluation runs through the transform and scores in each image's own pixels.
      const m = await evaluateDetector(model, ds, { batchSize: 3 });
      expect(m.images).toBe(3);
      m.detections.forEach((d, i) => expectInside(Float32Array.from(d.boxes), [m.targets[i]!.height, m.targets[i]!.width], `evaluated detections of image ${i}`));
      trainer.dispose();
      model.dispose();
      // Transformed batches and detectImages' tensors are all freed.
      expect(memoryStats(backend)).toEqual(before);
    });

    it('a loader batch through prepareBatch: boxes scaled with their image, sizes per image', async () => {
      setBackend(backend);
      const model = new FasterRCNN(tinyConfig(3), new Rng(6));
      const a = noise(60, 80, 1);
      const b = noise(40, 40, 2);
      const batch = {
        images: new Float32Array(2 * 3 * 60 * 80),
        shape: [2, 3, 60, 80] as [number, number, number, number],
        boxes: [Float32Array.from([8, 4, 40, 60]), Float32Array.from([10, 10, 40, 20])],
        labels: [Int32Array.from([1]), Int32Array.from([2])],
        ids: [0, 1],
        sizes: [[60, 80], [40, 40]] as [number, number][],
        difficult: [undefined, undefined],
        iscrowd: [undefined, undefined],
      };
      batch.images.set(a.image, 0);
      for (let c = 0; c < 3; c++) for (let y = 0; y < 40; y++) batch.images.set(b.image.subarray((c * 40 + y) * 40, (c * 40 + y + 1) * 40), ((3 + c) * 60 + y) * 80);
      const p = model.prepareBatch(batch);
      expect(p.images.shape).toEqual([2, 3, 48, 64]);
      expect(p.targets.imageSizes).toEqual([[48, 64], [48, 48]]);
      expect(p.originalSizes).toEqual([[60, 80], [40, 40]]);
      expect(Array.from(p.targets.boxes[0]!)).toEqual([6.400000095367432, 3.200000047683716, 32, 48]);
      expect(Array.from(p.targets.boxes[1]!)).toEqual([12, 12, 48, 24]);
      const fw = await model.forwardTrain(p.images, p.targets, new Rng(1));
      for (const v of Object.values(fw.losses)) expect(Number.isFinite(await v.itemAsync())).toBe(true);
      p.images.dispose();
      model.dispose();
    });

    it("the trainer takes a wrapped student's transform (the distiller's layout)", () => {
      setBackend(backend);
      const student = new FasterRCNN(tinyConfig(3), new Rng(1));
      class Wrap extends Module {
        constructor(readonly student: FasterRCNN) {
          super();
        }
      }
      expect(transformOf(new Wrap(student))).toBe(student.transform);
      class Plain extends Module {}
      expect(transformOf(new Plain())).toBeNull();
      expect(new DetectionTransform(null).identity).toBe(true);
      student.dispose();
    });
  });
});
