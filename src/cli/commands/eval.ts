import { evaluateDetector } from '../../detection/evaluate.js';
import { formatCocoStats } from '../../eval/coco.js';
import { evaluateCoco } from '../../eval/results.js';
import type { ImageDetections } from '../../eval/types.js';
import { parseArgs, usage, UsageError, type FlagSpec } from '../args.js';
import { BACKEND_NAMES, useBackend } from '../backend.js';
import { categoryIdsOf, checkSameClasses, describeData, isOwnData, openOwnData, parseDataArg } from '../data-spec.js';
import { prepareOutFile, writeAtomic } from '../files.js';
import { openCheckpointEvalData, type EvalData } from '../held-out.js';
import { buildAnyDetector, readAnyDetectorFile, type DetectorCheckpointMeta } from '../load-model.js';
import { RANGE } from '../validate.js';

const flags = {
  checkpoint: { type: 'string', default: '', help: 'detector checkpoint (best.safetensors, or one written by kdet import: then give --data)' },
  data: { type: 'string', default: '', help: "data to evaluate on: voc:<DIR> or coco:<FILE.json> (default: the checkpoint's held-out data)" },
  split: { type: 'string', default: '', help: 'VOC: ImageSets/Main/<split>.txt to evaluate on' },
  images: { type: 'string', default: '', help: "COCO: the images' folder (default: the JSON's folder)" },
  'test-size': { type: 'int', default: 0, ...RANGE.nonNegative, help: 'built-in scenes: held-out scenes (0: as recorded in the checkpoint)' },
  'coco-results': { type: 'string', default: '', help: "write the detections as COCO results JSON (pycocotools' loadRes; the data set's own image and category ids, boxes in original pixels)" },
  backend: { type: 'string', default: 'wasm', choices: BACKEND_NAMES, help: 'compute backend' },
  json: { type: 'boolean', default: false, help: 'print the metrics as JSON' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

export async function evalCommand(argv: string[]): Promise<void> {
  const { flags: f } = parseArgs('eval', argv, flags, { positionals: 0 });
  if (f.help) return void console.log(usage('eval', 'Evaluate a detector on held-out data (VOC and COCO metrics); optionally write COCO results.', flags));
  if (!f.checkpoint) throw new UsageError('kdet eval: --checkpoint is required');
  const dataArg = f.data ? parseDataArg('eval', '--data', f.data) : null;
  if (dataArg && !isOwnData(dataArg)) throw new UsageError(`kdet eval: --data takes voc:<DIR> or coco:<FILE.json>; a checkpoint trained on ${f.data} is evaluated on its own test split without --data`);
  if (!dataArg && (f.split || f.images)) throw new UsageError(`kdet eval: --${f.split ? 'split' : 'images'} goes with --data voc:<DIR> / coco:<FILE.json>`);
  const file = await readAnyDetectorFile(f.checkpoint);
  const meta = file.meta;
  // An imported torchvision model knows its classes but no data set of its own (one kdet trained
  // records its data, as kdet's own presets do).
  if ('imported' in file && !dataArg && !(meta as { data?: unknown }).data) throw new UsageError(`kdet eval: ${f.checkpoint} is an imported torchvision model (${meta.preset}); give its data with --data voc:<DIR> or coco:<FILE.json> (the built-in scenes are not its classes)`);
  // The data (every annotation read, every image found) and the output, before the model is built.
  let data: EvalData;
  if (dataArg && isOwnData(dataArg)) {
    const { dataset, spec } = await openOwnData(dataArg, { ...(f.split ? { split: f.split } : {}), ...(f.images ? { images: f.images } : {}), ...(dataArg.name === 'voc' ? { classNames: meta.classNames } : {}) });
    checkSameClasses('eval', spec, meta.classNames, 'the checkpoint');
    data = { dataset, what: describeData(spec), heldOut: true, own: true, categoryIds: categoryIdsOf(spec) };
  } else {
    data = await openCheckpointEvalData(meta as DetectorCheckpointMeta, f['test-size']);
  }
  if (f['coco-results']) await prepareOutFile('--coco-results', f['coco-results']);
  await useBackend(f.backend);
  const model = buildAnyDetector(file, { anySize: data.own });
  const m = await evaluateDetector(model, data.dataset);
  model.dispose();
  if (f['coco-results']) {
    const results = cocoResults(m.detections, data.categoryIds);
    await writeAtomic(f['coco-results'], JSON.stringify(results) + '\n');
    if (!f.json) console.log(`wrote ${f['coco-results']} (${results.length} detections, COCO results format)`);
  }
  if (f.json) {
    console.log(JSON.stringify({ map50: m.map50, map50voc07: m.map50voc07, cocoAP: m.cocoAP, perClassAP: m.perClassAP, images: m.images }));
    return;
  }
  console.log(`${meta.preset} on ${data.what} (${m.images} images)${data.heldOut ? '' : ': the training images, not a held-out score'}`);
  console.log(`PASCAL VOC mAP@0.5: all-point ${m.map50.toFixed(4)}, 11-point (VOC2007) ${m.map50voc07.toFixed(4)}`);
  console.log('\nclass            AP@0.5');
  meta.classNames.forEach((name, i) => console.log(`${name.padEnd(16)} ${Number.isNaN(m.perClassAP[i]) ? '   n/a' : m.perClassAP[i]!.toFixed(4)}`));
  console.log('\nCOCO:');
  console.log(formatCocoStats(evaluateCoco(m.targets, m.detections, meta.classNames)));
}

/**
 * Detections as COCO results (what pycocotools' `COCO.loadRes` reads): one record per box with
 * the image's id, the data set's own category id, `bbox` as [x, y, width, height] in the image's
 * original pixels, and the score. Built-in scenes and VOC images, which have no numeric ids, are
 * numbered by their index in the data set (their `id`).
 */
export function cocoResults(detections: readonly ImageDetections[], categoryIds: readonly number[]): { image_id: number; category_id: number; bbox: [number, number, number, number]; score: number }[] {
  const out: { image_id: number; category_id: number; bbox: [number, number, number, number]; score: number }[] = [];
  for (const d of detections) {
    for (let k = 0; k < d.scores.length; k++) {
      const [x1, y1, x2, y2] = [d.boxes[4 * k]!, d.boxes[4 * k + 1]!, d.boxes[4 * k + 2]!, d.boxes[4 * k + 3]!];
      const r = (v: number) => Math.round(v * 100) / 100;
      out.push({ image_id: d.id, category_id: categoryIds[d.labels[k]! - 1]!, bbox: [r(x1), r(y1), r(x2 - x1), r(y2 - y1)], score: Math.round(d.scores[k]! * 1e5) / 1e5 });
    }
  }
  return out;
}
