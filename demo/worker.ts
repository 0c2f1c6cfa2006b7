/// <reference lib="webworker" />
// The demo's training, in a Web Worker so that the page stays responsive: picks the backend
// (WebGPU, else wasm, saying why), loads the shipped teacher from the served folder, and distils
// a student step by step, posting each step's losses, the mAP of every evaluation, and the
// student's and teacher's boxes on a few test images. Messages: see ./protocol.ts.
import { Rng } from '../src/engine/random.js';
import { setBackend } from '../src/engine/state.js';
import { tensor } from '../src/engine/ops/creation.js';
import type { Backend } from '../src/engine/backend.js';
import { createWasmBackend } from '../src/backends/wasm/index.js';
import { fashionScenes } from '../src/data/fashion-scenes.js';
import { SyntheticShapes } from '../src/data/shapes.js';
import type { Dataset, DetectionSample } from '../src/data/types.js';
import { BACKBONE_PRESETS } from '../src/detection/backbone.js';
import { defaultConfig, type FasterRCNNConfig } from '../src/detection/config.js';
import { FasterRCNN, type Detections } from '../src/detection/faster-rcnn.js';
import { evaluateDetector } from '../src/detection/evaluate.js';
import { Trainer, defaultTrainerConfig } from '../src/detection/trainer.js';
import { Distiller } from '../src/distillation/distiller.js';
import { defaultDistillConfig } from '../src/distillation/config.js';
import { loadCheckpoint, readCheckpointMetadata, saveCheckpoint } from '../src/nn/checkpoint.js';
import type { DemoSettings, FromWorker, ShownBoxes, ToWorker } from './protocol.js';
import pipelines from './pipelines.json';

const post = (m: FromWorker, transfer: Transferable[] = []): void => (self as unknown as Worker).postMessage(m, transfer);

/** Boxes scoring at least this are drawn. */
const SHOW_SCORE = 0.3;

let paused = false;
let resume: (() => void) | null = null;
let student: FasterRCNN | null = null;
let studentMeta: Record<string, unknown> = {};

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  if (m.type === 'start') void run(m.settings).catch((err: Error) => post({ type: 'error', message: err.message }));
  else if (m.type === 'pause') paused = true;
  else if (m.type === 'resume') {
    paused = false;
    resume?.();
    resume = null;
  } else if (m.type === 'download') void download();
};

async function download(): Promise<void> {
  if (!student) return post({ type: 'error', message: 'no student yet: start training first' });
  const bytes = await saveCheckpoint(student, studentMeta);
  post({ type: 'checkpoint', bytes }, [bytes.buffer]);
}

/**
 * WebGPU, with ?warm=1: have the GPU process build the pipelines that a training step needs
 * (demo/pipelines.json, recorded by scripts/webgpu-first-step.ts --record from this demo's
 * steps) while this worker loads the teacher and the data, instead of one by one during the
 * first step. Nothing waits for it: the GPU process compiles in order before it runs the step's
 * work. A pipeline missing from the list is built when first needed, as without the list.
 * Off by default: on SwiftShader with two busy cores the compiles slowed the loading as much as
 * they sped up the step (demo/README.md has the numbers).
 */
function warmUp(backend: Backend, t0: number): Promise<void> | null {
  const gpu = backend as Backend & { ctx?: { cpuEmulated: boolean }; warmUp?(keys: readonly string[]): Promise<{ built: number; failed: string[] }> };
  if (!gpu.warmUp || !gpu.ctx) return null;
  const keys = gpu.ctx.cpuEmulated ? pipelines.cpuEmulated : pipelines.gpu;
  return gpu.warmUp(keys).then(({ built, failed }) => post({ type: 'warm', built, listed: keys.length, failed, seconds: (performance.now() - t0) / 1000 }));
}

async function pickBackend(want: DemoSettings['backend']): Promise<{ backend: Backend; note: string }> {
  if (want !== 'wasm') {
    try {
      const { createWebGPUBackend, SoftwareAdapterError } = await import('../src/backends/webgpu/index.js');
      try {
        // A software adapter (SwiftShader, llvmpipe, WARP) runs the shaders on the CPU, several
        // times slower than the wasm kernels on the same cores: 'auto' takes wasm there, and
        // refuses it before a device is made (that costs the GPU process CPU time the page needs).
        const backend = await createWebGPUBackend({ rejectSoftwareAdapter: want === 'auto' });
        return { backend, note: `WebGPU (${(backend as { description?: string }).description ?? 'adapter'})` };
      } catch (e) {
        if (!(e instanceof SoftwareAdapterError)) throw e;
        return { backend: await createWasmBackend(), note: `wasm: the WebGPU adapter is a software one (${e.adapter}), slower than wasm on these cores; choose WebGPU to use it anyway` };
      }
    } catch (e) {
      if (want === 'webgpu') throw e;
      return { backend: await createWasmBackend(), note: `wasm: WebGPU is absent here (${(e as Error).message.split('. ')[0]})` };
    }
  }
  return { backend: await createWasmBackend(), note: 'wasm (asked for)' };
}

function detectionsOf(d: Detections, threshold: number): ShownBoxes {
  const keep = Array.from(d.scores.keys()).filter((i) => d.scores[i]! >= threshold);
  return {
    boxes: keep.flatMap((i) => Array.from(d.boxes.subarray(i * 4, i * 4 + 4))),
    labels: keep.map((i) => d.labels[i]!),
    scores: keep.map((i) => d.scores[i]!),
  };
}

