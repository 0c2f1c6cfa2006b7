/**
 * torchvision's fasterrcnn_mobilenet_v3_large_320_fpn training step and the distillation step
 * (that student + a frozen fasterrcnn_resnet18_fpn teacher, the paper's terms), kdet-wasm beside
 * PyTorch 1.13 CPU, same weights, images, targets, sampling sizes and optimiser step, at 1 and 2
 * threads, in one run (issue #29 item 4). The prose of bench/TV-TRAIN-STEP.md (HEADER below)
 * says what is measured and how.
 *
 *   node scripts/run.mjs bench/tv-train-step.ts [--warmup 2] [--steps 10] [--threads 1,2]
 *       [--cases train-batch,train-frozen,distill] [--profile-steps 1] [--exact] [--quick]
 *       [--no-torch] [--no-kdet] [--fresh] [--write] [--dir build/bench/tv-train-step]
 *
 * --quick: 1 warm-up step, 1 timed step, 1 thread (checks that everything runs; not a timing).
 * --exact: every anchor and every proposal sampled, 200 proposals per image: the losses of both
 *   engines must then agree to float32 rounding (the table says by how much); not a timing.
 * --write: bench/TV-TRAIN-STEP.md (prose header, numbers, kdet's per-op profile).
 * --header: write bench/TV-TRAIN-STEP.md with the prose header only (no run).
 *
 * The work folder (git-ignored build/) keeps the scenes, the PyTorch weights (safetensors) and
 * their kdet imports between runs; --fresh makes them again. Each engine × case × thread count
 * runs in its own process (kdet: `--child`; PyTorch: bench/tv_train_step_peer.py with
 * OPENBLAS_NUM_THREADS / OMP_NUM_THREADS set, which Debian's OpenBLAS reads once at load), one
 * after the other, kdet and PyTorch alternating so that a change in the machine's load hits both.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { createWasmBackend } from '../src/backends/wasm/index.js';
import { buildTvModel, loadTvCheckpoint, type TvCheckpointMeta } from '../src/detection/tv-checkpoint.js';
import type { TvFasterRCNN } from '../src/detection/tv-faster-rcnn.js';
import { defaultDistillConfig } from '../src/distillation/config.js';
import { TvDistiller } from '../src/distillation/tv-distiller.js';
import { add, concat, memoryStats, reshape, scope, setBackend, tensor, valueAndGradsAsync, type Tensor } from '../src/engine/index.js';
import { Rng } from '../src/engine/random.js';
import { readStateDict } from '../src/interop/state-dict.js';
import { loadCheckpoint, readCheckpointMetadata } from '../src/nn/checkpoint.js';
import { clipGradCoefficient, SGD } from '../src/nn/optim.js';
import { installOpTimer } from './tune/op-timer.js';

const STUDENT = 'fasterrcnn_mobilenet_v3_large_320_fpn';
const TEACHER = 'fasterrcnn_resnet18_fpn';
const CASES = ['train-batch', 'train-frozen', 'distill'] as const;
type Case = (typeof CASES)[number];
// The optimiser step of both sides (bench/tv_train_step_peer.py: LR, MOMENTUM, WEIGHT_DECAY, CLIP).
const LR = 0.01;
const MOMENTUM = 0.9;
const WEIGHT_DECAY = 1e-4;
const CLIP = 10;
// --exact (the peer's EXACT): every candidate sampled, 200 proposals per image.
const EXACT = { rpnBatch: 100000, boxBatch: 100000, postNmsTopNTrain: 200 };
const OUT_MD = 'bench/TV-TRAIN-STEP.md';

const CASE_TEXT: Record<Case, string> = {
  'train-batch': 'training step, BatchNorm2d (weights=None: batch statistics, 6 trainable layers)',
  'train-frozen': 'training step, FrozenBatchNorm2d (fine-tuning: 3 trainable layers)',
  distill: 'distillation step (+ ResNet-18-FPN teacher forward, paper terms)',
};

// ---------------------------------------------------------------------------------------------
// Arguments

const argv = process.argv.slice(2);
const has = (name: string) => argv.includes(`--${name}`);
const opt = (name: string, dflt: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
};
const quick = has('quick');
const dir = opt('dir', 'build/bench/tv-train-step');
const warmup = Number(opt('warmup', quick ? '1' : '2'));
const steps = Number(opt('steps', quick ? '1' : '10'));
const threadList = opt('threads', quick ? '1' : '1,2').split(',').map(Number);
const cases = opt('cases', CASES.join(',')).split(',') as Case[];
const profileSteps = Number(opt('profile-steps', '1'));
const exact = has('exact');
const seed = Number(opt('seed', '0'));
for (const c of cases) if (!CASES.includes(c)) throw new Error(`--cases: unknown case '${c}' (${CASES.join(', ')})`);
if (!(warmup >= 0 && steps >= 1 && threadList.every((t) => Number.isInteger(t) && t >= 1))) throw new Error('--warmup ≥ 0, --steps ≥ 1, --threads a list of positive integers');

// ---------------------------------------------------------------------------------------------
// Shared: the scenes, one step's record

interface Scenes {
  pixels: Float32Array;
  shape: [number, number, number, number];
  boxes: Float32Array[];
  labels: Int32Array[];
  classNames: string[];
}

function readScenes(): Scenes {
  const meta = JSON.parse(readFileSync(join(dir, 'scenes', 'train.json'), 'utf8')) as { shape: [number, number, number, number]; boxes: number[][]; labels: number[][]; classNames: string[] };
  const raw = readFileSync(join(dir, 'scenes', 'train.f32'));
  const pixels = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  return { pixels, shape: meta.shape, boxes: meta.boxes.map((b) => Float32Array.from(b)), labels: meta.labels.map((l) => Int32Array.from(l)), classNames: meta.classNames };
}

interface StepRow {
  seconds: number;
  forward: number;
  backward: number;
  update: number;
  loss: number;
  parts: Record<string, number>;
  gradNorm: number;
  rois: number;
}

interface Result {
  engine: 'kdet-wasm' | 'PyTorch';
  case: Case;
  threads: number;
  exact: boolean;
  median: number;
  best: number;
  phases: { forward: number; backward: number; update: number };
  trainable: number;
  rows: StepRow[];
  blas?: { name: string; library: string | null; sgemm1024_gflops: number };
  torch?: string;
  torchvision?: string;
  leakBytes?: number;
  profile?: Profile;
}

interface Profile {
  steps: number;
  wallMs: number;
  backendMs: number;
  /** [name, ms per step, calls per step, GFLOP per step] */
  methods: [string, number, number, number][];
  shapes: [string, number, number, number][];
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

