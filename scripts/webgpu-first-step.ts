/**
 * Where the first WebGPU training step's time goes: the demo's student distillation step
 * (shipped teacher, Fashion-MNIST scenes from the embedded subset), run here in Node on Dawn
 * (npm package `webgpu`) over whatever Vulkan driver is set, SwiftShader on a machine without
 * a GPU:
 *
 *   XDG_RUNTIME_DIR=$(mktemp -d) VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json \
 *     node scripts/run.mjs scripts/webgpu-first-step.ts [--size 64] [--batch 1] [--steps 3] [--student]
 *       [--warm demo/pipelines.json [--warm-concurrency N]] [--record demo/pipelines.json] [--gpu-kernels] [--profile]
 *
 * The device's createShaderModule / createComputePipeline(Async) are wrapped to count and time
 * them. Prints: the backend's start, the warm-up (with --warm: the listed pipelines built in
 * parallel before the first step, as the demo does), each step's time split into pipeline
 * creation and the rest, the distinct shader modules and pipelines, and the slowest pipelines.
 * Losses print in full, so that two versions of a kernel can be checked for the same bits.
 * --student trains the student alone (no teacher), as the demo does on synthetic shapes.
 * --profile submits every dispatch on its own and charges the time between consecutive
 * completions to its kernel (the queue stays full on a software GPU, so that is its execution
 * time, roughly), and prints the kernels that take the last step's time.
 * --record adds the pipelines that the first step built to the list in that file (its
 * `cpuEmulated` or `gpu` part, after the kind of device; --gpu-kernels takes SwiftShader for a
 * GPU, to record the GPU kernels' list here): that is how demo/pipelines.json is made.
 */
import { createWebGPUBackend, type WebGPUBackend } from '../src/backends/webgpu/index.js';
import { acquireDevice } from '../src/backends/webgpu/device.js';
import { setBackend } from '../src/engine/state.js';
import { Rng } from '../src/engine/random.js';
import { fashionScenes } from '../src/data/fashion-scenes.js';
import { BACKBONE_PRESETS } from '../src/detection/backbone.js';
import { defaultConfig, type FasterRCNNConfig } from '../src/detection/config.js';
import { FasterRCNN } from '../src/detection/faster-rcnn.js';
import { Trainer, defaultTrainerConfig } from '../src/detection/trainer.js';
import { Distiller } from '../src/distillation/distiller.js';
import { defaultDistillConfig } from '../src/distillation/config.js';
import { loadCheckpoint, readCheckpointMetadata } from '../src/nn/checkpoint.js';
import { readFile, writeFile } from 'node:fs/promises';

const argv = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
};
const size = opt('size', 64);
const batch = opt('batch', 1);
const steps = opt('steps', 3);
const studentOnly = argv.includes('--student');
const str = (name: string): string | null => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1]! : null;
};
const warmFile = str('warm');
const recordFile = str('record');
const profile = argv.includes('--profile');

// ---- instrumented device ----
interface Timed { label: string; ms: number; at: number }
const modules: Timed[] = [];
const pipelines: Timed[] = [];
let asyncInFlight = 0;
let asyncSpanStart = 0;
let asyncSpanMs = 0;
const t00 = performance.now();

const { device, description, gpu } = await acquireDevice({});
const createShaderModule = device.createShaderModule.bind(device);
device.createShaderModule = (d: GPUShaderModuleDescriptor) => {
  const t = performance.now();
  const m = createShaderModule(d);
  modules.push({ label: `${d.label ?? '?'} (${d.code.length} chars)`, ms: performance.now() - t, at: t });
  return m;
};
const createComputePipeline = device.createComputePipeline.bind(device);
device.createComputePipeline = (d: GPUComputePipelineDescriptor) => {
  const t = performance.now();
  const p = createComputePipeline(d);
  pipelines.push({ label: `sync  ${d.label ?? d.compute.entryPoint}`, ms: performance.now() - t, at: t });
  return p;
};
const createComputePipelineAsync = device.createComputePipelineAsync.bind(device);
device.createComputePipelineAsync = async (d: GPUComputePipelineDescriptor) => {
  const t = performance.now();
  if (asyncInFlight++ === 0) asyncSpanStart = t;
  try {
    return await createComputePipelineAsync(d);
  } finally {
    const now = performance.now();
    pipelines.push({ label: `async ${d.label ?? d.compute.entryPoint}`, ms: now - t, at: t });
    if (--asyncInFlight === 0) asyncSpanMs += now - asyncSpanStart;
  }
};

