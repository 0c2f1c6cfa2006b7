import { evaluateDetector } from '../../detection/evaluate.js';
import { formatCocoStats } from '../../eval/coco.js';
import { evaluateCoco } from '../../eval/results.js';
import { parseArgs, usage, UsageError, type FlagSpec } from '../args.js';
import { BACKEND_NAMES, useBackend } from '../backend.js';
import { buildDetector, readDetectorFile } from '../load-model.js';
import { openDataSet } from '../presets.js';
import { RANGE } from '../validate.js';

const flags = {
  checkpoint: { type: 'string', default: '', help: 'detector checkpoint (best.safetensors)' },
  'test-size': { type: 'int', default: 0, ...RANGE.nonNegative, help: 'held-out scenes (0: as recorded in the checkpoint)' },
  backend: { type: 'string', default: 'wasm', choices: BACKEND_NAMES, help: 'compute backend' },
  json: { type: 'boolean', default: false, help: 'print the metrics as JSON' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

export async function evalCommand(argv: string[]): Promise<void> {
  const { flags: f } = parseArgs('eval', argv, flags, { positionals: 0 });
  if (f.help) return void console.log(usage('eval', 'Evaluate a detector on the held-out split of its data set (VOC and COCO metrics).', flags));
  if (!f.checkpoint) throw new UsageError('kdet eval: --checkpoint is required');
  const file = await readDetectorFile(f.checkpoint);
  await useBackend(f.backend);
  const model = buildDetector(file);
  const meta = file.meta;
  const spec = { ...meta.data, ...(f['test-size'] > 0 ? { testLength: f['test-size'] } : {}) };
  const test = await openDataSet(spec, 'test');
  const m = await evaluateDetector(model, test);
  if (f.json) {
    console.log(JSON.stringify({ map50: m.map50, map50voc07: m.map50voc07, cocoAP: m.cocoAP, perClassAP: m.perClassAP, images: m.images }));
    return;
  }
  console.log(`${meta.preset} on ${spec.name} test (${m.images} images)`);
  console.log(`PASCAL VOC mAP@0.5: all-point ${m.map50.toFixed(4)}, 11-point (VOC2007) ${m.map50voc07.toFixed(4)}`);
  console.log('\nclass            AP@0.5');
  test.classNames.forEach((name, i) => console.log(`${name.padEnd(16)} ${Number.isNaN(m.perClassAP[i]) ? '   n/a' : m.perClassAP[i]!.toFixed(4)}`));
  console.log('\nCOCO:');
  console.log(formatCocoStats(evaluateCoco(m.targets, m.detections, test.classNames)));
}