// ---------------------------------------------------------------------------------------------
// kdet's side (a child process per case and thread count)

async function kdetChild(c: Case, threads: number, profile: boolean): Promise<Result> {
  const backend = await createWasmBackend({ threads });
  setBackend(backend);
  const timer = profile ? installOpTimer({ shapes: true }) : null;
  const s = readScenes();
  const targets = { boxes: s.boxes, labels: s.labels, imageSizes: s.boxes.map(() => [s.shape[2], s.shape[3]] as [number, number]) };
  const norm = c === 'train-frozen' ? 'frozen' : 'batch';
  const path = join(dir, `kdet-student-${norm}.safetensors`);
  const bytes = new Uint8Array(readFileSync(path));
  const meta = readCheckpointMetadata(bytes, path) as unknown as TvCheckpointMeta;
  const tv = meta.torchvision;
  const settings = exact
    ? { ...tv, rpn: { ...tv.rpn, batchSizePerImage: EXACT.rpnBatch, postNmsTopN: { ...tv.rpn.postNmsTopN, training: EXACT.postNmsTopNTrain } }, box: { ...tv.box, batchSizePerImage: EXACT.boxBatch } }
    : tv;
  // torchvision's trainable_backbone_layers: all 6 with weights=None, 3 when fine-tuning.
  const student = buildTvModel(meta.preset, settings, { trainableLayers: norm === 'batch' ? 6 : 3 });
  loadCheckpoint(bytes, student, undefined, path);
  student.train();
  let rois = 0;
  const forwardTrain = student.forwardTrain.bind(student);
  student.forwardTrain = async (...a: Parameters<TvFasterRCNN['forwardTrain']>) => {
    const r = await forwardTrain(...a);
    rois = r.roi.targets.labels.length;
    return r;
  };
  let teacher: TvFasterRCNN | null = null;
  let distiller: TvDistiller | null = null;
  if (c === 'distill') {
    teacher = loadTvCheckpoint(new Uint8Array(readFileSync(join(dir, 'kdet-teacher.safetensors'))), { source: 'kdet-teacher.safetensors' }).model;
    // The paper's terms, as scripts/tv_distill_losses.py's PAPER (and test/distillation/tv-distill-parity.test.ts).
    const config = defaultDistillConfig({ mu: 0.5, temperature: 1, backgroundWeight: 1.5, nu: 0.5, margin: 0, gamma: 0.5, lambda: 1, soft: true, regression: 'bounded', hint: true, adapter: '1x1', hintNorm: 'l2', hintReduction: 'mean', warmupSteps: 0 });
    distiller = new TvDistiller(student, teacher, config, new Rng(seed + 1));
    const file = readStateDict(new Uint8Array(readFileSync(join(dir, 'adapters.safetensors'))), 'adapters.safetensors');
    distiller.adapters.loadStateDict(new Map([...file.tensors].map(([name, t]) => [name.slice('adapters.'.length), tensor(t.data, t.shape)])));
  }
  const trained = distiller ?? student;
  const params = trained.trainableParameters();
  const opt = new SGD(params, LR, { momentum: MOMENTUM, weightDecay: WEIGHT_DECAY });
  const rng = new Rng(seed);
  const rows: StepRow[] = [];
  let afterFirst = 0;
  let profiledWall = 0;
  for (let step = 0; step < warmup + steps; step++) {
    if (timer) timer.on = step >= warmup;
    const t0 = performance.now();
    const images = tensor(s.pixels, s.shape, { backend });
    let t1 = 0;
    const { value, grads, aux } = await valueAndGradsAsync(async () => {
      const parts = distiller ? await distiller.losses(images, targets, rng, step + 1) : (await student.forwardTrain(images, targets, rng)).losses;
      const loss = Object.values(parts as Record<string, Tensor>).reduce((a, b) => add(a, b));
      t1 = performance.now();
      return { loss, aux: parts as Record<string, Tensor> };
    }, params.map((p) => p.value));
    const t2 = performance.now();
    images.dispose();
    // As the Trainer: clipping's factor fused into the update, one read for the loss, its parts and the norm.
    const clip = clipGradCoefficient(grads, CLIP);
    const names = Object.keys(aux);
    const packed = scope(() => concat([value, ...names.map((k) => aux[k]!), clip.norm].map((t) => reshape(t, [1])), 0));
    const read = await packed.data();
    packed.dispose();
    opt.apply(grads, { gradScale: clip.coef });
    for (const k of names) aux[k]!.dispose();
    clip.coef.dispose();
    clip.norm.dispose();
    value.dispose();
    grads.forEach((g) => g.dispose());
    const t3 = performance.now();
    if (timer?.on) profiledWall += t3 - t0;
    const parts = Object.fromEntries(names.map((k, i) => [k, read[1 + i]!]));
    rows.push({ seconds: (t3 - t0) / 1000, forward: (t1 - t0) / 1000, backward: (t2 - t1) / 1000, update: (t3 - t2) / 1000, loss: read[0]!, parts, gradNorm: read[1 + names.length]!, rois });
    process.stderr.write(`kdet ${c} ${threads}t step ${step + 1}: ${rows.at(-1)!.seconds.toFixed(3)} s, loss ${read[0]!.toFixed(5)}\n`);
    if (step === 0) afterFirst = memoryStats(backend).bytes;
  }
  const leakBytes = memoryStats(backend).bytes - afterFirst;
  const timed = rows.slice(warmup);
  const result: Result = {
    engine: 'kdet-wasm', case: c, threads, exact,
    median: median(timed.map((r) => r.seconds)),
    best: Math.min(...timed.map((r) => r.seconds)),
    phases: { forward: median(timed.map((r) => r.forward)), backward: median(timed.map((r) => r.backward)), update: median(timed.map((r) => r.update)) },
    trainable: params.reduce((n, p) => n + p.value.size, 0),
    rows, leakBytes,
  };
  if (timer) {
    const per = (ms: number) => ms / steps;
    result.profile = {
      steps,
      wallMs: per(profiledWall),
      backendMs: per(timer.total()),
      methods: [...timer.byMethod].sort((a, b) => b[1].ms - a[1].ms).map(([n, e]) => [n, per(e.ms), e.calls / steps, e.flops / steps / 1e9]),
      shapes: [...timer.byShape].sort((a, b) => b[1].ms - a[1].ms).slice(0, 40).map(([n, e]) => [n, per(e.ms), e.calls / steps, e.flops / steps / 1e9]),
    };
  }
  opt.dispose();
  trained.dispose();
  teacher?.dispose();
  backend.dispose();
  return result;
}

