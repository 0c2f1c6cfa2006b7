/**
 * Scores detections written by train_torchvision.py with kdet's own evaluators (the ones behind
 * `kdet train`'s and `kdet eval`'s numbers), so that the PyTorch peer and kdet are compared like for
 * like: PASCAL VOC mAP@0.5 all-point (kdet's headline metric), VOC2007 11-point, COCO AP.
 *
 * Usage: node scripts/run.mjs bench/torch-peer/evaluate.ts --gt runs/scenes/test.json \
 *          --detections runs/peer-student/detections.json [--json]
 */
import { readFile } from 'node:fs/promises';
import { parseArgs, usage, UsageError, type FlagSpec } from '../../src/cli/args.js';
import { evaluateCoco } from '../../src/eval/results.js';
import { formatCocoStats } from '../../src/eval/coco.js';
import type { GroundTruth, ImageDetections } from '../../src/eval/types.js';
import { evaluateVoc } from '../../src/eval/voc.js';

const flags = {
  gt: { type: 'string', default: '', help: 'test split JSON from scripts/dump-scenes.ts' },
  detections: { type: 'string', default: '', help: 'detections JSON from train_torchvision.py' },
  json: { type: 'boolean', default: false, help: 'print the metrics as JSON' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

interface SplitJson {
  shape: [number, number, number, number];
  ids: number[];
  boxes: number[][];
  labels: number[][];
  classNames: string[];
}

interface DetectionsJson {
  detections: { id: number; boxes: number[] | number[][]; scores: number[]; labels: number[] }[];
}

async function readJson<T>(path: string, flag: string): Promise<T> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (e) {
    throw new UsageError(`--${flag} '${path}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

async function main(argv: string[]): Promise<void> {
  const { flags: f } = parseArgs('torch-peer evaluate', argv, flags);
  if (f.help) return void console.log(usage('torch-peer evaluate', 'Score PyTorch-peer detections with kdet\'s VOC and COCO evaluators.', flags));
  if (!f.gt || !f.detections) throw new UsageError('torch-peer evaluate: --gt and --detections are required');
  const gt = await readJson<SplitJson>(f.gt, 'gt');
  const det = await readJson<DetectionsJson>(f.detections, 'detections');
  const [, , height, width] = gt.shape;
  const targets: GroundTruth[] = gt.ids.map((id, k) => ({ id, height, width, boxes: gt.boxes[k]!, labels: gt.labels[k]! }));
  // Boxes flat (as kdet's Detections) or as [n][4] rows; both mean x1, y1, x2, y2.
  const detections: ImageDetections[] = det.detections.map((d) => ({ id: d.id, boxes: d.boxes.flat(), scores: d.scores, labels: d.labels }));
  // kdet's evaluateDetector scores every held-out image, with or without detections; warn when
  // the peer skipped some, since that would not be the same test.
  const seen = new Set(detections.map((d) => d.id));
  const missing = targets.filter((t) => !seen.has(t.id)).length;
  if (missing > 0) console.warn(`warning: ${missing} of ${targets.length} test images have no detections entry`);

  const numClasses = gt.classNames.length;
  const voc = evaluateVoc(targets, detections, { numClasses });
  const voc07 = evaluateVoc(targets, detections, { numClasses, use07Metric: true });
  const coco = evaluateCoco(targets, detections, gt.classNames);
  const metrics = { map50: voc.mAP, map50voc07: voc07.mAP, cocoAP: coco.stats[0]!, perClassAP: voc.ap, images: targets.length };
  if (f.json) return void console.log(JSON.stringify(metrics));
  console.log(`${targets.length} test images, ${detections.reduce((s, d) => s + d.scores.length, 0)} detections`);
  console.log(`PASCAL VOC mAP@0.5: all-point ${metrics.map50.toFixed(4)}, 11-point (VOC2007) ${metrics.map50voc07.toFixed(4)}`);
  console.log(`COCO AP@[.5:.95]: ${metrics.cocoAP.toFixed(4)}`);
  console.log('\nclass            AP@0.5');
  gt.classNames.forEach((name, i) => console.log(`${name.padEnd(16)} ${Number.isNaN(voc.ap[i]) ? '   n/a' : voc.ap[i]!.toFixed(4)}`));
  console.log('\nCOCO:');
  console.log(formatCocoStats(coco));
}

main(process.argv.slice(2)).catch((e: unknown) => {
  console.error(e instanceof UsageError ? e.message : e);
  process.exit(e instanceof UsageError ? 2 : 1);
});
