import { exportCoco, exportVoc } from '../../data/export.js';
import { parseArgs, usage, UsageError, type FlagSpec } from '../args.js';
import { prepareOutDir } from '../files.js';
import { DATA_SETS, openDataSet, type DataSetName, type DataSpec } from '../presets.js';
import { RANGE } from '../validate.js';

const flags = {
  data: { type: 'string', default: 'fashion', choices: DATA_SETS, help: 'built-in data set to write' },
  format: { type: 'string', default: 'voc', choices: ['voc', 'coco'], help: 'voc: Annotations/ + JPEGImages/ + ImageSets/Main/<split>.txt; coco: annotations.json + images/' },
  split: { type: 'string', default: 'train', choices: ['train', 'test'], help: 'which split of the scenes (VOC: also the list file, trainval or test)' },
  count: { type: 'int', default: 100, min: 1, max: 100_000, help: 'images to write (the first ones of the split)' },
  size: { type: 'int', default: 128, ...RANGE.size, help: 'image side in pixels' },
  'data-seed': { type: 'int', default: 0, ...RANGE.seed, help: 'seed of the scene generator (as kdet train --data-seed)' },
  'exact-boxes': { type: 'boolean', default: false, help: "VOC: write box edges as exact fractions instead of VOC's whole pixels (the scenes' boxes are fractional)" },
  'image-format': { type: 'string', default: 'png', choices: ['png', 'jpeg'], help: 'image files (png: lossless)' },
  out: { type: 'string', default: '', help: 'output folder' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

/**
 * `kdet export-data`: write built-in scenes as a real VOC tree or a COCO JSON with its images, to
 * see the layout `--data voc:` / `coco:` expect, or to feed other tools the same scenes.
 */
export async function exportData(argv: string[]): Promise<void> {
  const { flags: f } = parseArgs('export-data', argv, flags, { positionals: 0 });
  if (f.help) return void console.log(usage('export-data', 'Write built-in scenes as a VOC folder or a COCO JSON with images (the layouts --data voc: / coco: read).', flags));
  if (!f.out) throw new UsageError('kdet export-data: --out <DIR> is required');
  const split = f.split as 'train' | 'test';
  const spec: DataSpec = { name: f.data as DataSetName, size: f.size, trainLength: f.count, testLength: f.count, seed: f['data-seed'] };
  await prepareOutDir('--out', f.out);
  const ds = await openDataSet(spec, split);
  if (f['exact-boxes'] && f.format !== 'voc') throw new UsageError('kdet export-data: --exact-boxes is for --format voc (COCO boxes are always exact)');
  const common = { count: f.count, imageFormat: f['image-format'] as 'png' | 'jpeg' };
  const summary = f.format === 'voc'
    ? await exportVoc(ds, f.out, { ...common, split: split === 'train' ? 'trainval' : 'test', boxes: f['exact-boxes'] ? 'exact' : 'round' })
    : await exportCoco(ds, f.out, common);
  console.log(`wrote ${summary.images} ${split} scenes of ${f.data} (${summary.objects} boxes, ${summary.classNames.length} classes) as ${f.format.toUpperCase()} into ${summary.dir}`);
  console.log(f.format === 'voc' ? `train on it: kdet train --data voc:${f.out}` : `train on it: kdet train --data coco:${summary.dir}/annotations.json`);
}