// ---------------------------------------------------------------------------------------------
// The run: preparation, children, the table

const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): string => {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${r.stdout.slice(-2000)}`);
  return r.stdout;
};
const lastJson = <T>(out: string): T => JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1)!) as T;

function prepare(): void {
  if (has('fresh')) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  if (!existsSync(join(dir, 'scenes', 'train.json'))) {
    // Two Fashion-MNIST scenes rendered at 320×320 (the builder's min_size: torchvision's resize is the identity).
    run('node', ['scripts/run.mjs', 'scripts/dump-scenes.ts', '--data', 'fashion', '--split', 'train', '--length', '2', '--size', '320', '--seed', '0', '--out', join(dir, 'scenes')]);
  }
  if (!existsSync(join(dir, 'student.safetensors'))) run('/usr/bin/python3', ['bench/tv_train_step_peer.py', 'prepare', dir]);
  const classes = readScenes().classNames.join(',');
  const imports: [string, string, string, string][] = [
    ['kdet-student-batch.safetensors', 'student.safetensors', STUDENT, 'batch'],
    ['kdet-student-frozen.safetensors', 'student.safetensors', STUDENT, 'frozen'],
    ['kdet-teacher.safetensors', 'teacher.safetensors', TEACHER, 'batch'],
  ];
  for (const [out, from, arch, norm] of imports) {
    if (existsSync(join(dir, out))) continue;
    // kdet's torchvision import path, as a user brings a PyTorch model in.
    run('node', ['scripts/run.mjs', 'src/cli/bin.ts', 'import', '--torchvision', join(dir, from), '--arch', arch, '--norm', norm, '--meta', 'none', '--class-names', classes, '--out', join(dir, out)]);
  }
}

function child(engine: 'kdet' | 'torch', c: Case, threads: number, profile = false): Result {
  const common = ['--warmup', String(profile ? 1 : warmup), '--steps', String(profile ? profileSteps : steps), '--seed', String(seed), ...(exact ? ['--exact'] : [])];
  if (engine === 'kdet') {
    return lastJson<Result>(run('node', ['scripts/run.mjs', 'bench/tv-train-step.ts', '--child', '--dir', dir, '--case', c, '--threads', String(threads), ...common, ...(profile ? ['--profile'] : [])]));
  }
  const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
  return lastJson<Result>(run('/usr/bin/python3', ['bench/tv_train_step_peer.py', 'time', dir, '--case', c, '--threads', String(threads), ...common], env));
}

const HEADER = `# MobileNetV3-FPN-320 training step: kdet-wasm vs PyTorch 1.13 CPU

Issue #29 item 4. One run of \`bench/tv-train-step.ts\` times, side by side on one machine:

- **training step**: torchvision 0.14's \`fasterrcnn_mobilenet_v3_large_320_fpn\` (num_classes 11),
  batch 2 at 320×320, torchvision's sampling sizes (RPN 256 anchors and box head 512 ROIs per image,
  2000 proposals per image after NMS in training, min/max size 320/640). Two forms: as the builder
  makes it with \`weights=None\` (BatchNorm2d on batch statistics, all 6 backbone layers trainable:
  19.0 M trainable parameters) and as it is fine-tuned (FrozenBatchNorm2d, 3 trainable layers,
  what \`weights_backbone=...\` builds);
- **distillation step**: that student (BatchNorm2d form) learning from a frozen
  \`fasterrcnn_resnet18_fpn\` teacher (eval mode) through the paper's terms — kdet's \`TvDistiller\`
  against the PyTorch definitions in \`scripts/tv_distill_losses.py\` (the ones kdet's are tested
  against): soft cross-entropy on the shared anchors and on the student's ROIs through the teacher's
  box head, teacher-bounded regression, hints through three 1×1 adapters (μ = ν = γ = 0.5, T 1,
  w_bg 1.5). The teacher's forward (backbone, FPN, RPN head, box head on 1024 ROIs) is part of the step.
  The peer calls the script's \`objective\` with one change: the student → teacher anchor map is
  computed once, as kdet does (the script rebuilds it in a Python loop over ~25 000 teacher anchors
  at every call): time only. The RPN terms are on the anchors the RPN's sampler drew (256 per
  image), as in kdet's \`TvDistiller\` (the script took every labelled anchor until this
  benchmark showed the difference).

**Same work on both sides.** The weights are generated once in PyTorch
(\`bench/tv_train_step_peer.py prepare\`: every tensor a fixed function of its name, BatchNorm
running statistics and affine parameters non-trivial, the heads' last layers scaled so that scores
spread as a trained model's and proposal filtering and NMS do real work), saved as safetensors, and
brought into kdet with \`kdet import --torchvision\`. The images and targets are two Fashion-MNIST
scenes rendered at 320×320 by \`scripts/dump-scenes.ts\` (2 and 3 objects). A step is: the images
into the engine, the training forward (normalisation included), the sum of the loss parts,
backward, global gradient-norm clipping at 10, and SGD (lr 0.01, momentum 0.9, weight decay 1e-4)
over the trainable parameters (the counts are printed; they agree). Samples are drawn by each
engine's own generator (kdet's seeded \`Rng\`, PyTorch's \`torch.manual_seed(step)\`), so beyond the
first step's loss the two runs are the same distribution, not the same draws. \`--exact\` (a check,
not a timing) samples every anchor and proposal and keeps 200 proposals per image, which makes each
loss a function of the weights alone: the two engines' losses must then agree to float32 rounding.

**Timing.** Each engine, case and thread count runs in its own process: warm-up steps, then the
median and best wall time of the timed steps, split into forward (loss), backward and update
(clipping, loss read-back, optimiser). kdet-wasm at 1 and 2 threads (\`createWasmBackend({ threads })\`,
the same as \`KDET_THREADS\`); PyTorch with \`torch.set_num_threads(T)\`, one inter-op thread and
\`OPENBLAS_NUM_THREADS=T\`. Debian's torch is built with \`BLAS_INFO=generic\`: \`nn.Linear\` (the
box head's fc6/fc7, most of the step's FLOPs) runs on whatever \`libblas.so.3\` is; the machine
line names the library actually mapped into the PyTorch process, its \`openblas_get_config()\`,
and a 1024³ sgemm's speed. It must be a real BLAS (OpenBLAS: \`libopenblas0-pthread\`), not
netlib's reference BLAS (about 10× slower), or PyTorch looks far slower than it is.
The ratio column is PyTorch's median over kdet's: above 1, kdet is faster (the target is ≥ 1.5×
for the training step at 1 and at 2 threads). On a 2-core machine, measure with nothing else
running: with another process on a core, 2-thread times mostly measure waiting.

**The box head through the map's pixels.** fc6 reads RoIAlign's output, which is linear in the
feature map: fc6(RoIAlign_k(F)) = Σ_bin Σ_pixel A_k[bin, pixel] · G[pixel, bin] with G[pixel, bin]
= W[:, :, bin] · F[:, pixel]. MobileNetV3-320-FPN pools every ROI from one 10×10 map, so G is a
GEMM over 2 × 100 pixels where fc6 is one over 1024 ROIs; the rest is a sparse sum (≤ 16 pixels a
bin). kdet takes that order per FPN level wherever it costs less (\`src/detection/roi-align-linear.ts\`;
never on a ResNet-FPN's 80×80 level): the same function up to float32 rounding (\`--exact\` below
agrees with PyTorch to float32 rounding; tested against the direct path on every backend). PyTorch
pools then multiplies. So did kdet before this path (run of 2026-12-07 23:04): 2.19 s against PyTorch's 2.70 at 1 thread
(1.24×), 79 % of it fc6's three GEMMs (85.7 GFLOP a step) at 46 GFLOP/s, close to what 128-bit wasm
SIMD gives on this machine (the micro-kernel's 51 in L1), so no GEMM tuning could reach 1.5×.
Expected with the pixel order: those GEMMs fall to ~16 GFLOP and the step to ≤ 1.5 s (≥ 1.8×).

**Profile.** For each case, one step of kdet at 1 thread after a warm-up step, every WasmBackend
method timed (\`bench/tune/op-timer.ts\`, the mechanism of \`bench/tune/op-profile.ts\`), and the heavy
kernels also per shape, which names the layer (G for fc6 is
\`matmul (256×200)ᵀ · 256×50176\`: 256 channels × 200 pixels against the weight reordered by bin; the
teacher's fc6 forward on its finest level is \`matmul 1024×12544 · (1024×12544)ᵀ\`). The
time outside backend methods is kdet's JavaScript: tape, sampling, matching, anchors, RoIAlign's
sparse matrix.
`;

