import { expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import { KdetError } from '../../src/engine/errors.js';
import { memoryStats, setBackend } from '../../src/engine/index.js';
import { Rng } from '../../src/engine/random.js';
import { FasterRCNN } from '../../src/detection/faster-rcnn.js';
import { defaultDistillConfig } from '../../src/distillation/config.js';
import { Distiller } from '../../src/distillation/distiller.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { config, distil } from '../helpers/distil-fixture.js';

const loaded = await loadBackendsUnderTest();

describeEachBackend(loaded, (backend: Backend) => {
  it('hintFirstSteps: the first k steps train on γ·hint alone, then the configured objective takes over', async () => {
    setBackend(backend);
    const before = memoryStats(backend);
    // Configured: soft CE and bounded regression, no hint; the stage adds the hint for 3 of 6 steps.
    const terms = { soft: true, regression: 'bounded', hint: false, adapter: 'none', headsFromTeacher: true } as const;
    const staged = await distil(null, { ...terms, hintFirstSteps: 3 });
    const joint = await distil(null, { ...terms, hint: true });
    expect(staged.steps).toHaveLength(6);
    staged.steps.forEach((s, i) => {
      for (const v of Object.values(s)) expect(Number.isFinite(v), `step ${i + 1}`).toBe(true);
      expect(Object.keys(s).sort(), `step ${i + 1}`).toEqual(Object.keys(staged.steps[0]!).sort());
    });
    for (const s of staged.steps.slice(0, 3)) {
      for (const k of ['rpnCls', 'roiCls', 'rpnReg', 'roiReg']) expect(s[k], k).toBe(0);
      expect(s.hint).toBeGreaterThan(0);
      expect(s.loss).toBe(s.hint);
    }
    // Step 1 starts from the same weights and batch as the joint objective: the same γ·hint.
    expect(staged.steps[0]!.hint).toBe(joint.steps[0]!.hint);
    // After the stage the configured terms are on, and the hint (not configured) is off.
    for (const s of staged.steps.slice(3)) {
      for (const k of ['rpnCls', 'roiCls', 'roiReg']) expect(s[k], k).toBeGreaterThan(0);
      expect(s.hint).toBe(0);
      expect(s.loss).toBeCloseTo(s.rpnCls! + s.roiCls! + s.rpnReg! + s.roiReg!, 5);
    }
    expect(memoryStats(backend)).toEqual(before);
  });

  it('hintFirstSteps must be a whole number ≥ 0, refused by name before anything is allocated', () => {
    setBackend(backend);
    const teacher = new FasterRCNN(config([[8], [16]]), new Rng(1));
    const student = new FasterRCNN(config([[4], [16]]), new Rng(2));
    const before = memoryStats(backend);
    for (const bad of [-1, 2.5, Number.NaN]) {
      const make = () => new Distiller(student, teacher, defaultDistillConfig({ hintFirstSteps: bad }), new Rng(3));
      expect(make).toThrow(KdetError);
      expect(make).toThrow(`hintFirstSteps must be an integer ≥ 0, got ${bad}`);
    }
    expect(memoryStats(backend)).toEqual(before);
    student.dispose();
    teacher.dispose();
  });
});
