/// <reference lib="webworker" />
// The demo's training, in a Web Worker so that the page stays responsive: picks the backend
// (WebGPU, else wasm, saying why), loads the shipped teacher from the served folder, and distils
// a student step by step, posting each step's losses, the mAP of every evaluation, and the
// student's and teacher's boxes on a few test images. Messages: see ./protocol.ts.
// Family mode (settings.mode 'family'): the teacher is a torchvision-family checkpoint the user
// gave (bytes or a URL), the student torchvision's fasterrcnn_mobilenet_v3_large_320_fpn at the
// scene size, distilled by TvDistiller on the built-in scenes the teacher's metadata records.
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
import type { Module } from '../src/nn/module.js';
import { FASHION_CLASSES } from '../src/data/fashion.js';
import { SHAPE_CLASSES } from '../src/data/shapes.js';
import { buildTvModel, ImportedDetector, loadTvCheckpoint, tvSettings, type TvCheckpointMeta } from '../src/detection/tv-checkpoint.js';
import { maxTrainableLayers } from '../src/detection/tv-faster-rcnn.js';
import type { TvPresetName } from '../src/detection/tv-presets.js';
import { TvDistiller } from '../src/distillation/tv-distiller.js';
import { recipe, recipeConfig } from '../src/distillation/recipes.js';
import type { DemoSettings, FamilyInfo, FromWorker, ShownBoxes, ToWorker } from './protocol.js';
import pipelines from './pipelines.json';

const post = (m: FromWorker, transfer: Transferable[] = []): void => (self as unknown as Worker).postMessage(m, transfer);

/** Boxes scoring at least this are drawn. */
const SHOW_SCORE = 0.3;

let paused = false;
let resume: (() => void) | null = null;
/** The model the Download button saves (kdet's student, or the family student), and its metadata. */
let student: Module | null = null;
let studentMeta: Record<string, unknown> = {};

/** The family mode's student: torchvision's MobileNetV3-Large-320-FPN builder. */
const FAMILY_STUDENT: TvPresetName = 'fasterrcnn_mobilenet_v3_large_320_fpn';

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
  if (s.mode === 'family') return runFamily(s, t0);
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
  const st = new FasterRCNN(config, new Rng(s.seed + 1));
  student = st;
  studentMeta = { kind: 'detector', preset: 'student', model: config, data: { name: s.data, size: s.size, trainLength: 2000, testLength: s.testImages, seed: s.seed }, classNames, source: 'kdet demo' };
  const distiller = teacher ? new Distiller(st, teacher, defaultDistillConfig(), new Rng(s.seed + 2)) : null;
  const tc = trainerConfig(s);
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
  await train_(trainer, evaluate, t0);
}

function trainerConfig(s: DemoSettings) {
  const tc = defaultTrainerConfig({ steps: s.steps, batchSize: s.batch, seed: s.seed, evalEvery: s.evalEvery });
  tc.schedule = { ...tc.schedule, lr: s.lr, warmupSteps: Math.min(tc.schedule.warmupSteps, 20) };
  return tc;
}

