// The Distiller with PKD / CWD in the hint's place (DistillConfig.featureLoss): one step on the
// tiny synthetic setup gives a finite loss whose feature term reaches the student's backbone
// through the adapter; the settings are refused by name before anything is allocated; the
// ablation's rows carry them.
import { expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import { KdetError } from '../../src/engine/errors.js';
import { add, dispose, memoryStats, mul, noGrad, scope, setBackend, valueAndGradsAsync, type Tensor } from '../../src/engine/index.js';
import { Rng } from '../../src/engine/random.js';
import { BatchLoader } from '../../src/data/loader.js';
import { batchToTensors } from '../../src/detection/batch.js';
import { FasterRCNN } from '../../src/detection/faster-rcnn.js';
import { ABLATION_VARIANTS } from '../../src/distillation/ablation.js';
import { defaultDistillConfig, featureLossProblem, type DistillConfig } from '../../src/distillation/config.js';
import { Distiller } from '../../src/distillation/distiller.js';
import { cwdLoss, pkdLoss } from '../../src/distillation/feature-losses.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { config, data } from '../helpers/distil-fixture.js';

const loaded = await loadBackendsUnderTest();

describeEachBackend(loaded, (backend: Backend) => {
  for (const [featureLoss, terms] of [
    ['pkd', { gamma: 6 }],
    ['cwd', { gamma: 10, cwdTau: 2 }],
  ] as const) {
    it(`featureLoss ${featureLoss}: one step of the full objective is finite, and its feature term (logged as hint) reaches the student's backbone through the adapter`, async () => {
      setBackend(backend);
      const before = memoryStats(backend);
      const teacher = new FasterRCNN(config([[8], [16]]), new Rng(1));
      const student = new FasterRCNN(config([[4], [16]]), new Rng(2));
      const d = new Distiller(student, teacher, defaultDistillConfig({ featureLoss, ...terms }), new Rng(3));
      const [batch] = await new BatchLoader(data, { batchSize: 2, shuffle: false }).epoch(0).next().then((r) => [r.value!]);
      const { images, targets } = batchToTensors(batch!, student.transform);
      const backbone = student.backbone.trainableParameters().map((p) => p.value);
      const adapter = d.adapter.trainableParameters().map((p) => p.value);
      expect(adapter.length).toBeGreaterThan(0);
      const read = async (t: Tensor) => Array.from(await t.data());
      // The whole objective: finite, with the usual term names.
      const all = await valueAndGradsAsync(async () => {
        const parts = await d.losses(images, targets, new Rng(4), 0);
        return { loss: Object.values(parts).reduce((a, b) => add(a, b)), aux: parts };
      }, backbone);
      expect(Object.keys(all.aux).sort()).toEqual(['hint', 'roiCls', 'roiReg', 'rpnCls', 'rpnReg']);
      const loss = (await read(all.value))[0]!;
      const hint = (await read(all.aux.hint!))[0]!;
      expect(Number.isFinite(loss) && Number.isFinite(hint)).toBe(true);
      expect(hint).toBeGreaterThan(0);
      // It is γ times the chosen loss on the adapted student feature and the teacher's.
      const direct = noGrad(() =>
        scope(() => {
          const [sf, tf] = [d.adapter.forward(student.features(images)), teacher.features(images)];
          return mul(featureLoss === 'pkd' ? pkdLoss(sf, tf) : cwdLoss(sf, tf, 2), terms.gamma);
        }),
      );
      const want = (await read(direct))[0]!;
      expect(Math.abs(hint - want) / want).toBeLessThan(1e-5);
      direct.dispose();
      for (const g of all.grads) expect((await read(g)).every(Number.isFinite)).toBe(true);
      dispose([all.value, ...all.grads, ...Object.values(all.aux)]);
      // The feature term alone: its gradient reaches every backbone parameter and the adapter.
      const only = await valueAndGradsAsync(async () => {
        // The other terms are freed with valueAndGradsAsync's scope.
        return (await d.losses(images, targets, new Rng(4), 0)).hint!;
      }, [...backbone, ...adapter]);
      for (const [i, g] of only.grads.entries()) {
        const v = await read(g);
        expect(v.every(Number.isFinite), `parameter ${i}`).toBe(true);
        expect(v.some((x) => x !== 0), `parameter ${i} (${i < backbone.length ? 'backbone' : 'adapter'}) gets a gradient`).toBe(true);
      }
      dispose([only.value, ...only.grads, images]);
      d.dispose();
      teacher.dispose();
      await backend.sync();
      expect(memoryStats(backend)).toEqual(before);
    });
  }

  it('featureLoss settings are refused by name before anything is allocated', () => {
    setBackend(backend);
    const teacher = new FasterRCNN(config([[8], [16]]), new Rng(1));
    const student = new FasterRCNN(config([[4], [16]]), new Rng(2));
    const before = memoryStats(backend);
    const cases: [Partial<DistillConfig>, string][] = [
      [{ featureLoss: 'kl' as DistillConfig['featureLoss'] }, "featureLoss must be one of hint, pkd, cwd, got 'kl'"],
      [{ featureLoss: 'cwd', cwdTau: 0 }, 'cwdTau must be a finite number > 0, got 0'],
      [{ featureLoss: 'cwd', cwdTau: Number.NaN }, 'cwdTau must be a finite number > 0, got NaN'],
      [{ featureLoss: 'pkd', cwdTau: 2 }, 'cwdTau 2 applies to featureLoss cwd, not pkd'],
      [{ cwdTau: 2 }, 'cwdTau 2 applies to featureLoss cwd, not hint'],
      [{ featureLoss: 'pkd', fineGrained: true }, 'fineGrained applies to featureLoss hint; pkd has no such option'],
      [{ featureLoss: 'cwd', hintNorm: 'l1', hintReduction: 'sum-per-image' }, 'hintNorm l1, hintReduction sum-per-image apply to featureLoss hint; cwd has no such option'],
    ];
    for (const [bad, message] of cases) {
      expect(featureLossProblem(defaultDistillConfig(bad))).toBe(message);
      const make = () => new Distiller(student, teacher, defaultDistillConfig(bad), new Rng(3));
      expect(make).toThrow(KdetError);
      expect(make).toThrow(`kdet.Distiller: ${message}`);
    }
    expect(featureLossProblem(defaultDistillConfig({ featureLoss: 'cwd', cwdTau: 2 }))).toBeNull();
    expect(featureLossProblem(defaultDistillConfig())).toBeNull();
    expect(memoryStats(backend)).toEqual(before);
    student.dispose();
    teacher.dispose();
  });
});

it('the default is the paper’s hint, and the ablation’s PKD / CWD rows are the full method and soft-heads-lr0.2 with the feature term swapped in', () => {
  expect(defaultDistillConfig()).toMatchObject({ featureLoss: 'hint', cwdTau: 1, hint: true });
  const row = (name: string) => {
    const v = ABLATION_VARIANTS.find((x) => x.name === name);
    expect(v, name).toBeDefined();
    const cfg = defaultDistillConfig(v!.distill!);
    expect(featureLossProblem(cfg), name).toBeNull();
    return cfg;
  };
  const full = row('full');
  expect(row('full-pkd')).toEqual({ ...full, featureLoss: 'pkd', gamma: 6 });
  expect(row('full-cwd')).toEqual({ ...full, featureLoss: 'cwd', cwdTau: 1, gamma: 10 });
  const softHeads = row('soft-heads-lr0.2');
  expect(row('soft-heads-pkd')).toEqual({ ...softHeads, hint: true, adapter: '1x1', featureLoss: 'pkd', gamma: 6 });
  expect(row('soft-heads-cwd')).toEqual({ ...softHeads, hint: true, adapter: '1x1', featureLoss: 'cwd', cwdTau: 1, gamma: 10 });
  for (const name of ['full-pkd', 'full-cwd', 'soft-heads-pkd', 'soft-heads-cwd']) expect(ABLATION_VARIANTS.find((x) => x.name === name)!.paper, name).toBeFalsy();
});
