import { existsSync } from 'node:fs';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tensor } from '../../engine/ops/creation.js';
import { crossEntropy } from '../../engine/ops/nn.js';
import { argmax } from '../../engine/ops/reduce.js';
import { Rng as ModelRng } from '../../engine/random.js';
import { noGrad, valueAndGradsAsync } from '../../engine/tape.js';
import { BACKBONE_PRESETS, type Backbone, type BackbonePreset } from '../../detection/backbone.js';
import { BackboneClassifier, BackboneView, freezeStages } from '../../detection/classifier.js';
import { learningRate, type LrSchedule } from '../../detection/schedule.js';
import { loadFashionItems, type FashionItems, type FashionSplit, type ResolvedFashionSource } from '../../data/fashion.js';
import { addNoise, clamp01, drawSprite, fillGradient, hsv, type RGB } from '../../data/raster.js';
import { hashSeed, Rng } from '../../data/rng.js';
import { loadCheckpoint, readCheckpointMetadata, saveCheckpoint } from '../../nn/checkpoint.js';
import { clipGradCoefficient, SGD } from '../../nn/optim.js';
import { parseArgs, usage, UsageError, type FlagSpec } from '../args.js';
import { BACKEND_NAMES, useBackend } from '../backend.js';
import { prepareOutDir, readBytes, writeAtomic } from '../files.js';
import { MODEL_PRESETS, modelConfig } from '../presets.js';
import { IMAGENET_NORMALISATION } from '../../data/transforms.js';
import { TV_PRESETS } from '../../detection/tv-presets.js';
import { BodyClassifier, BodyView, buildBody, copyBody, type BodyArch } from '../../models/body-classifier.js';
import type { Module } from '../../nn/module.js';
import { TV_ARCHS } from '../load-tv-model.js';
import { isTvPreset } from '../train-tv.js';
import { Progress } from '../progress.js';
import { RANGE } from '../validate.js';