function commitLine(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return `${sha}${dirty ? ' + uncommitted changes' : ''}`;
  } catch {
    return 'unknown';
  }
}

const f3 = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(3));
const f2 = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(2));

function report(results: Result[], profiles: Result[], load0: number[]): string {
  const torch = results.find((r) => r.engine === 'PyTorch');
  const blas = torch?.blas;
  const machine = [
    `Machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.versions.node}, kdet ${commitLine()}`,
    torch ? `PyTorch ${torch.torch} / torchvision ${torch.torchvision}, BLAS: ${blas?.name ?? 'unknown'} (${blas?.library ?? 'no libblas mapped'}; 1024³ sgemm ${blas?.sgemm1024_gflops ?? '?'} GFLOP/s at 1 thread)` : 'PyTorch not run',
    `load average ${load0.map((x) => x.toFixed(1)).join(' / ')} before, ${loadavg().map((x) => x.toFixed(1)).join(' / ')} after`,
  ].join('; ');
  const cmd = `node scripts/run.mjs bench/tv-train-step.ts ${argv.filter((a) => a !== '--write').join(' ')}`.trim();
  const lines = [
    '## Numbers',
    '',
    `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, \`${cmd}\`: ${warmup} warm-up + ${steps} timed step${steps > 1 ? 's' : ''} per process${exact ? ', **--exact sampling (a check, not torchvision\'s sizes)**' : ''}${quick ? ', **--quick: a check that everything runs, not a measurement**' : ''}.`,
    machine + '.',
    '',
    '| step | threads | kdet-wasm median (best) s | PyTorch median (best) s | PyTorch / kdet | kdet forward / backward / update s | PyTorch forward / backward / update s |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const c of cases) {
    for (const t of threadList) {
      const k = results.find((r) => r.engine === 'kdet-wasm' && r.case === c && r.threads === t);
      const p = results.find((r) => r.engine === 'PyTorch' && r.case === c && r.threads === t);
      const ph = (r?: Result) => (r ? `${f3(r.phases.forward)} / ${f3(r.phases.backward)} / ${f3(r.phases.update)}` : '—');
      lines.push(`| ${CASE_TEXT[c]} | ${t} | ${k ? `${f3(k.median)} (${f3(k.best)})` : '—'} | ${p ? `${f3(p.median)} (${f3(p.best)})` : '—'} | ${k && p ? `${f2(p.median / k.median)}×` : '—'} | ${ph(k)} | ${ph(p)} |`);
    }
  }
  // The losses of the first step: the same weights and inputs, so they agree up to the sampling draws
  // (to float32 rounding with --exact).
  lines.push('', `### First-step losses (${exact ? 'every candidate sampled: must agree to float32 rounding' : "torchvision's sampling sizes, each engine's own draws: close, not equal"})`, '');
  const partNames = ['rpnCls', 'rpnReg', 'roiCls', 'roiReg', 'hint'];
  lines.push(`| step | engine | threads | trainable parameters | ROIs | ${partNames.join(' | ')} | total |`, `| --- | --- | --- | --- | --- | ${partNames.map(() => '---').join(' | ')} | --- |`);
  for (const r of results) {
    const row = r.rows[0]!;
    lines.push(`| ${r.case} | ${r.engine} | ${r.threads} | ${r.trainable} | ${row.rois} | ${partNames.map((n) => (row.parts[n] === undefined ? '—' : row.parts[n]!.toPrecision(6))).join(' | ')} | ${row.loss.toPrecision(6)} |`);
  }
  for (const c of cases) {
    const k = results.find((r) => r.engine === 'kdet-wasm' && r.case === c);
    const p = results.find((r) => r.engine === 'PyTorch' && r.case === c);
    if (!k || !p) continue;
    const rel = Math.max(...Object.keys(p.rows[0]!.parts).map((n) => Math.abs((k.rows[0]!.parts[n] ?? NaN) - p.rows[0]!.parts[n]!) / Math.max(Math.abs(p.rows[0]!.parts[n]!), 1e-12)));
    const steps2 = Math.min(k.rows.length, p.rows.length);
    const totals = Array.from({ length: steps2 }, (_, i) => `${k.rows[i]!.loss.toPrecision(5)}/${p.rows[i]!.loss.toPrecision(5)}`).join(', ');
    lines.push('', `${c}: largest relative difference of a first-step part ${rel.toExponential(2)}; total loss per step, kdet/PyTorch: ${totals}${k.leakBytes ? `; kdet memory grew by ${k.leakBytes} bytes after the first step (a leak?)` : ''}.`);
  }
  for (const r of profiles) {
    const pr = r.profile!;
    lines.push('', `### kdet per-op profile: ${CASE_TEXT[r.case]}, 1 thread, ${pr.steps} step${pr.steps > 1 ? 's' : ''} after 1 warm-up`, '');
    lines.push(`Step ${(pr.wallMs / 1000).toFixed(3)} s (forward ${f3(r.phases.forward)}, backward ${f3(r.phases.backward)}, update ${f3(r.phases.update)}), ${(pr.backendMs / 1000).toFixed(3)} s of it in backend methods, ${((pr.wallMs - pr.backendMs) / 1000).toFixed(3)} s in kdet's JavaScript.`, '');
    const rate = (ms: number, gflop: number) => (gflop > 0 ? ((gflop / ms) * 1000).toFixed(1) : '');
    lines.push('| backend method | ms per step | share of the step | calls per step | GFLOP per step | GFLOP/s |', '| --- | --- | --- | --- | --- | --- |');
    for (const [n, ms, calls, gf] of pr.methods.slice(0, 15)) lines.push(`| ${n} | ${ms.toFixed(1)} | ${((100 * ms) / pr.wallMs).toFixed(1)} % | ${calls} | ${gf > 0 ? gf.toFixed(2) : ''} | ${rate(ms, gf)} |`);
    lines.push('', '| kernel and shape | ms per step | share of the step | calls per step | GFLOP/s |', '| --- | --- | --- | --- | --- |');
    for (const [n, ms, calls, gf] of pr.shapes.slice(0, 20)) lines.push(`| \`${n}\` | ${ms.toFixed(1)} | ${((100 * ms) / pr.wallMs).toFixed(1)} % | ${calls} | ${rate(ms, gf)} |`);
  }
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  if (has('child')) {
    const r = await kdetChild(opt('case', 'train-batch') as Case, Number(opt('threads', '1')), has('profile'));
    console.log(JSON.stringify(r));
    return;
  }
  if (has('header')) {
    writeFileSync(OUT_MD, `${HEADER}\n## Numbers\n\nNot measured yet. On an otherwise idle machine:\n\n\`\`\`sh\nnode scripts/run.mjs bench/tv-train-step.ts --write\n\`\`\`\n`);
    console.log(`wrote ${OUT_MD} (header only)`);
    return;
  }
  const load0 = loadavg();
  prepare();
  const results: Result[] = [];
  for (const c of cases) {
    for (const t of threadList) {
      if (!has('no-kdet')) results.push(child('kdet', c, t));
      if (!has('no-torch')) results.push(child('torch', c, t));
    }
  }
  const profiles: Result[] = [];
  if (!has('no-kdet') && profileSteps > 0) for (const c of cases) profiles.push(child('kdet', c, 1, true));
  // Every step's record (losses, gradient norm, ROIs, phases) for a closer look.
  writeFileSync(join(dir, 'results.json'), JSON.stringify({ argv, results, profiles }, null, 1));
  const md = report(results, profiles, load0);
  console.log(md);
  if (has('write')) {
    writeFileSync(OUT_MD, `${HEADER}\n${md}`);
    console.log(`wrote ${OUT_MD}`);
  }
}

await main();
