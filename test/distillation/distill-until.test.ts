import { expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import { KdetError } from '../../src/engine/errors.js';
import { memoryStats, setBackend } from '../../src/engine/index.js';
import { Rng } from '../../src/engine/random.js';
import { FasterRCNN } from '../../src/detection/faster-rcnn.js';
import { defaultDistillConfig } from '../../src/distillation/config.js';
import { Distiller } from '../../src/distillation/distiller.js';
import { MemoryFeatureStore } from '../../src/distillation/teacher-cache.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { config, distil } from '../helpers/distil-fixture.js';

const loaded = await loadBackendsUnderTest();

describeEachBackend(loaded, (backend: Backend) => {
  it('distillUntilStep: the configured terms for the first k steps, then the ground truth alone without the teacher', async () => {
    setBackend(backend);
    const before = memoryStats(backend);
    const stopped = await distil(new MemoryFeatureStore(), { distillUntilStep: 3 });
    const throughout = await distil(new MemoryFeatureStore());
    expect(stopped.steps).toHaveLength(6);
    stopped.steps.forEach((s, i) => {
      for (const v of Object.values(s)) expect(Number.isFinite(v), `step ${i + 1}`).toBe(true);
      expect(Object.keys(s).sort(), `step ${i + 1}`).toEqual(Object.keys(throughout.steps[0]!).sort());
    });
    // Until the stop, the same weights, batches and objective: the same numbers.
    expect(stopped.steps.slice(0, 3)).toEqual(throughout.steps.slice(0, 3));
    // After it the hint is 0, the loss is the four detection terms, and they differ from the
    // distilled ones (the soft CE and the teacher-bounded term are gone).
    for (const [i, s] of stopped.steps.slice(3).entries()) {
      expect(s.hint).toBe(0);
      for (const k of ['rpnCls', 'roiCls', 'rpnReg', 'roiReg']) expect(s[k], k).toBeGreaterThan(0);
      expect(s.loss).toBeCloseTo(s.rpnCls! + s.roiCls! + s.rpnReg! + s.roiReg!, 5);
      expect(s.roiCls).not.toBe(throughout.steps[3 + i]!.roiCls);
    }
    // The teacher's features were asked for in the first three steps only (2 images each).
    expect(stopped.stats.hits + stopped.stats.misses).toBe(6);
    expect(throughout.stats.hits + throughout.stats.misses).toBe(12);
    expect(memoryStats(backend)).toEqual(before);
  });

  it('distillUntilStep must be a whole number ≥ 0 and end after hintFirstSteps, refused by name before anything is allocated', () => {
    setBackend(backend);
    const teacher = new FasterRCNN(config([[8], [16]]), new Rng(1));
    const student = new FasterRCNN(config([[4], [16]]), new Rng(2));
    const before = memoryStats(backend);
    for (const bad of [-1, 2.5, Number.NaN]) {
      const make = () => new Distiller(student, teacher, defaultDistillConfig({ distillUntilStep: bad }), new Rng(3));
      expect(make).toThrow(KdetError);
      expect(make).toThrow(`distillUntilStep must be an integer ≥ 0, got ${bad}`);
    }
    const early = () => new Distiller(student, teacher, defaultDistillConfig({ distillUntilStep: 3, hintFirstSteps: 3 }), new Rng(3));
    expect(early).toThrow('distillUntilStep 3 ends the distillation before hintFirstSteps 3 does');
    expect(memoryStats(backend)).toEqual(before);
    student.dispose();
    teacher.dispose();
  });
});
