/**
 * The WebGPU backend's counters (src/backends/webgpu/counters.ts): exact on a hand-built
 * sequence, and the structural counts of a tiny Faster R-CNN training step: after warm-up no
 * buffer is created (the pool serves everything, whatever the data makes of the sizes), and the
 * GPU→CPU waits are those of the step's read-back sites, computed from the batch, not measured.
 * No timings.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FasterRCNN } from '../../src/detection/faster-rcnn.js';
import { BACKBONE_PRESETS } from '../../src/detection/backbone.js';
import { defaultTrainerConfig, Trainer } from '../../src/detection/trainer.js';
import { Rng } from '../../src/engine/random.js';
import { setBackend } from '../../src/engine/state.js';
import { countsSince, type GpuCounts } from '../../src/backends/webgpu/index.js';
import { config, data } from '../helpers/distil-fixture.js';
import { openBackend, randf, rng, title } from './helpers.js';

const o = await openBackend();

/** waitsBy with each traced site cut to `op ← function` (no file:line), summed. */
function bySite(c: GpuCounts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [label, n] of Object.entries(c.waitsBy)) {
    const key = label.replace(/ \(.*\)$/, '');
    out[key] = (out[key] ?? 0) + n;
  }
  return out;
}

describe.skipIf(!o.backend)(title('webgpu step counts', o), () => {
  const b = o.backend!;
  afterAll(() => b.dispose());
  const r = rng(21);

  it('counts exactly what a hand-built sequence does', async () => {
    const n = 3000; // 12 000 bytes: above the pool's small class, and a class this backend has not used yet
    const bytes = n * 4;
    b.resetCounters();
    const x = b.upload(randf(r, n));
    const y = b.unary('exp', x, n);
    expect(b.counters()).toEqual({
      dispatches: 1, submits: 0, storageBuffersCreated: 2, stagingBuffersCreated: 0,
      bytesUploaded: bytes, uniformBytesUploaded: 0, bytesReadBack: 0, waits: 0, waitsBy: {},
    });
    await b.read(y, 'float32', n);
    // The read submits the dispatch (its uniforms: one 256-byte slot) and the copy, then waits once.
    expect(b.counters()).toEqual({
      dispatches: 1, submits: 1, storageBuffersCreated: 2, stagingBuffersCreated: 1,
      bytesUploaded: bytes, uniformBytesUploaded: 256, bytesReadBack: bytes, waits: 1, waitsBy: { read: 1 },
    });
    b.free(x);
    b.free(y);
    // Both buffers and the staging buffer come back from the pool; the sync has nothing to submit.
    const z = b.upload(randf(r, n));
    await b.read(z, 'float32', n);
    b.free(z);
    await b.sync();
    expect(b.counters()).toEqual({
      dispatches: 1, submits: 2, storageBuffersCreated: 2, stagingBuffersCreated: 1,
      bytesUploaded: 2 * bytes, uniformBytesUploaded: 256, bytesReadBack: 2 * bytes, waits: 3, waitsBy: { read: 2, sync: 1 },
    });
    expect(Object.isFrozen(b.counters())).toBe(true);
  });

  it('measure() counts what ran inside it; NMS waits are labelled; a traced wait names its first caller outside the engine and the backend', async () => {
    const boxes = b.upload(new Float32Array([0, 0, 10, 10, 1, 1, 11, 11, 20, 20, 30, 30]));
    const scores = b.upload(new Float32Array([0.9, 0.8, 0.7]));
    const { result, counts } = await b.measure(() => b.nms(boxes, scores, 3, 0.5));
    expect(Array.from(result)).toEqual([0, 2]);
    // Rank, mask and select, then one read of the count and the indices (n + 1 int32).
    expect(counts).toMatchObject({ dispatches: 3, submits: 1, bytesUploaded: 0, bytesReadBack: 16, waits: 1, waitsBy: { nms: 1 } });
    b.resetCounters({ traceWaits: true });
    async function readHere(): Promise<void> {
      await b.read(scores, 'float32', 3);
    }
    await readHere();
    const traced = b.counters();
    b.resetCounters({ traceWaits: false });
    b.free(boxes);
    b.free(scores);
    expect(Object.keys(traced.waitsBy)).toEqual([`read ← readHere (test/webgpu/step-counts.test.ts:${lineOf('await b.read(scores')})`]);
  });

  it('a tiny detector step, after 2 warm-up steps: no buffer created, and the waits of its read-back sites', async () => {
    setBackend(b);
    const WARMUP = 2;
    const STEPS = 8;
    const batch = 2;
    const model = new FasterRCNN(config(BACKBONE_PRESETS.tiny!.stages.map((st) => [...st])), new Rng(1));
    const trainer = new Trainer(model, data, defaultTrainerConfig({ steps: STEPS, batchSize: batch, seed: 4 }), async (im, t, g) => (await model.forwardTrain(im, t, g)).losses);
    b.resetCounters({ traceWaits: true });
    const steps: { counts: GpuCounts; parts: number; images: number }[] = [];
    let before = b.counters();
    try {
      await trainer.run({
        onStep: (s) => {
          const now = b.counters();
          steps.push({ counts: countsSince(now, before), parts: Object.keys(s.parts).length, images: s.images });
          before = now;
        },
      });
    } finally {
      b.resetCounters({ traceWaits: false });
      trainer.dispose();
      model.dispose();
    }
    expect(steps).toHaveLength(STEPS);
    for (const [i, s] of steps.entries()) {
      if (i < WARMUP) continue;
      const what = `step ${i + 1}`;
      expect(s.counts.storageBuffersCreated, `${what}: storage buffers created`).toBe(0);
      expect(s.counts.stagingBuffersCreated, `${what}: staging buffers created`).toBe(0);
      // The read-back sites of a step today (the next step is to move them to the GPU):
      // proposals() reads the RPN's logits and deltas (one read), then per image runs NMS (one read, whose
      // kept indices it uses as they come); the trainer reads the loss, its parts and the
      // gradient norm packed into one tensor: one wait.
      expect(bySite(s.counts), `${what}: waits by site`).toEqual({
        'read ← readBoth': 1,
        'nms ← proposals': s.images,
        'read ← Trainer.run': 1,
      });
      expect(s.counts.waits, `${what}: waits`).toBe(1 + s.images + 1);
    }
  });
});

/** The line of this file where `text` first occurs (1-based), as a stack trace names it. */
function lineOf(text: string): number {
  return readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').findIndex((l) => l.includes(text)) + 1;
}