async function detectOn(model: FasterRCNN, samples: DetectionSample[], threshold: number): Promise<ShownBoxes[]> {
  const { height: h, width: w } = samples[0]!;
  const data = new Float32Array(samples.length * 3 * h * w);
  samples.forEach((s, i) => data.set(s.image, i * 3 * h * w));
  const images = tensor(data, [samples.length, 3, h, w]);
  const wasTraining = model.training;
  model.eval();
  const dets = await model.detect(images);
  model.train(wasTraining);
  images.dispose();
  return dets.map((d) => detectionsOf(d, threshold));
}

async function run(s: DemoSettings): Promise<void> {
  const t0 = performance.now();
  const { backend, note } = await pickBackend(s.backend);
  setBackend(backend);
  const threads = (backend as { threads?: number }).threads ?? 1;
  post({ type: 'backend', name: backend.name, note: backend.name === 'wasm' ? `${note}, ${threads} thread${threads > 1 ? 's' : ''}` : note, threads, crossOriginIsolated: self.crossOriginIsolated === true });
  if (s.warmUp) void warmUp(backend, t0);

  // Data and models. The shipped teacher learnt Fashion-MNIST scenes; on shapes (other classes)
  // the student trains alone and the page says so.
  let train: Dataset;
  let test: Dataset;
  let teacher: FasterRCNN | null = null;
  let config: FasterRCNNConfig;
  if (s.data === 'fashion') {
    const bytes = new Uint8Array(await (await fetch(s.teacherUrl)).arrayBuffer());
    const meta = readCheckpointMetadata(bytes, s.teacherUrl) as { model: FasterRCNNConfig; data: { seed: number } };
    teacher = new FasterRCNN(meta.model, new Rng(0));
    loadCheckpoint(bytes, teacher, undefined, s.teacherUrl);
    teacher.eval();
    train = await fashionScenes({ split: 'train', length: 2000, seed: s.seed, size: s.size, source: 'embedded' });
    test = await fashionScenes({ split: 'test', length: s.testImages, seed: s.seed, size: s.size, source: 'embedded' });
    config = defaultConfig(10, BACKBONE_PRESETS.student);
    config.anchors = meta.model.anchors;
  } else {
    const shapes = (split: 'train' | 'test', length: number) =>
      new SyntheticShapes({ split, length, seed: s.seed, height: s.size, width: s.size, minSize: Math.round(s.size / 8), maxSize: Math.round(s.size / 2) });
    train = shapes('train', 2000);
    test = shapes('test', s.testImages);
    config = defaultConfig(train.classNames.length, BACKBONE_PRESETS.student);
  }
  const classNames = [...train.classNames];
  student = new FasterRCNN(config, new Rng(s.seed + 1));
  studentMeta = { kind: 'detector', preset: 'student', model: config, data: { name: s.data, size: s.size, trainLength: 2000, testLength: s.testImages, seed: s.seed }, classNames, source: 'kdet demo' };
  const distiller = teacher ? new Distiller(student, teacher, defaultDistillConfig(), new Rng(s.seed + 2)) : null;
  const tc = defaultTrainerConfig({ steps: s.steps, batchSize: s.batch, seed: s.seed, evalEvery: s.evalEvery });
  tc.schedule = { ...tc.schedule, lr: s.lr, warmupSteps: Math.min(tc.schedule.warmupSteps, 20) };
  const st = student;
  const trainer = new Trainer(distiller ?? student, train, tc, distiller
    ? (images, targets, rng, step) => distiller.losses(images, targets, rng, step)
    : async (images, targets, rng) => (await st.forwardTrain(images, targets, rng)).losses);

  const shown = Array.from({ length: Math.min(s.shownImages, test.length) }, (_, i) => test.get(i));
  post({
    type: 'ready',
    classNames,
    teacher: teacher !== null,
    images: shown.map((x) => ({ width: x.width, height: x.height, pixels: x.image, truth: { boxes: Array.from(x.boxes), labels: Array.from(x.labels), scores: [] } })),
    seconds: (performance.now() - t0) / 1000,
  });

  // The teacher's boxes are computed at the first evaluation, not before the first step, so
  // that training starts as soon as the models are loaded.
  let teacherBoxes: ShownBoxes[] | null = null;
  const evaluate = async (step: number): Promise<void> => {
    if (teacher && !teacherBoxes) teacherBoxes = await detectOn(teacher, shown, SHOW_SCORE);
    const m = await evaluateDetector(st, test, { batchSize: Math.min(8, s.testImages) });
    post({ type: 'eval', step, map50: m.map50, perClassAP: m.perClassAP, studentBoxes: await detectOn(st, shown, SHOW_SCORE), teacherBoxes });
  };
  await trainer.run({
    onStep: async (info) => {
      post({ type: 'step', step: info.step, loss: info.loss, parts: info.parts, seconds: info.seconds, sinceStart: (performance.now() - t0) / 1000 });
      // A step on wasm only awaits already-settled promises: yield to the event loop once per
      // step so that pause and download messages are seen between steps.
      await new Promise((r) => setTimeout(r, 0));
      if (paused) {
        post({ type: 'paused', step: info.step });
        await new Promise<void>((r) => (resume = r));
      }
    },
    onEval: async (step) => void (await evaluate(step)),
  });
  post({ type: 'done', step: trainer.step });
}