/** Runs the trainer, posting every step, evaluating when it says, pausing when asked. */
async function train_(trainer: Trainer, evaluate: (step: number) => Promise<void>, t0: number): Promise<void> {
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

// ---- Family mode ----------------------------------------------------------------------------

async function familyTeacherBytes(t: NonNullable<DemoSettings['familyTeacher']>): Promise<Uint8Array> {
  if ('bytes' in t) return t.bytes;
  const r = await fetch(t.url);
  if (!r.ok) throw new Error(`teacher ${t.url}: HTTP ${r.status} ${r.statusText}`);
  return new Uint8Array(await r.arrayBuffer());
}

/**
 * The built-in scenes a family teacher learnt: its metadata's `data` (a `kdet train --preset
 * <builder>` run records it), or, for an imported model that records none, the scenes whose
 * classes are its classes. Anything else (a VOC or COCO model) cannot be distilled here: the page
 * has only the built-in scenes.
 */
function familyData(meta: TvCheckpointMeta & Record<string, unknown>): { name: 'fashion' | 'shapes'; seed: number; trainLength: number; size: number | null } {
  const d = meta.data as { name?: unknown; seed?: unknown; trainLength?: unknown; size?: unknown } | undefined;
  const int = (v: unknown, or: number) => (Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : or);
  if (d && (d.name === 'fashion' || d.name === 'shapes')) return { name: d.name, seed: int(d.seed, 0), trainLength: Math.max(1, int(d.trainLength, 2000)), size: int(d.size, 0) || null };
  const same = (names: readonly string[]) => names.length === meta.classNames.length && names.every((n, i) => n === meta.classNames[i]);
  if (!d && same(FASHION_CLASSES)) return { name: 'fashion', seed: 0, trainLength: 2000, size: null };
  if (!d && same(SHAPE_CLASSES)) return { name: 'shapes', seed: 0, trainLength: 2000, size: null };
  const classes = `${meta.classNames.length} classes (${meta.classNames.slice(0, 4).join(', ')}${meta.classNames.length > 4 ? ', …' : ''})`;
  throw new Error(
    `this ${meta.preset} teacher learnt ${d ? `${String(d.name).toUpperCase()} data` : `${classes}, not the built-in scenes'`}; the demo distils on the built-in Fashion-MNIST or shapes scenes only. ` +
      `Fine-tune it on them first: kdet train --preset ${meta.preset} --from <its file> --data fashion --size 128 --min-size 128 --max-size 128 --out <dir>`,
  );
}

async function runFamily(s: DemoSettings, t0: number): Promise<void> {
  if (!s.familyTeacher) throw new Error('family mode: choose a teacher checkpoint first (file, drop, or ?teacher=<url>)');
  const name = s.familyTeacher.name;
  let t = performance.now();
  const lap = (): number => {
    const now = performance.now();
    const dt = (now - t) / 1000;
    t = now;
    return dt;
  };
  // The teacher sees the student's batches (resized to the scene size by the student's
  // transform); built at that size, its boxes drawn on the test scenes are what it teaches.
  const { model: teacher, meta } = loadTvCheckpoint(await familyTeacherBytes(s.familyTeacher), { source: name, what: 'teacher', minSize: s.size, maxSize: s.size });
  const teacherSeconds = lap();
  const data = familyData(meta);
  const scenes = async (split: 'train' | 'test', length: number): Promise<Dataset> =>
    data.name === 'fashion'
      ? fashionScenes({ split, length, seed: data.seed, size: s.size, source: 'embedded' })
      : new SyntheticShapes({ split, length, seed: data.seed, height: s.size, width: s.size, minSize: Math.round(s.size / 8), maxSize: Math.round(s.size / 2) });
  const train = await scenes('train', data.trainLength);
  const test = await scenes('test', s.testImages);
  const classNames = [...train.classNames];
  if (classNames.join('\n') !== meta.classNames.join('\n')) throw new Error(`the teacher's classes (${meta.classNames.join(', ')}) are not the ${data.name} scenes' (${classNames.join(', ')})`);
  const dataSeconds = lap();

  // The student: what `kdet distill --student fasterrcnn_mobilenet_v3_large_320_fpn --min-size S
  // --max-size S --box-batch-size-per-image B` builds (BatchNorm2d, every layer trainable, the
  // teacher's normalisation, since both see one batch).
  const settings = tvSettings(FAMILY_STUDENT, classNames.length, {
    minSize: s.size,
    maxSize: s.size,
    boxBatchSizePerImage: s.boxBatch,
    imageMean: meta.torchvision.transform.imageMean,
    imageStd: meta.torchvision.transform.imageStd,
  });
  const tv = buildTvModel(FAMILY_STUDENT, settings, { trainableLayers: maxTrainableLayers(FAMILY_STUDENT), seed: s.seed + 1 });
  const config = recipeConfig(s.recipe);
  const distiller = new TvDistiller(tv, teacher, config, new Rng(s.seed + 2));
  const st = new ImportedDetector(tv);
  const teacherDet = new ImportedDetector(teacher);
  student = tv;
  const dataSpec = { name: data.name, size: s.size, trainLength: data.trainLength, testLength: s.testImages, seed: data.seed };
  studentMeta = { kind: 'detector', preset: FAMILY_STUDENT, classNames, data: dataSpec, torchvision: settings, distill: config, teacher: name, source: 'kdet demo' };
  const trainer = new Trainer(distiller, train, trainerConfig(s), (images, targets, rng, step) => distiller.losses(images, targets, rng, step));
  const studentSeconds = lap();

  const count = (m: Module, trainable: boolean) => (trainable ? m.trainableParameters() : m.parameters()).reduce((k, p) => k + p.value.size, 0);
  const metrics = (meta.metrics ?? null) as { map50?: number } | null;
  const family: FamilyInfo = {
    teacher: { name, preset: meta.preset, parameters: count(teacher, false), classes: classNames.length, trainedOn: `${data.name} scenes${data.size ? ` ${data.size} px` : ''}`, metrics },
    student: { preset: FAMILY_STUDENT, parameters: count(tv, false), trainable: count(tv, true) },
    recipe: s.recipe,
    recipeDescription: recipe(s.recipe).description,
    data: data.name,
    size: s.size,
    boxBatch: settings.box.batchSizePerImage,
    seconds: { teacher: teacherSeconds, data: dataSeconds, student: studentSeconds },
  };
  const shown = Array.from({ length: Math.min(s.shownImages, test.length) }, (_, i) => test.get(i));
  post({
    type: 'ready',
    classNames,
    teacher: true,
    images: shown.map((x) => ({ width: x.width, height: x.height, pixels: x.image, truth: { boxes: Array.from(x.boxes), labels: Array.from(x.labels), scores: [] } })),
    seconds: (performance.now() - t0) / 1000,
    family,
  });

  const detect = async (d: ImportedDetector): Promise<ShownBoxes[]> => {
    const was = d.training;
    d.eval();
    const dets = await d.detectImages(shown.map((x) => ({ image: x.image, height: x.height, width: x.width })));
    d.train(was);
    return dets.map((x) => detectionsOf(x, SHOW_SCORE));
  };
  let teacherBoxes: ShownBoxes[] | null = null;
  const evaluate = async (step: number): Promise<void> => {
    teacherBoxes ??= await detect(teacherDet);
    const m = await evaluateDetector(st, test, { batchSize: Math.min(8, s.testImages) });
    post({ type: 'eval', step, map50: m.map50, perClassAP: m.perClassAP, studentBoxes: await detect(st), teacherBoxes });
  };
  await train_(trainer, evaluate, t0);
}