// The backend over the wrapped device (it does not own it: destroyed at the end here).
const backend = (await createWebGPUBackend({ device, cpuEmulated: argv.includes('--gpu-kernels') ? false : undefined })) as WebGPUBackend;
setBackend(backend);
const tStart = performance.now();
console.log(`adapter: ${description}`);
console.log(`backend ready after ${(tStart - t00).toFixed(0)} ms`);

// --warm: as the demo's worker does, the listed pipelines build while the models load.
type PipelineList = { cpuEmulated?: string[]; gpu?: string[] };
const kind = backend.ctx.cpuEmulated ? 'cpuEmulated' : 'gpu';
let warm: { keys: string[]; c0: NodeJS.CpuUsage; done: Promise<{ built: number; failed: string[] }> } | null = null;
if (warmFile) {
  const keys = (JSON.parse(await readFile(warmFile, 'utf8')) as PipelineList)[kind] ?? [];
  const concurrency = str('warm-concurrency');
  warm = { keys, c0: process.cpuUsage(), done: backend.warmUp(keys, concurrency ? { async: true, concurrency: Number(concurrency) } : {}) };
}

// ---- the demo's models and data (demo/worker.ts) ----
const seed = 0;
const bytes = new Uint8Array(await readFile('models/teacher.safetensors'));
const meta = readCheckpointMetadata(bytes) as { model: FasterRCNNConfig };
let teacher: FasterRCNN | null = null;
if (!studentOnly) {
  teacher = new FasterRCNN(meta.model, new Rng(0));
  loadCheckpoint(bytes, teacher);
  teacher.eval();
}
const train = await fashionScenes({ split: 'train', length: 2000, seed, size, source: 'embedded' });
const config = defaultConfig(10, BACKBONE_PRESETS.student);
config.anchors = meta.model.anchors;
const student = new FasterRCNN(config, new Rng(seed + 1));
const distiller = teacher ? new Distiller(student, teacher, defaultDistillConfig(), new Rng(seed + 2)) : null;
const tc = defaultTrainerConfig({ steps, batchSize: batch, seed });
const trainer = new Trainer(distiller ?? student, train, tc, distiller
  ? (images, targets, rng, step) => distiller.losses(images, targets, rng, step)
  : async (images, targets, rng) => (await student.forwardTrain(images, targets, rng)).losses);
// --profile: one submit per dispatch; a dispatch's time is the gap since the previous completion.
const gpuTime = new Map<string, { ms: number; n: number }>();
let lastDone = performance.now();
let inFlight = 0;
if (profile) {
  const ctx = backend.ctx;
  const run = ctx.run.bind(ctx);
  ctx.run = (k, constants, params, buffers, groups) => {
    run(k, constants, params, buffers, groups);
    ctx.flush();
    const label = `${k.module}.${k.entry} ${JSON.stringify(constants)} [${groups.join(',')}]`;
    // An idle queue starts timing at this submit, not at the last completion.
    if (inFlight++ === 0) lastDone = performance.now();
    void device.queue.onSubmittedWorkDone().then(() => {
      const now = performance.now();
      const e = gpuTime.get(label) ?? { ms: 0, n: 0 };
      e.ms += now - lastDone;
      e.n++;
      gpuTime.set(label, e);
      lastDone = now;
      inFlight--;
    });
  };
}
const tModels = performance.now();
console.log(`models and data ready after ${(tModels - t00).toFixed(0)} ms (${teacher ? 'distillation' : 'student alone'}, ${size} px, batch ${batch})`);

const pipelineMsBetween = (a: number, b: number): number =>
  pipelines.filter((p) => p.at >= a && p.at < b && p.label.startsWith('sync')).reduce((s, p) => s + p.ms, 0);
const modulesMsBetween = (a: number, b: number): number => modules.filter((p) => p.at >= a && p.at < b).reduce((s, p) => s + p.ms, 0);
const countBetween = (a: number, b: number): number => pipelines.filter((p) => p.at >= a && p.at < b).length;

