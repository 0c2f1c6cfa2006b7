/**
 * Writes a split of a built-in data set to disk for tools outside kdet (the PyTorch peer in
 * bench/torch-peer):
 *   <out>/<split>.f32   float32 NCHW images in [0, 1], little-endian, image after image
 *   <out>/<split>.json  { shape, ids, boxes (flat x1,y1,x2,y2 per image), labels, classNames, data }
 *
 * With --plan-steps S (train split), also <out>/train-plan-seed<K>.json: the exact (index, flip)
 * pairs of every batch that `kdet train --steps S --batch B --seed K` feeds its model, taken from
 * kdet's own BatchLoader, so that a peer sees the same images in the same order with the same flips.
 * --plan-only writes just that file (another trainer seed over scenes already dumped).
 *
 * Usage: node scripts/run.mjs scripts/dump-scenes.ts --data fashion --split train --length 5000 \
 *          --size 128 --seed 0 --out runs/scenes [--plan-steps 3000 --batch 4 --train-seed 0 [--plan-only]]
 */
import { open, mkdir, writeFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { parseArgs, usage, UsageError, type FlagSpec } from '../src/cli/args.js';
import { DATA_SETS, openDataSet, type DataSpec } from '../src/cli/presets.js';
import { BatchLoader } from '../src/data/loader.js';
import type { Dataset, DetectionSample } from '../src/data/types.js';
import { defaultTrainerConfig } from '../src/detection/trainer.js';

const flags = {
  data: { type: 'string', default: 'fashion', choices: DATA_SETS, help: 'built-in data set' },
  split: { type: 'string', default: 'train', choices: ['train', 'test'], help: 'which split' },
  length: { type: 'int', default: 5000, help: 'scenes to write (kdet train --train-size / --test-size)' },
  size: { type: 'int', default: 128, help: 'image side in pixels' },
  seed: { type: 'int', default: 0, help: 'seed of the scene generator (kdet train --data-seed)' },
  out: { type: 'string', default: '', help: 'output folder' },
  'plan-steps': { type: 'int', default: 0, help: 'also write train-plan-seed<K>.json for this many training steps (train split)' },
  batch: { type: 'int', default: 4, help: 'batch size of the plan (kdet train --batch)' },
  'train-seed': { type: 'int', default: 0, help: 'trainer seed of the plan (kdet train --seed)' },
  'plan-only': { type: 'boolean', default: false, help: 'write only the plan, not the scenes' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

/** Images per write: large enough to keep syscalls few, small enough to stay a few MB. */
const CHUNK = 32;

async function main(argv: string[]): Promise<void> {
  const { flags: f } = parseArgs('dump-scenes', argv, flags);
  if (f.help) return void console.log(usage('dump-scenes', 'Write a data-set split as raw float32 images + JSON annotations.', flags));
  if (!f.out) throw new UsageError('dump-scenes: --out is required');
  if (!(f.length >= 1)) throw new UsageError('dump-scenes: --length must be >= 1');
  // The .f32 file is a raw dump of Float32Array memory, which is little-endian only on LE hosts.
  if (endianness() !== 'LE') throw new Error('dump-scenes: this host is big-endian; the .f32 format is little-endian');
  const split = f.split as 'train' | 'test';
  const spec: DataSpec = { name: f.data as DataSpec['name'], size: f.size, trainLength: f.length, testLength: f.length, seed: f.seed };
  const ds = await openDataSet(spec, split);
  await mkdir(f.out, { recursive: true });
  if (f['plan-only'] && !(f['plan-steps'] > 0)) throw new UsageError('dump-scenes: --plan-only needs --plan-steps');
  if (f['plan-steps'] > 0 && split !== 'train') throw new UsageError('dump-scenes: --plan-steps needs --split train');
  if (!f['plan-only']) await dumpScenes(ds, spec, split, f.out);
  if (f['plan-steps'] > 0) {
    const plan = await trainPlan(ds, f['plan-steps'], f.batch, f['train-seed']);
    const path = join(f.out, `train-plan-seed${plan.seed}.json`);
    await writeFile(path, JSON.stringify(plan));
    console.log(`wrote ${path}: ${plan.steps} batches of ${plan.batchSize}`);
  }
}

async function dumpScenes(ds: Dataset, spec: DataSpec, split: 'train' | 'test', out: string): Promise<void> {
  // Stream the pixels: 5000 scenes of 128² are ~1 GB, which must never sit in memory at once.
  const ids: number[] = [];
  const boxes: number[][] = [];
  const labels: number[][] = [];
  let shape: [number, number, number] | null = null;
  const file = await open(join(out, `${split}.f32`), 'w');
  const started = performance.now();
  try {
    for (let start = 0; start < ds.length; start += CHUNK) {
      const samples: DetectionSample[] = [];
      for (let i = start; i < Math.min(ds.length, start + CHUNK); i++) samples.push(ds.get(i));
      for (const s of samples) {
        const c = s.image.length / (s.height * s.width);
        shape ??= [c, s.height, s.width];
        if (c !== shape[0] || s.height !== shape[1] || s.width !== shape[2]) {
          throw new Error(`dump-scenes: scene ${s.id} is ${c}x${s.height}x${s.width}, expected ${shape.join('x')}`);
        }
        ids.push(s.id);
        // Float32 → double is exact, so Python reads back the very float32 boxes kdet trains on.
        boxes.push(Array.from(s.boxes));
        labels.push(Array.from(s.labels));
      }
      const bytes = samples.reduce((n, s) => n + s.image.byteLength, 0);
      const buf = Buffer.allocUnsafe(bytes);
      let o = 0;
      for (const s of samples) {
        buf.set(new Uint8Array(s.image.buffer, s.image.byteOffset, s.image.byteLength), o);
        o += s.image.byteLength;
      }
      await file.write(buf, 0, bytes);
    }
  } finally {
    await file.close();
  }
  const meta = { shape: [ds.length, ...shape!], ids, boxes, labels, classNames: ds.classNames, data: { ...spec, split } };
  await writeFile(join(out, `${split}.json`), JSON.stringify(meta));
  const secs = (performance.now() - started) / 1000;
  console.log(`wrote ${join(out, split)}.{f32,json}: ${ds.length} scenes ${meta.shape.slice(1).join('x')} in ${secs.toFixed(1)} s`);
}

/**
 * The batches the Trainer draws, replayed through kdet's BatchLoader with the Trainer's own
 * options (shuffle, drop-last, flip probability, seed). The loader runs over a probe data set of
 * the same length whose samples are 1×2 pixels with one box at x = 0..1: a flipped sample comes
 * back with the box at x = 1..2, which reveals the loader's flip decision without reimplementing
 * its seeding here.
 */
async function trainPlan(ds: Dataset, steps: number, batchSize: number, seed: number) {
  const trainer = defaultTrainerConfig({ steps, batchSize, seed });
  const probe: Dataset = {
    length: ds.length,
    classNames: ds.classNames,
    get: (i) => ({ image: new Float32Array(2), height: 1, width: 2, boxes: Float32Array.of(0, 0, 1, 1), labels: Int32Array.of(1), id: i }),
  };
  const loader = new BatchLoader(probe, { batchSize: trainer.batchSize, shuffle: true, seed: trainer.seed, dropLast: true, hflip: trainer.hflip });
  if (loader.batchesPerEpoch === 0) throw new UsageError(`dump-scenes: ${ds.length} scenes are fewer than one batch of ${batchSize}`);
  const indices: number[][] = [];
  const flips: number[][] = [];
  for (let epoch = 0; indices.length < steps; epoch++) {
    for await (const b of loader.epoch(epoch)) {
      if (indices.length === steps) break;
      indices.push(b.ids.slice());
      flips.push(b.boxes.map((bx) => (bx[0] === 0 ? 0 : 1)));
    }
  }
  return { steps, batchSize: trainer.batchSize, seed: trainer.seed, hflip: trainer.hflip, indices, flips };
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(e instanceof UsageError ? e.message : e);
  process.exit(e instanceof UsageError ? 2 : 1);
});
