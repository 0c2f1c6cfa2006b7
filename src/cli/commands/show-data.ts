import { renderSample, savePng, tile, upscale } from '../../data/draw.js';
import { parseArgs, usage, UsageError, type FlagSpec } from '../args.js';
import { prepareOutFile, writeFailed } from '../files.js';
import { DATA_SETS, openDataSet, type DataSpec } from '../presets.js';
import { RANGE } from '../validate.js';

/** Widest picture drawn (8192² RGB is 192 MB). */
const MAX_SIDE = 8192;

const flags = {
  data: { type: 'string', default: 'fashion', choices: DATA_SETS, help: 'built-in data set' },
  split: { type: 'string', default: 'train', choices: ['train', 'test'], help: 'which split' },
  size: { type: 'int', default: 128, ...RANGE.size, help: 'image side in pixels' },
  count: { type: 'int', default: 16, min: 1, max: 1024, help: 'scenes to draw' },
  'data-seed': { type: 'int', default: 0, ...RANGE.seed, help: 'seed of the scene generator' },
  zoom: { type: 'int', default: 2, ...RANGE.zoom, help: 'pixel zoom of the picture' },
  out: { type: 'string', default: 'data.png', help: 'PNG to write' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

export async function showData(argv: string[]): Promise<void> {
  const { flags: f } = parseArgs('show-data', argv, flags, { positionals: 0 });
  if (f.help) return void console.log(usage('show-data', 'Draw scenes of a built-in data set with their boxes and labels into a PNG.', flags));
  const side = Math.ceil(Math.sqrt(f.count)) * f.size * f.zoom;
  if (side > MAX_SIDE) throw new UsageError(`kdet show-data: the picture would be ${side} px wide (${Math.ceil(Math.sqrt(f.count))} scenes of ${f.size} px at zoom ${f.zoom}); at most ${MAX_SIDE}: lower --count, --size or --zoom`);
  await prepareOutFile('--out', f.out);
  const spec: DataSpec = { name: f.data as DataSpec['name'], size: f.size, trainLength: f.count, testLength: f.count, seed: f['data-seed'] };
  const ds = await openDataSet(spec, f.split as 'train' | 'test');
  const pictures = Array.from({ length: f.count }, (_, i) => upscale(renderSample(ds.get(i), { classNames: ds.classNames }), f.zoom));
  await savePng(f.out, tile(pictures, Math.ceil(Math.sqrt(f.count)))).catch(writeFailed(f.out));
  console.log(`wrote ${f.out} (${f.count} ${f.split} scenes of ${f.data})`);
}
