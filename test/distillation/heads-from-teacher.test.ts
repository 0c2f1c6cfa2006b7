import { expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import { memoryStats, setBackend } from '../../src/engine/index.js';
import { Rng } from '../../src/engine/random.js';
import { defaultConfig, type FasterRCNNConfig } from '../../src/detection/config.js';
import { FasterRCNN } from '../../src/detection/faster-rcnn.js';
import { defaultDistillConfig } from '../../src/distillation/config.js';
import { Distiller } from '../../src/distillation/distiller.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';

const loaded = await loadBackendsUnderTest();

/** Teacher and student differ in the backbone only; `representationSize` can make the heads differ. */
function config(stages: number[][], representationSize = 16): FasterRCNNConfig {
  const cfg = defaultConfig(3, { inChannels: 3, stages });
  cfg.anchors.sizes = [8, 16];
  cfg.roiHeads.representationSize = representationSize;
  return cfg;
}

async function values(m: FasterRCNN['rpnHead'] | FasterRCNN['boxHead']): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const [name, p] of m.namedParameters()) out.set(name, Array.from(await p.value.data()));
  return out;
}

describeEachBackend(loaded, (backend: Backend) => {
  it('headsFromTeacher: the student starts from copies of the teacher’s RPN and box heads, its backbone stays its own', async () => {
    setBackend(backend);
    const before = memoryStats(backend);
    const teacher = new FasterRCNN(config([[8, 8], [16, 16]]), new Rng(1));
    const student = new FasterRCNN(config([[4], [16]]), new Rng(2));
    const studentBackbone = Array.from(await student.backbone.namedParameters()[0]![1].value.data());
    const d = new Distiller(student, teacher, defaultDistillConfig({ headsFromTeacher: true, adapter: 'none' }), new Rng(3));

    for (const part of ['rpnHead', 'boxHead'] as const) {
      const t = await values(teacher[part]);
      const s = await values(student[part]);
      expect([...s.keys()]).toEqual([...t.keys()]);
      for (const [name, v] of t) {
        expect(v.every(Number.isFinite)).toBe(true);
        expect(s.get(name), `${part}.${name}`).toEqual(v);
      }
      // Copies, not shared tensors: training the student must not move the frozen teacher.
      const sp = student[part].namedParameters().map(([, p]) => p.value);
      for (const [, p] of teacher[part].namedParameters()) expect(sp).not.toContain(p.value);
    }
    expect(Array.from(await student.backbone.namedParameters()[0]![1].value.data())).toEqual(studentBackbone);

    d.dispose();
    teacher.dispose();
    expect(memoryStats(backend)).toEqual(before);
  });

  it('headsLrScale sets the learning-rate multiplier of the copied heads only, and needs headsFromTeacher', () => {
    setBackend(backend);
    const before = memoryStats(backend);
    const teacher = new FasterRCNN(config([[8, 8], [16, 16]]), new Rng(1));
    const student = new FasterRCNN(config([[4], [16]]), new Rng(2));
    const d = new Distiller(student, teacher, defaultDistillConfig({ headsFromTeacher: true, headsLrScale: 0.2 }), new Rng(3));
    const heads = new Set([...student.rpnHead.parameters(), ...student.boxHead.parameters()]);
    expect(heads.size).toBeGreaterThan(0);
    for (const p of d.trainableParameters()) expect(p.lrScale).toBe(heads.has(p) ? 0.2 : 1);
    expect(d.adapter.parameters().length).toBeGreaterThan(0);
    d.dispose();
    for (const bad of [{ headsLrScale: 0.2 }, { headsFromTeacher: true, headsLrScale: -1 }, { headsFromTeacher: true, headsLrScale: Number.NaN }]) {
      const s = new FasterRCNN(config([[4], [16]]), new Rng(2));
      expect(() => new Distiller(s, teacher, defaultDistillConfig(bad), new Rng(3))).toThrow(/kdet\.Distiller: headsLrScale/);
      s.dispose();
    }
    teacher.dispose();
    expect(memoryStats(backend)).toEqual(before);
  });

  it('headsFromTeacher refuses heads of different sizes, naming the part, the parameter and both shapes', () => {
    setBackend(backend);
    const before = memoryStats(backend);
    const teacher = new FasterRCNN(config([[16]], 32), new Rng(1));
    const student = new FasterRCNN(config([[16]], 16), new Rng(2));
    expect(() => new Distiller(student, teacher, defaultDistillConfig({ headsFromTeacher: true }), new Rng(3))).toThrow(
      /headsFromTeacher needs equal heads, but the box head's '[\w.]+' is \[[\d,]+\] in the teacher and \[[\d,]+\] in the student/,
    );
    student.dispose();
    teacher.dispose();
    expect(memoryStats(backend)).toEqual(before);
  });
});
