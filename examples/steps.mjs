// A few distillation steps through the package's public entry points only ('kdet', 'kdet/wasm',
// 'kdet/webgpu', ...), in plain JavaScript so that Node, Deno and a browser all import this very
// file unchanged:
//   Node:    node examples/node-steps.mjs [wasm|webgpu] [steps]     ('kdet' resolves to this package)
//   Deno:    deno run --import-map examples/import_map.json -A examples/deno-steps.mjs
//   browser: <script type="importmap"> mapping 'kdet' to the served dist/ (test/runtime/cross-runtime)
// The losses of the same seed and backend agree across the three runtimes (test/runtime).
import { Rng, setBackend } from 'kdet';
import { FasterRCNN, BACKBONE_PRESETS, defaultConfig, Trainer, defaultTrainerConfig } from 'kdet/detection';
import { Distiller, defaultDistillConfig } from 'kdet/distillation';
import { fashionScenes } from 'kdet/data';
import { loadCheckpoint, readCheckpointMetadata } from 'kdet/nn';

/**
 * Install a backend by name. 'webgpu' rejects with a clear message when the runtime has none
 * (no navigator.gpu, no adapter, or in Node no optional `webgpu` package).
 */
export async function useBackend(name) {
  if (name === 'wasm') {
    const { createWasmBackend } = await import('kdet/wasm');
    const b = await createWasmBackend();
    setBackend(b);
    return b;
  }
  if (name === 'webgpu') {
    const { createWebGPUBackend } = await import('kdet/webgpu');
    const b = await createWebGPUBackend();
    setBackend(b);
    return b;
  }
  throw new Error(`unknown backend '${name}' (wasm or webgpu)`);
}

/**
 * Distil the `student` preset from the shipped teacher (its safetensors bytes) for `steps`
 * steps of batch `batch` on Fashion-MNIST scenes (`size` pixels square; 0: the teacher's own 128),
 * and return every step's loss and parts. Deterministic for a given seed and backend. Software
 * GPUs are slow: small scenes (size 32) keep a WebGPU step to seconds there.
 */
export async function distilSteps(teacherBytes, { steps = 3, batch = 1, seed = 0, size = 0, onStep } = {}) {
  const meta = readCheckpointMetadata(teacherBytes);
  const teacher = new FasterRCNN(meta.model, new Rng(0));
  loadCheckpoint(teacherBytes, teacher);
  const train = await fashionScenes({ split: 'train', length: 64, seed: meta.data.seed, size: size || meta.data.size, source: 'embedded' });
  const cfg = defaultConfig(meta.classNames.length, BACKBONE_PRESETS.student);
  cfg.anchors = meta.model.anchors;
  const student = new FasterRCNN(cfg, new Rng(seed + 1));
  const distiller = new Distiller(student, teacher, defaultDistillConfig(), new Rng(seed + 2));
  const tc = defaultTrainerConfig({ steps, batchSize: batch, seed });
  tc.schedule = { ...tc.schedule, lr: 0.01, warmupSteps: 0 };
  const trainer = new Trainer(distiller, train, tc, (images, targets, rng, step) => distiller.losses(images, targets, rng, step));
  const losses = [];
  await trainer.run({
    onStep: (s) => {
      losses.push({ step: s.step, loss: s.loss, parts: s.parts, seconds: s.seconds });
      onStep?.(s);
    },
  });
  trainer.dispose();
  distiller.dispose();
  teacher.dispose();
  return losses;
}
