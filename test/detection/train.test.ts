import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import { memoryStats, setBackend } from '../../src/engine/index.js';
import { Rng } from '../../src/engine/random.js';
import { SyntheticShapes } from '../../src/data/shapes.js';
import { defaultConfig, type FasterRCNNConfig } from '../../src/detection/config.js';
import { FasterRCNN } from '../../src/detection/faster-rcnn.js';
import { defaultTrainerConfig, Trainer, type StepInfo } from '../../src/detection/trainer.js';
import { assertClose } from '../helpers/assert.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';

const loaded = await loadBackendsUnderTest();

/** A small detector on 64² shapes: big enough to exercise every part, small enough for CI. */
function smallConfig(): FasterRCNNConfig {
  const cfg = defaultConfig(6, { inChannels: 3, stages: [[8], [16], [16]] });
  cfg.anchors.sizes = [8, 16, 32];
  cfg.roiHeads.representationSize = 32;
  cfg.roiHeads.sampler.batchSizePerImage = 32;
  cfg.rpn.preNmsTopN = { train: 200, test: 100 };
  cfg.rpn.postNmsTopN = { train: 50, test: 20 };
  return cfg;
}

const data = new SyntheticShapes({ length: 8, height: 64, width: 64, minSize: 14, maxSize: 30, seed: 3 });

async function train(steps: number, opts: { resumeFrom?: Uint8Array; stopAt?: number; lr?: number } = {}): Promise<{ infos: StepInfo[]; model: FasterRCNN; trainer: Trainer; checkpoint: Uint8Array | null }> {
  const model = new FasterRCNN(smallConfig(), new Rng(1));
  const cfg = defaultTrainerConfig({ steps, batchSize: 2, seed: 4, schedule: { lr: opts.lr ?? 0.01, warmupSteps: 2, warmupFactor: 0.1, milestones: [], gamma: 0.1 } });
  const trainer = new Trainer(model, data, cfg, async (images, targets, rng) => (await model.forwardTrain(images, targets, rng)).losses);
  if (opts.resumeFrom) trainer.resume(opts.resumeFrom);
  const infos: StepInfo[] = [];
  let checkpoint: Uint8Array | null = null;
  await trainer.run({
    onStep: async (s) => {
      infos.push(s);
      if (s.step === opts.stopAt) checkpoint = await trainer.checkpoint();
    },
  });
  return { infos, model, trainer, checkpoint };
}

describeEachBackend(loaded, (backend: Backend, name: string) => {
  describe('training a Faster R-CNN', () => {
    it('keeps live tensors and backend bytes flat from step to step', async () => {
      setBackend(backend);
      const samples: { tensors: number; bytes: number }[] = [];
      const before = memoryStats(backend);
      const model = new FasterRCNN(smallConfig(), new Rng(1));
      const trainer = new Trainer(model, data, defaultTrainerConfig({ steps: 8, batchSize: 2 }), async (images, targets, rng) => (await model.forwardTrain(images, targets, rng)).losses);
      await trainer.run({ onStep: () => void samples.push(memoryStats(backend)) });
      // After the first step creates the momentum buffers, nothing grows.
      for (const s of samples.slice(1)) expect(s).toEqual(samples[1]);
      trainer.dispose();
      model.dispose();
      expect(memoryStats(backend)).toEqual(before);
    });

    it('is deterministic: same seed, same losses', async () => {
      setBackend(backend);
      const a = await train(3);
      const b = await train(3);
      expect(a.infos.map((s) => s.loss)).toEqual(b.infos.map((s) => s.loss));
      for (const r of [a, b]) {
        r.trainer.dispose();
        r.model.dispose();
      }
    });

    it('resumes from a checkpoint exactly where it stopped', async () => {
      setBackend(backend);
      const straight = await train(6, { stopAt: 3 });
      const resumed = await train(6, { resumeFrom: straight.checkpoint! });
      expect(resumed.infos.map((s) => s.step)).toEqual([4, 5, 6]);
      if (name === 'reference') assertClose(resumed.infos.map((s) => s.loss), straight.infos.slice(3).map((s) => s.loss), { rtol: 1e-5, what: 'losses' });
      else expect(resumed.infos.map((s) => s.loss)).toEqual(straight.infos.slice(3).map((s) => s.loss));
      const pa = straight.model.namedParameters();
      const pb = resumed.model.namedParameters();
      // Bit-exact on float32 backends; the reference backend computes in float64 and the
      // checkpoint stores float32, so there the resumed run differs by float32 rounding.
      for (let i = 0; i < pa.length; i++) {
        const got = await pb[i]![1].value.data();
        const want = await pa[i]![1].value.data();
        if (name === 'reference') assertClose(got, want, { rtol: 1e-5, atol: 1e-7, what: pa[i]![0] });
        else expect(Array.from(got)).toEqual(Array.from(want));
      }
      for (const r of [straight, resumed]) {
        r.trainer.dispose();
        r.model.dispose();
      }
    });

    it.skipIf(name !== 'wasm')('saves its state at every evaluation: a run stopped after one resumes from it to the same end', async () => {
      setBackend(backend);
      const saved: { kind: string; step: number; bytes: Uint8Array }[] = [];
      const model = new FasterRCNN(smallConfig(), new Rng(1));
      const cfg = defaultTrainerConfig({ steps: 4, batchSize: 2, seed: 4, evalEvery: 2, schedule: { lr: 0.01, warmupSteps: 2, warmupFactor: 0.1, milestones: [], gamma: 0.1 } });
      const trainer = new Trainer(model, data, cfg, async (images, targets, rng) => (await model.forwardTrain(images, targets, rng)).losses);
      const losses: number[] = [];
      await trainer.run({
        onStep: (st) => void losses.push(st.loss),
        onEval: async () => undefined,
        onCheckpoint: async (bytes, kind, step) => void saved.push({ kind, step, bytes }),
      });
      expect(saved.map((c) => [c.kind, c.step])).toEqual([['last', 2], ['last', 4]]);
      const resumed = await train(4, { resumeFrom: saved[0]!.bytes });
      expect(resumed.infos.map((st) => st.loss)).toEqual(losses.slice(2));
      const pa = model.namedParameters();
      const pb = resumed.model.namedParameters();
      for (let i = 0; i < pa.length; i++) expect(Array.from(await pb[i]![1].value.data()), pa[i]![0]).toEqual(Array.from(await pa[i]![1].value.data()));
      trainer.dispose();
      model.dispose();
      resumed.trainer.dispose();
      resumed.model.dispose();
    });

    // 40 detector steps: seconds on wasm, minutes on the reference backend (float64 loops) and on
    // a software GPU; those two are covered by the conv-net trajectory test (test/nn).
    it.skipIf(name !== 'wasm')('learns: the loss on a small set falls', async () => {
      setBackend(backend);
      const r = await train(40, { lr: 0.02 });
      const first = r.infos.slice(0, 5).reduce((s, i) => s + i.loss, 0) / 5;
      const last = r.infos.slice(-5).reduce((s, i) => s + i.loss, 0) / 5;
      expect(r.infos.every((i) => Number.isFinite(i.loss))).toBe(true);
      expect(last).toBeLessThan(first * 0.8);
      r.trainer.dispose();
      r.model.dispose();
    });
  });
});