export const pretrainFlags = {
  backbone: { type: 'string', default: 'student', choices: [...MODEL_PRESETS, ...TV_ARCHS], help: "backbone preset to pre-train: a detector preset of kdet train / distill, or a torchvision builder (its body, BatchNorm2d: what torchvision's weights_backbone are)" },
  data: { type: 'string', default: 'fashion', choices: ['fashion'], help: 'classification data: Fashion-MNIST items (train split) drawn as in the scenes' },
  items: { type: 'string', default: 'auto', choices: ['auto', 'debian', 'embedded'], help: "item source: auto = Debian's full set in /usr/share/datasets/fashion-mnist when installed, else the subset embedded in kdet" },
  'train-size': { type: 'int', default: 0, ...RANGE.nonNegative, help: 'train items to use (0: all of the source\'s train split)' },
  'test-size': { type: 'int', default: 0, ...RANGE.nonNegative, help: 'test items to report top-1 on (0: all of the source\'s test split)' },
  size: { type: 'int', default: 64, ...RANGE.size, help: 'canvas side in pixels' },
  'min-scale': { type: 'int', default: 16, min: 2, max: 1024, help: "smallest item (longer side of its box, pixels; the scenes' default at 128² is 16)" },
  'max-scale': { type: 'int', default: 56, min: 2, max: 1024, help: "largest item (the scenes' default at 128² is 64; at most --size)" },
  steps: { type: 'int', default: 2000, ...RANGE.atLeastOne, help: 'optimisation steps' },
  batch: { type: 'int', default: 32, ...RANGE.atLeastOne, help: 'images per step' },
  lr: { type: 'number', default: 0.05, ...RANGE.positive, help: 'peak learning rate (SGD, momentum 0.9; warm-up, then ×0.1 at 75% and 92% of the steps)' },
  'weight-decay': { type: 'number', default: 1e-4, ...RANGE.nonNegative, help: 'L2 weight decay' },
  'clip-norm': { type: 'number', default: 10, ...RANGE.nonNegative, help: 'gradient-norm bound (0: off)' },
  backend: { type: 'string', default: 'wasm', choices: BACKEND_NAMES, help: 'compute backend' },
  seed: { type: 'int', default: 0, ...RANGE.seed, help: 'seed of initialisation, item order and augmentation' },
  out: { type: 'string', default: 'runs/pretrain', help: 'output folder (backbone.safetensors, log.jsonl)' },
  'checkpoint-every': { type: 'int', default: 500, ...RANGE.nonNegative, help: 'save the training state (<out>/last.safetensors) every k steps, for --resume (0: never)' },
  resume: { type: 'string', default: '', help: 'continue a run cut off from its last.safetensors (the same flags; the result is the uninterrupted run\'s)' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

/** What a backbone checkpoint records (kind 'backbone'). */
export interface BackboneCheckpointMeta {
  kind: 'backbone';
  preset: string;
  /** kdet's presets: the VGG stages; torchvision's builders: the body's classifier name. */
  backbone: { inChannels: number; stages: number[][] } | { body: BodyArch };
  top1: number;
  steps: number;
  data: { name: 'fashion'; source: ResolvedFashionSource; trainItems: number; testItems: number; size: number; minScale: number; maxScale: number };
}

/** What pretrain's last.safetensors records beside the classifier's weights and the optimiser's state. */
interface PretrainState {
  kind: 'pretrain-state';
  step: number;
  /** The run's settings (JSON): a state resumes only the run it came from. */
  setup: string;
}

/** Check a --resume state against this run's settings, before anything is built; its step. */
function checkResumeState(bytes: Uint8Array, path: string, setup: string): number {
  let meta: Record<string, unknown>;
  try {
    meta = readCheckpointMetadata(bytes, path);
  } catch (e) {
    throw new UsageError(`kdet pretrain: --resume '${path}' is not a kdet checkpoint (${(e as Error).message.replace(/^kdet\.\w+: /, '')})`);
  }
  const state = meta as unknown as PretrainState;
  if (state.kind !== 'pretrain-state') throw new UsageError(`kdet pretrain: --resume '${path}' is not a pretrain state (kind ${JSON.stringify(meta.kind)}); give the last.safetensors of a kdet pretrain run`);
  if (state.setup !== setup) {
    const was = JSON.parse(state.setup) as Record<string, unknown>;
    const now = JSON.parse(setup) as Record<string, unknown>;
    const differ = Object.keys(now).filter((k) => JSON.stringify(was[k]) !== JSON.stringify(now[k]));
    throw new UsageError(`kdet pretrain: --resume '${path}' is a run with ${differ.map((k) => `${k} ${JSON.stringify(was[k])}`).join(', ')}, not ${differ.map((k) => `${k} ${JSON.stringify(now[k])}`).join(', ')}; resume it with its own flags`);
  }
  return state.step;
}

/** A subset of a split: `n` items (0: all) in a fixed random order of `seed`. */
function subset(split: FashionSplit, n: number, seed: number): FashionSplit {
  if (n === 0 || n >= split.count) return split;
  const order = new Rng(seed).shuffle(Int32Array.from({ length: split.count }, (_, i) => i)).slice(0, n);
  const pixels = new Uint8Array(n * 784);
  const classes = new Uint8Array(n);
  order.forEach((item, k) => {
    pixels.set(split.pixels.subarray(item * 784, item * 784 + 784), k * 784);
    classes[k] = split.classes[item]!;
  });
  return { count: n, pixels, classes };
}

/** Inclusive tight box x0,y0,x1,y1 of an item's non-zero pixels (x1 = -1: empty). */
function tightBox(split: FashionSplit, i: number): [number, number, number, number] {
  let x0 = 28, y0 = 28, x1 = -1, y1 = -1;
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      if (split.pixels[i * 784 + y * 28 + x]! > 0) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return [x0, y0, x1, y1];
}

export interface ItemCanvas {
  size: number;
  minScale: number;
  maxScale: number;
}

/**
 * Draw item i of `split` as the scenes draw their items (src/data/fashion-scenes.ts): a gradient
 * background with pixel noise and up to two fragments of other items, the item tinted, its
 * longer side log-uniform in [minScale, maxScale], placed at random inside the canvas, and
 * mirrored with probability `flip`. Writes CHW RGB into `image` at `offset`.
 */
export function drawItem(image: Float32Array, offset: number, split: FashionSplit, i: number, c: ItemCanvas, rng: Rng, flip: number): void {
  const n = c.size;
  const img = new Float32Array(3 * n * n);
  const bg = (): RGB => hsv(rng.next(), rng.uniform(0, 0.7), rng.uniform(0.1, 0.9));
  fillGradient(img, n, n, bg(), bg(), rng.uniform(0, 2 * Math.PI));
  addNoise(img, rng.uniform(0, 0.12), new Rng(rng.uint32()));
  const fragments = rng.int(0, 2);
  for (let f = 0; f < fragments; f++) {
    const other = rng.int(0, split.count - 1);
    const [bx0, by0, bx1, by1] = tightBox(split, other);
    if (bx1 < 0) continue;
    const cw = Math.max(2, Math.round((bx1 - bx0 + 1) * rng.uniform(0.3, 0.6)));
    const ch = Math.max(2, Math.round((by1 - by0 + 1) * rng.uniform(0.3, 0.6)));
    const sx = rng.int(bx0, Math.max(bx0, bx1 + 1 - cw));
    const sy = rng.int(by0, Math.max(by0, by1 + 1 - ch));
    const scale = rng.uniform(c.minScale, c.maxScale) / 28;
    const dw = Math.max(2, Math.round(cw * scale));
    const dh = Math.max(2, Math.round(ch * scale));
    const tint = hsv(rng.next(), rng.uniform(0, 1), rng.uniform(0.3, 1));
    drawSprite(img, n, n, split.pixels, other * 784, 28, sx, sy, cw, ch, rng.int(-dw >> 1, n - (dw >> 1)), rng.int(-dh >> 1, n - (dh >> 1)), dw, dh, tint, rng.uniform(0.4, 0.9), 2, 0.35);
  }
  let [bx0, by0, bx1, by1] = tightBox(split, i);
  if (bx1 < 0) [bx0, by0, bx1, by1] = [0, 0, 27, 27];
  const scale = Math.exp(rng.uniform(Math.log(c.minScale), Math.log(c.maxScale)));
  const side = Math.max(1, Math.round((scale * 28) / Math.max(bx1 - bx0 + 1, by1 - by0 + 1)));
  const px = side / 28;
  const tint = hsv(rng.next(), rng.uniform(0.2, 1), rng.uniform(0.45, 1));
  const lo = (a: number, b: number) => rng.int(a, Math.max(a, b));
  const x = lo(Math.ceil(-bx0 * px), Math.floor(n - (bx1 + 1) * px));
  const y = lo(Math.ceil(-by0 * px), Math.floor(n - (by1 + 1) * px));
  drawSprite(img, n, n, split.pixels, i * 784, 28, 0, 0, 28, 28, x, y, side, side, tint, 1, 2, 0.35);
  clamp01(img);
  const mirror = rng.next() < flip;
  for (let ch = 0; ch < 3; ch++) {
    for (let r = 0; r < n; r++) {
      const row = ch * n * n + r * n;
      for (let col = 0; col < n; col++) image[offset + row + col] = img[row + (mirror ? n - 1 - col : col)]!;
    }
  }
}

/** Items `idx` of a split drawn into one batch: images [B, 3, S, S] and int32 labels [B]. */
function batchOf(split: FashionSplit, idx: ArrayLike<number>, c: ItemCanvas, rngOf: (k: number) => Rng, flip: number): { pixels: Float32Array; labels: Int32Array } {
  const per = 3 * c.size * c.size;
  const pixels = new Float32Array(idx.length * per);
  const labels = new Int32Array(idx.length);
  for (let k = 0; k < idx.length; k++) {
    drawItem(pixels, k * per, split, idx[k]!, c, rngOf(k), flip);
    labels[k] = split.classes[idx[k]!]!;
  }
  return { pixels, labels };
}

/** A classifier of kdet's backbones or of torchvision's bodies. */
type Classifier = BackboneClassifier | BodyClassifier;

/** Top-1 accuracy on a split; every item drawn with its own fixed layout, unmirrored. */
async function top1(model: Classifier, split: FashionSplit, c: ItemCanvas, batch: number): Promise<number> {
  model.eval();
  let correct = 0;
  for (let s = 0; s < split.count; s += batch) {
    const idx = Array.from({ length: Math.min(batch, split.count - s) }, (_, k) => s + k);
    const b = batchOf(split, idx, c, (k) => new Rng(hashSeed(0x7e57, idx[k]!)), 0);
    const images = tensor(b.pixels, [idx.length, 3, c.size, c.size]);
    const pred = noGrad(() => {
      const logits = model.forward(images);
      const p = argmax(logits, 1);
      logits.dispose();
      return p;
    });
    images.dispose();
    const labels = await pred.data();
    pred.dispose();
    for (let k = 0; k < idx.length; k++) if (labels[k] === b.labels[k]) correct++;
  }
  model.train();
  return correct / split.count;
}

export async function pretrain(argv: string[]): Promise<void> {
  const { flags: f } = parseArgs('pretrain', argv, pretrainFlags, { positionals: 0 });
  if (f.help) return void console.log(usage('pretrain', 'Pre-train a preset\'s backbone as a Fashion-MNIST classifier (the stand-in for ImageNet pre-training); kdet train/distill --backbone-from loads it.', pretrainFlags));
  if (f['min-scale'] > f['max-scale']) throw new UsageError(`kdet pretrain: --min-scale ${f['min-scale']} is above --max-scale ${f['max-scale']}`);
  if (f['max-scale'] > f.size) throw new UsageError(`kdet pretrain: --max-scale ${f['max-scale']} is above the canvas --size ${f.size}`);
  if (f['train-size'] > 0 && f['train-size'] < f.batch) throw new UsageError(`kdet pretrain: --train-size ${f['train-size']} is less than one batch (--batch ${f.batch})`);
  const preset = f.backbone;
  const family = isTvPreset(preset) ? TV_PRESETS[preset].body : null;
  const config = family ? null : modelConfig(preset as BackbonePreset, 10);
  // Flags, then the item files, then --out: everything is checked before the backend or a model exists.
  let items: FashionItems;
  try {
    items = await loadFashionItems(f.items as 'auto' | 'debian' | 'embedded');
  } catch (e) {
    throw new UsageError(`kdet pretrain: --items ${f.items}: ${(e as Error).message}`);
  }
  const train = subset(items.train, f['train-size'], hashSeed(f.seed, 0x5eed));
  const test = subset(items.test, f['test-size'], 0x7e57);
  if (train.count < f.batch) throw new UsageError(`kdet pretrain: the ${sourceName(items.source)} train split has ${train.count} items, less than one batch (--batch ${f.batch})`);
  // What a saved state must share with this run to be resumed by it (everything but --out,
  // --resume, --backend and the checkpoint interval, which do not change the numbers).
  const setup = JSON.stringify({ preset, items: items.source, trainItems: train.count, size: f.size, minScale: f['min-scale'], maxScale: f['max-scale'], steps: f.steps, batch: f.batch, lr: f.lr, weightDecay: f['weight-decay'], clipNorm: f['clip-norm'], seed: f.seed });
  const resumeBytes = f.resume ? await readBytes(f.resume, '--resume') : null;
  const resumeStep = resumeBytes ? checkResumeState(resumeBytes, f.resume, setup) : 0;
  await prepareOutDir('--out', f.out);
  await useBackend(f.backend);

  const canvas: ItemCanvas = { size: f.size, minScale: f['min-scale'], maxScale: f['max-scale'] };
  // torchvision's bodies see ImageNet-normalised images (the family's transform); kdet's, their preset's.
  const model: Classifier = family ? new BodyClassifier(family, 10, new ModelRng(f.seed), IMAGENET_NORMALISATION.mean, IMAGENET_NORMALISATION.std) : new BackboneClassifier(config!.backbone, 10, new ModelRng(f.seed), config!.imageMean, config!.imageStd);
  const trained = model instanceof BodyClassifier ? model.body : model.backbone;
  const params = model.trainableParameters();
  const optimizer = new SGD(params, f.lr, { momentum: 0.9, weightDecay: f['weight-decay'] });
  const schedule: LrSchedule = { lr: f.lr, warmupSteps: Math.min(200, Math.floor(f.steps / 10)), warmupFactor: 0.001, milestones: [Math.floor(f.steps * 0.75), Math.floor(f.steps * 0.92)], gamma: 0.1 };
  console.log(`kdet pretrain: ${preset} ${family ? `body (${family}, BatchNorm2d, ` : 'backbone ('}${(trained.parameterCount() / 1e6).toFixed(3)} M parameters) as a 10-class classifier on Fashion-MNIST items from ${sourceName(items.source)} (${train.count} train items; top-1 on ${test.count} test items), ${f.size}² canvas, items ${f['min-scale']}–${f['max-scale']} px, backend ${f.backend}`);

  const log = join(f.out, 'log.jsonl');
  let first = 0;
  if (resumeBytes) {
    loadCheckpoint(resumeBytes, model, optimizer, f.resume);
    first = resumeStep;
    // The log keeps the steps up to the saved state, wherever it was written.
    const before = existsSync(log) ? await readFile(log, 'utf8') : '';
    await writeFile(log, before.split('\n').filter((l) => l && (JSON.parse(l) as { step: number }).step <= first && !('eval' in JSON.parse(l))).map((l) => l + '\n').join(''));
    console.log(`resuming at step ${first} from ${f.resume}`);
  } else {
    await writeFile(log, '');
  }
  const progress = new Progress(f.steps);
  const started = performance.now();
  // The item order is a function of the seed and the step: a resumed run replays the shuffles
  // of the steps it skips (no drawing, no training), so it continues with the same batches.
  const order = new Rng(hashSeed(f.seed, 0x0dd));
  let perm = order.shuffle(Int32Array.from({ length: train.count }, (_, i) => i));
  let cursor = 0;
  for (let step = 0; step < first; step++) {
    if (cursor + f.batch > perm.length) {
      perm = order.shuffle(perm);
      cursor = 0;
    }
    cursor += f.batch;
  }
  let lastLoss = NaN;
  for (let step = first; step < f.steps; step++) {
    const t0 = performance.now();
    if (cursor + f.batch > perm.length) {
      perm = order.shuffle(perm);
      cursor = 0;
    }
    const idx = perm.subarray(cursor, cursor + f.batch);
    cursor += f.batch;
    const b = batchOf(train, idx, canvas, (k) => new Rng(hashSeed(f.seed, step, k)), 0.5);
    const images = tensor(b.pixels, [f.batch, 3, f.size, f.size]);
    const labels = tensor(b.labels, [f.batch]);
    const lr = learningRate(schedule, step);
    optimizer.lr = lr;
    const { value, grads } = await valueAndGradsAsync(async () => crossEntropy(model.forward(images), labels), params.map((p) => p.value));
    images.dispose();
    labels.dispose();
    const loss = await value.itemAsync();
    value.dispose();
    if (!Number.isFinite(loss)) {
      grads.forEach((g) => g.dispose());
      optimizer.dispose();
      model.dispose();
      progress.done();
      throw new UsageError(`kdet pretrain: loss is ${loss} at step ${step}; lower the learning rate (--lr ${f.lr})`);
    }
    const clip = f['clip-norm'] > 0 ? clipGradCoefficient(grads, f['clip-norm']) : null;
    optimizer.apply(grads, clip ? { gradScale: clip.coef } : {});
    const gradNorm = clip ? await clip.norm.itemAsync() : NaN;
    clip?.coef.dispose();
    clip?.norm.dispose();
    grads.forEach((g) => g.dispose());
    lastLoss = loss;
    const seconds = (performance.now() - t0) / 1000;
    progress.update(step + 1, { loss }, f.batch, `lr ${lr.toExponential(2)}`);
    await appendFile(log, JSON.stringify({ step: step + 1, lr, loss, gradNorm, seconds }) + '\n');
    if (f['checkpoint-every'] > 0 && (step + 1) % f['checkpoint-every'] === 0 && step + 1 < f.steps) {
      const state: PretrainState = { kind: 'pretrain-state', step: step + 1, setup };
      await writeAtomic(join(f.out, 'last.safetensors'), await saveCheckpoint(model, { ...state }, optimizer));
    }
  }
  progress.done();
  const trainSeconds = (performance.now() - started) / 1000;
  const trainedSteps = Math.max(1, f.steps - first);
  const acc = await top1(model, test, canvas, 100);
  await appendFile(log, JSON.stringify({ step: f.steps, eval: { top1: acc, images: test.count } }) + '\n');
  const meta: BackboneCheckpointMeta = {
    kind: 'backbone',
    preset,
    backbone: family ? { body: family } : { inChannels: config!.backbone.inChannels, stages: config!.backbone.stages.map((s) => [...s]) },
    top1: acc,
    steps: f.steps,
    data: { name: 'fashion', source: items.source, trainItems: train.count, testItems: test.count, size: f.size, minScale: f['min-scale'], maxScale: f['max-scale'] },
  };
  const saved = model instanceof BodyClassifier ? new BodyView(model.body) : new BackboneView(model.backbone);
  await writeAtomic(join(f.out, 'backbone.safetensors'), await saveCheckpoint(saved, { ...meta }));
  optimizer.dispose();
  model.dispose();
  console.log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s (${(trainSeconds / trainedSteps).toFixed(3)} s/step); last loss ${lastLoss.toFixed(4)}; top-1 ${acc.toFixed(4)} on ${test.count} test items (${sourceName(items.source)}); backbone in ${join(f.out, 'backbone.safetensors')}`);
}

function sourceName(s: ResolvedFashionSource): string {
  if (s === 'debian') return "Debian's full set";
  if (s === 'embedded') return 'the subset embedded in kdet';
  return typeof s === 'string' ? s : s.path;
}

/** A backbone checkpoint read and checked against a detector preset, before any model exists. */
export interface BackboneFile {
  path: string;
  bytes: Uint8Array;
  meta: BackboneCheckpointMeta;
  freezeStages: number;
}

/**
 * Read `--backbone-from` and check it against `preset` and `--freeze-stages` (a UsageError, one
 * line, otherwise). `flagPreset` names the flag that chose the preset, for the message.
 */
export async function readBackboneFile(command: string, path: string, freeze: number, preset: string, flagPreset: string): Promise<BackboneFile | null> {
  const family = isTvPreset(preset) ? TV_PRESETS[preset].body : null;
  if (family && freeze > 0) throw new UsageError(`kdet ${command}: --freeze-stages is for kdet's presets; ${preset} keeps layers fixed with --trainable-layers (torchvision's trainable_backbone_layers)`);
  const stages = family ? 0 : modelConfig(preset, 1).backbone.stages.length;
  if (!path) {
    if (freeze > 0) throw new UsageError(`kdet ${command}: --freeze-stages ${freeze} needs --backbone-from (freezing randomly initialised stages would keep them random)`);
    return null;
  }
  if (freeze > stages) throw new UsageError(`kdet ${command}: --freeze-stages ${freeze} is more than the ${stages} stages of preset '${preset}'`);
  const bytes = await readBytes(path, '--backbone-from');
  let meta: BackboneCheckpointMeta;
  try {
    meta = readCheckpointMetadata(bytes, path) as unknown as BackboneCheckpointMeta;
  } catch (e) {
    throw new UsageError(`kdet ${command}: --backbone-from '${path}' is not a kdet checkpoint (${(e as Error).message.replace(/^kdet\.[\w.]+: /, '')})`);
  }
  if (meta === null || typeof meta !== 'object' || meta.kind !== 'backbone') {
    throw new UsageError(`kdet ${command}: --backbone-from '${path}' is not a backbone checkpoint (kind ${JSON.stringify((meta as { kind?: unknown } | null)?.kind)}); use a backbone.safetensors written by kdet pretrain`);
  }
  if (family) {
    // The body decides, not the builder: both MobileNetV3 builders take the same body.
    const body = (meta.backbone as { body?: unknown } | undefined)?.body;
    if (body !== family) throw new UsageError(`kdet ${command}: --backbone-from '${path}' holds a '${String(meta.preset)}' backbone${typeof body === 'string' ? ` (body ${body})` : ''}, but ${flagPreset} '${preset}' has a ${family} body; pre-train it (kdet pretrain --backbone ${preset})`);
    return { path, bytes, meta, freezeStages: 0 };
  }
  const want = JSON.stringify(BACKBONE_PRESETS[preset as BackbonePreset]?.stages);
  if (meta.preset !== preset || JSON.stringify((meta.backbone as { stages?: unknown } | undefined)?.stages) !== want) {
    throw new UsageError(`kdet ${command}: --backbone-from '${path}' holds a '${String(meta.preset)}' backbone, but ${flagPreset} is '${preset}'; pre-train that preset (kdet pretrain --backbone ${preset}) or pass ${flagPreset} ${String(meta.preset)}`);
  }
  return { path, bytes, meta, freezeStages: freeze };
}

/** Load a checked backbone file into a detector's backbone and freeze its first stages; a line to print. */
export function applyBackboneFile(file: BackboneFile, backbone: Backbone): string {
  try {
    loadCheckpoint(file.bytes, new BackboneView(backbone), undefined, file.path);
  } catch (e) {
    throw new UsageError(`--backbone-from: ${(e as Error).message.replace(/^kdet\.[\w.]+: /, '')}`);
  }
  const frozen = freezeStages(backbone, file.freezeStages);
  const m = file.meta;
  return `backbone from ${file.path} (${m.preset}, pre-trained ${m.steps} steps, top-1 ${typeof m.top1 === 'number' ? m.top1.toFixed(4) : 'n/a'})${file.freezeStages ? `; first ${file.freezeStages} stage(s) frozen (${frozen} parameters)` : ''}`;
}

/**
 * Load a checked body file (kdet pretrain of a torchvision builder) into a family detector's
 * `backbone.body`, whatever its norm (FrozenBatchNorm2d takes the running statistics as they
 * are, as torchvision's weights_backbone do); a line to print.
 */
export function applyBodyFile(file: BackboneFile, body: Module): string {
  const arch = (file.meta.backbone as { body: BodyArch }).body;
  const donor = buildBody(arch, new ModelRng(0), { norm: 'batch' });
  try {
    loadCheckpoint(file.bytes, new BodyView(donor), undefined, file.path);
    copyBody(donor, body);
  } catch (e) {
    throw new UsageError(`--backbone-from: ${(e as Error).message.replace(/^kdet\.[\w.]+: /, '')}`);
  } finally {
    donor.dispose();
  }
  const m = file.meta;
  return `body from ${file.path} (${arch}, pre-trained ${m.steps} steps as ${m.preset}'s, top-1 ${typeof m.top1 === 'number' ? m.top1.toFixed(4) : 'n/a'})`;
}
