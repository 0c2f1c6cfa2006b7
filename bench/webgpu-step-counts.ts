/**
 * What one WebGPU training step costs, counted (not timed): dispatches, submits, buffers
 * created, bytes uploaded and read back, and the GPU→CPU waits with the code that caused each,
 * for the student, the teacher and the distillation step (the default recipe, soft-heads, with
 * the shipped teacher), on Fashion-MNIST scenes.
 *
 *   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp \
 *     node scripts/run.mjs bench/webgpu-step-counts.ts [--size 64] [--batch 2] [--warmup 2] [--steps 2]
 *
 * Each step kind gets a fresh backend, so that its warm-up (pipelines, pool) is its own; the
 * counters are read between steps (Trainer's onStep), so a step's counts include building its
 * batch. The counts do not depend on the machine; the scene size changes the bytes but not the
 * dispatches or the waits. Writes bench/WEBGPU-STEP-COUNTS.md.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { countsSince, createWebGPUBackend, type GpuCounts, type WebGPUBackend } from '../src/backends/webgpu/index.js';
import { fashionScenes } from '../src/data/fashion-scenes.js';
import { BACKBONE_PRESETS } from '../src/detection/backbone.js';
import { defaultConfig, type FasterRCNNConfig } from '../src/detection/config.js';
import { FasterRCNN } from '../src/detection/faster-rcnn.js';
import { defaultTrainerConfig, Trainer } from '../src/detection/trainer.js';
import { Distiller } from '../src/distillation/distiller.js';
import { DEFAULT_RECIPE, recipeConfig } from '../src/distillation/recipes.js';
import { Rng } from '../src/engine/random.js';
import { setBackend } from '../src/engine/state.js';
import { loadCheckpoint, readCheckpointMetadata } from '../src/nn/checkpoint.js';

const argv = process.argv.slice(2);

// Wait sites are read from stack traces: without source maps they would name the bundle.
if (!process.execArgv.includes('--enable-source-maps')) {
  const env: NodeJS.ProcessEnv = { XDG_RUNTIME_DIR: '/tmp', ...process.env };
  const icd = '/usr/lib/chromium/vk_swiftshader_icd.json';
  if (!env.VK_ICD_FILENAMES && existsSync(icd)) env.VK_ICD_FILENAMES = icd;
  execFileSync(process.execPath, ['--enable-source-maps', 'scripts/run.mjs', 'bench/webgpu-step-counts.ts', ...argv], { stdio: 'inherit', env });
  process.exit(0);
}

const opt = (name: string, dflt: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const size = opt('size', 64);
const batch = opt('batch', 2);
const warmup = opt('warmup', 2);
const measured = opt('steps', 2);

const teacherBytes = new Uint8Array(await readFile('models/teacher.safetensors'));
const teacherMeta = readCheckpointMetadata(teacherBytes) as { model: FasterRCNNConfig };
const data = await fashionScenes({ split: 'train', length: 64, seed: 0, size, source: 'embedded' });

function studentConfig(): FasterRCNNConfig {
  const c = defaultConfig(teacherMeta.model.numClasses, BACKBONE_PRESETS.student!);
  c.anchors = teacherMeta.model.anchors;
  return c;
}

interface Kind {
  name: string;
  /** The module the trainer trains and its loss; `dispose` frees what was built. */
  build(): { model: FasterRCNN | Distiller; loss: ConstructorParameters<typeof Trainer>[3]; dispose(): void };
}

const kinds: Kind[] = [
  {
    name: 'student',
    build() {
      const m = new FasterRCNN(studentConfig(), new Rng(1));
      return { model: m, loss: async (im, t, rng) => (await m.forwardTrain(im, t, rng)).losses, dispose: () => m.dispose() };
    },
  },
  {
    name: 'teacher',
    build() {
      const m = new FasterRCNN(teacherMeta.model, new Rng(1));
      return { model: m, loss: async (im, t, rng) => (await m.forwardTrain(im, t, rng)).losses, dispose: () => m.dispose() };
    },
  },
  {
    name: `distillation (${DEFAULT_RECIPE})`,
    build() {
      const teacher = new FasterRCNN(teacherMeta.model, new Rng(0));
      loadCheckpoint(teacherBytes, teacher);
      const d = new Distiller(new FasterRCNN(studentConfig(), new Rng(1)), teacher, recipeConfig(DEFAULT_RECIPE), new Rng(2));
      return {
        model: d,
        loss: (im, t, rng, step) => d.losses(im, t, rng, step),
        dispose: () => {
          d.dispose();
          teacher.dispose();
        },
      };
    },
  },
];

interface Row {
  kind: string;
  step: number;
  seconds: number;
  c: GpuCounts;
}