if (warm) {
  const { built, failed } = await warm.done;
  const w1 = performance.now();
  const c = process.cpuUsage(warm.c0);
  console.log(`warm-up (${warmFile}, ${kind}): ${built} of ${warm.keys.length} pipelines built, done ${(w1 - tStart).toFixed(0)} ms after the backend ` +
    `(${(w1 - tModels).toFixed(0)} ms after models and data); ${((c.user + c.system) / 1000).toFixed(0)} ms of process CPU since it began; ` +
    `sum of per-pipeline async times ${pipelines.filter((p) => p.label.startsWith('async')).reduce((s, p) => s + p.ms, 0).toFixed(0)} ms` +
    `${failed.length ? `; failed: ${failed.join(' ')}` : ''}`);
}
let tPrev = performance.now();
const stepRows: string[] = [];
await trainer.run({
  onStep: async (info) => {
    const now = performance.now();
    if (profile && info.step < steps) gpuTime.clear();
    const pm = pipelineMsBetween(tPrev, now);
    const mm = modulesMsBetween(tPrev, now);
    stepRows.push(
      `step ${info.step}: ${(now - tPrev).toFixed(0).padStart(7)} ms  (new pipelines ${String(countBetween(tPrev, now)).padStart(3)}, ` +
        `createComputePipeline ${pm.toFixed(0).padStart(6)} ms, createShaderModule ${mm.toFixed(0).padStart(4)} ms, rest ${(now - tPrev - pm - mm).toFixed(0).padStart(6)} ms)  loss ${info.loss.toFixed(4)}`,
    );
    console.log(stepRows[stepRows.length - 1]);
    console.log(`        loss ${info.loss} ${JSON.stringify(info.parts)}`);
    if (info.step === 1 && recordFile) await recordPipelines(recordFile);
    tPrev = performance.now();
  },
});

async function recordPipelines(file: string): Promise<void> {
  let list: PipelineList & Record<string, unknown> = {};
  try {
    list = JSON.parse(await readFile(file, 'utf8')) as typeof list;
  } catch {
    // A new file.
  }
  const before = list[kind] ?? [];
  list[kind] = [...new Set([...before, ...backend.pipelineKeys()])];
  await writeFile(file, `${JSON.stringify(list, null, 1)}\n`);
  console.log(`recorded ${list[kind]!.length - before.length} new ${kind} pipelines in ${file} (${list[kind]!.length} in all)`);
}

// ---- summary ----
if (profile) {
  const rows = [...gpuTime].sort((a, b) => b[1].ms - a[1].ms);
  const total = rows.reduce((s, [, e]) => s + e.ms, 0);
  console.log(`\nlast step, time by dispatch (${rows.reduce((s, [, e]) => s + e.n, 0)} dispatches, ${total.toFixed(0)} ms):`);
  for (const [label, e] of rows.slice(0, 25)) console.log(`  ${e.ms.toFixed(0).padStart(7)} ms  ×${String(e.n).padEnd(4)} ${label}`);
}
const stats = backend.ctx.stats();
const distinct = new Set(pipelines.map((p) => p.label.slice(6)));
const byModule = new Map<string, number>();
for (const label of distinct) {
  const mod = label.split('.')[0]!;
  byModule.set(mod, (byModule.get(mod) ?? 0) + 1);
}
console.log(`\nshader modules created: ${modules.length} (createShaderModule total ${modules.reduce((s, m) => s + m.ms, 0).toFixed(0)} ms)`);
for (const m of modules) console.log(`  ${m.label.padEnd(28)} ${m.ms.toFixed(1)} ms`);
console.log(`compute pipelines created: ${pipelines.length} (${distinct.size} distinct; context cache holds ${stats.pipelines}); ` +
  `sync createComputePipeline total ${pipelines.filter((p) => p.label.startsWith('sync')).reduce((s, p) => s + p.ms, 0).toFixed(0)} ms`);
console.log(`pipelines per module: ${[...byModule].map(([m, n]) => `${m} ${n}`).join(', ')}`);
const slow = [...pipelines].sort((a, b) => b.ms - a.ms).slice(0, 12);
console.log('slowest pipelines:');
for (const p of slow) console.log(`  ${p.ms.toFixed(0).padStart(6)} ms  ${p.label}`);
console.log(`GPU buffers created: ${stats.created}`);
backend.dispose();
device.destroy();
void gpu;
process.exit(0);
