import { renderSample, savePng, tile, upscale } from '../../data/draw.js';
import { parseArgs, usage, type FlagSpec } from '../args.js';
import { DATA_SETS, openDataSet, type DataSpec } from '../presets.js';

const flags = {
  data: { type: 'string', default: 'fashion', choices: DATA_SETS, help: 'built-in data set' },
  split: { type: 'string', default: 'train', choices: ['train', 'test'], help: 'which split' },
  size: { type: 'int', default: 128, help: 'image side in pixels' },
  count: { type: 'int', default: 16, help: 'scenes to draw' },
  'data-seed': { type: 'int', default: 0, help: 'seed of the scene generator' },
  zoom: { type: 'int', default: 2, help: 'pixel zoom of the picture' },
  out: { type: 'string', default: 'data.png', help: 'PNG to write' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

export async function showData(argv: string[]): Promise<void> {
  const { flags: f } = parseArgs('show-data', argv, flags);
  if (f.help) return void console.log(usage('show-data', 'Draw scenes of a built-in data set with their boxes and labels into a PNG.', flags));
  const spec: DataSpec = { name: f.data as DataSpec['name'], size: f.size, trainLength: f.count, testLength: f.count, seed: f['data-seed'] };
  const ds = await openDataSet(spec, f.split as 'train' | 'test');
  const pictures = Array.from({ length: f.count }, (_, i) => upscale(renderSample(ds.get(i), { classNames: ds.classNames }), f.zoom));
  await savePng(f.out, tile(pictures, Math.ceil(Math.sqrt(f.count))));
  console.log(`wrote ${f.out} (${f.count} ${f.split} scenes of ${f.data})`);
}