const rows: Row[] = [];
let adapter = '';
const load = loadavg()[0]!;
const t0 = performance.now();
for (const kind of kinds) {
  const backend = (await createWebGPUBackend()) as WebGPUBackend;
  setBackend(backend);
  adapter ||= describeAdapter(backend);
  const built = kind.build();
  const trainer = new Trainer(built.model, data, defaultTrainerConfig({ steps: warmup + measured, batchSize: batch, seed: 0 }), built.loss);
  backend.resetCounters({ traceWaits: true });
  let before = backend.counters();
  let t = performance.now();
  await trainer.run({
    onStep: (s) => {
      const now = backend.counters();
      rows.push({ kind: kind.name, step: s.step, seconds: (performance.now() - t) / 1000, c: countsSince(now, before) });
      console.log(`${kind.name} step ${s.step}${s.step <= warmup ? ' (warm-up)' : ''}: ${JSON.stringify(countsSince(now, before))}`);
      before = backend.counters();
      t = performance.now();
    },
  });
  trainer.dispose();
  built.dispose();
  backend.dispose();
}

function describeAdapter(b: WebGPUBackend): string {
  const info = (b.ctx.device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const fields = info ? [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ') : '';
  return `${b.description}${fields ? ` (adapterInfo: ${fields})` : ''}${b.ctx.cpuEmulated ? ', CPU-emulated: the CPU-friendly kernels' : ''}`;
}

// ---- the report ----
const kib = (n: number): string => (n / 1024).toFixed(1);
const after = rows.filter((r) => r.step > warmup);
const table = [
  '| step | dispatches | submits | storage buffers created | staging buffers created | KiB up (tensors) | KiB up (uniforms) | KiB read back | GPU→CPU waits |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) =>
    `| ${r.kind} ${r.step}${r.step <= warmup ? ' (warm-up)' : ''} | ${r.c.dispatches} | ${r.c.submits} | ${r.c.storageBuffersCreated} | ${r.c.stagingBuffersCreated} | ${kib(r.c.bytesUploaded)} | ${kib(r.c.uniformBytesUploaded)} | ${kib(r.c.bytesReadBack)} | ${r.c.waits} |`),
];
// Who waits: per measured step of each kind; kinds whose lists are the same are shown once.
const lists = new Map<string, string[]>();
for (const kind of kinds) {
  const mine = after.filter((r) => r.kind === kind.name);
  const sites = [...new Set(mine.flatMap((r) => Object.keys(r.c.waitsBy)))];
  const list = sites.map((site) => `- ${mine.map((r) => r.c.waitsBy[site] ?? 0).join(' / ')} × \`${site}\``);
  const key = list.join('\n');
  lists.set(key, [...(lists.get(key) ?? []), `${kind.name} (steps ${mine.map((r) => r.step).join(', ')})`]);
}
const who = [...lists].flatMap(([list, names]) => [`**${names.join('; ')}**, per step:`, '', list, '']);

const sh = (cmd: string, args: string[]): string => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
  } catch {
    return 'unavailable';
  }
};
const lscpu = sh('lscpu', []).split('\n').filter((l) => /^(Architecture|CPU\(s\)|Model name|Thread|Core|Socket|Hypervisor|L1d|L2|L3)/.test(l)).map((l) => l.replace(/\s+/g, ' '));
const dawn = (JSON.parse(readFileSync('node_modules/webgpu/package.json', 'utf8')) as { version: string }).version;
const kdet = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
const lines = [
  '# What a WebGPU training step costs, counted',
  '',
  `Batch ${batch}, ${size}² Fashion-MNIST scenes, ${warmup} warm-up steps then ${measured} measured, a fresh backend per step kind.`,
  `Command: \`node scripts/run.mjs bench/webgpu-step-counts.ts --size ${size} --batch ${batch} --warmup ${warmup} --steps ${measured}\`.`,
  'Counted by the backend (`backend.counters()`, src/backends/webgpu/counters.ts) between steps; a step includes building its batch,',
  'and step 1 also submits what building the models recorded (the distiller loads the teacher\'s checkpoint).',
  'Counts, not times: they follow the model, the batch and the scene size, not the machine.',
  '',
  ...table,
  '',
  '## Who waits',
  '',
  'Each GPU→CPU wait (an awaited mapAsync of a read-back, or onSubmittedWorkDone), by the backend method that waited and the first caller outside the engine and the backend:',
  '',
  ...who,
  '## Where',
  '',
  `Adapter: ${adapter}.`,
  `kdet ${kdet} (${sh('git', ['rev-parse', '--short', 'HEAD'])}, working tree as run), Node ${process.version}, npm \`webgpu\` (Dawn) ${dawn}, ${process.env.VK_ICD_FILENAMES ? `VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES}` : 'the system Vulkan driver'}.`,
  `Step seconds (informative only: load average ${load.toFixed(1)} at the start, ${((performance.now() - t0) / 1000).toFixed(0)} s in all): ${rows.map((r) => `${r.kind} ${r.step}: ${r.seconds.toFixed(1)}`).join(', ')}.`,
  '',
  'Machine (`lscpu`):',
  '',
  '```',
  ...lscpu,
  '```',
  '',
];
writeFileSync('bench/WEBGPU-STEP-COUNTS.md', lines.join('\n'));
console.log(lines.join('\n'));
process.exit(0);
