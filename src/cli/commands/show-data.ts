import { renderSample, savePng, tile, upscale } from '../../data/draw.js';
import type { AnyDataset } from '../../data/types.js';
import { parseArgs, usage, UsageError, type FlagSpec } from '../args.js';
import { DATA_HELP, describeData, isOwnData, openOwnData, parseDataArg } from '../data-spec.js';
import { prepareOutFile, writeFailed } from '../files.js';
import { openDataSet, type DataSetName, type DataSpec } from '../presets.js';
import { RANGE } from '../validate.js';

/** Widest picture drawn (8192² RGB is 192 MB). */
const MAX_SIDE = 8192;

const flags = {
  data: { type: 'string', default: 'fashion', help: DATA_HELP },
  split: { type: 'string', default: '', help: 'built-in scenes: train (default) or test; VOC: ImageSets/Main/<split>.txt' },
  images: { type: 'string', default: '', help: "COCO: the images' folder (default: the JSON's folder)" },
  size: { type: 'int', default: 128, ...RANGE.size, help: 'built-in scenes: image side in pixels' },
  count: { type: 'int', default: 16, min: 1, max: 1024, help: 'images to draw' },
  'data-seed': { type: 'int', default: 0, ...RANGE.seed, help: 'built-in scenes: seed of the scene generator' },
  zoom: { type: 'int', default: 0, min: 0, max: 16, help: 'extra pixel zoom (0: 2 for the built-in scenes, 1 for your images)' },
  out: { type: 'string', default: 'data.png', help: 'PNG to write' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

export async function showData(argv: string[]): Promise<void> {
  const { flags: f } = parseArgs('show-data', argv, flags, { positionals: 0 });
  if (f.help) return void console.log(usage('show-data', 'Draw images of a data set (built in, or your VOC / COCO folder) with their boxes and labels into a PNG.', flags));
  const arg = parseDataArg('show-data', '--data', f.data);
  let ds: AnyDataset;
  let what: string;
  if (isOwnData(arg)) {
    const opened = await openOwnData(arg, { ...(f.split ? { split: f.split } : {}), ...(f.images ? { images: f.images } : {}) });
    ds = opened.dataset;
    what = describeData(opened.spec);
  } else {
    if (f.images) throw new UsageError(`kdet show-data: --images goes with --data coco:<FILE.json>`);
    const split = f.split || 'train';
    if (split !== 'train' && split !== 'test') throw new UsageError(`kdet show-data: --split of the built-in scenes is train or test, got '${split}'`);
    // Checked before a scene is made: each is drawn at 3× (renderSample) times the zoom.
    const side = Math.ceil(Math.sqrt(f.count)) * Math.max(1, Math.ceil(384 / f.size)) * f.size * (f.zoom || 2);
    if (side > MAX_SIDE) throw new UsageError(`kdet show-data: the picture would be ${side} px wide (${Math.ceil(Math.sqrt(f.count))} scenes of ${f.size} px); at most ${MAX_SIDE}: lower --count, --size or --zoom`);
    const spec: DataSpec = { name: arg.name as DataSetName, size: f.size, trainLength: f.count, testLength: f.count, seed: f['data-seed'] };
    ds = await openDataSet(spec, split);
    what = `${split} scenes of ${arg.name}`;
  }
  const count = Math.min(f.count, ds.length);
  const samples = await Promise.all(Array.from({ length: count }, (_, i) => ds.get(i)));
  // renderSample enlarges small images until their short side is 384 px; --zoom on top of that.
  const zoom = f.zoom || (isOwnData(arg) ? 1 : 2);
  const pictures = samples.map((s) => upscale(renderSample(s, { classNames: ds.classNames }), zoom));
  const columns = Math.ceil(Math.sqrt(count));
  const cell = Math.max(...pictures.map((p) => Math.max(p.width, p.height)));
  if (columns * cell > MAX_SIDE) throw new UsageError(`kdet show-data: the picture would be ${columns * cell} px wide (${columns} images of up to ${cell} px); at most ${MAX_SIDE}: lower --count or --zoom`);
  await prepareOutFile('--out', f.out);
  await savePng(f.out, tile(pictures, columns)).catch(writeFailed(f.out));
  console.log(`wrote ${f.out} (${count} images: ${what})`);
}
