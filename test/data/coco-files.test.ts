/** openCoco on the JSON files users bring, and the bad data in them. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCoco, parseCocoJson } from '../../src/data/coco.js';
import { DataError } from '../../src/data/errors.js';
import { encodePng } from '../../src/data/image.js';

const base = mkdtempSync(join(tmpdir(), 'kdet-coco-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const png = (w: number, h: number) => encodePng({ width: w, height: h, data: new Uint8Array(w * h * 3).fill(77) });

function folder(files: Record<string, string | Uint8Array | object>): string {
  const dir = join(base, `set${n++}`);
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), content instanceof Uint8Array || typeof content === 'string' ? content : JSON.stringify(content, null, 1));
  }
  return dir;
}

/** A COCO JSON (Roboflow style: categories out of id order, ids sparse). */
const coco = (annotations: object[] = [], images?: object[]) => ({
  images: images ?? [
    { id: 4, file_name: 'a.png', width: 40, height: 30 },
    { id: 9, file_name: 'sub/b.png', width: 20, height: 20 },
  ],
  categories: [
    { id: 12, name: 'zebra' },
    { id: 0, name: 'background-ish' },
    { id: 5, name: 'ant' },
  ],
  annotations,
});

async function dataError(p: Promise<unknown>): Promise<DataError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    return e as DataError;
  }
  throw new Error('expected a DataError');
}

describe('openCoco', () => {
  it('reads images relative to the JSON folder, orders classes by category id and keeps the ids and iscrowd', async () => {
    const dir = folder({
      'train/_annotations.coco.json': coco([
        { id: 1, image_id: 4, category_id: 12, bbox: [1, 2, 10, 5], iscrowd: 0 },
        { id: 2, image_id: 4, category_id: 5, bbox: [20, 10, 5.5, 5.25], iscrowd: 1 },
        { id: 3, image_id: 9, category_id: 0, bbox: [0, 0, 20, 20] },
      ]),
      'train/a.png': png(40, 30),
      'train/sub/b.png': png(20, 20),
    });
    const ds = await openCoco({ annotations: `${dir}/train/_annotations.coco.json` });
    expect(ds.classNames).toEqual(['background-ish', 'ant', 'zebra']);
    expect(ds.categoryIds).toEqual([0, 5, 12]);
    expect(ds.imagePath(1)).toBe(`${dir}/train/sub/b.png`);
    const t = ds.target(0);
    expect(t.id).toBe(4);
    expect(Array.from(t.labels)).toEqual([3, 2]);
    expect(Array.from(t.boxes)).toEqual([1, 2, 11, 7, 20, 10, 25.5, 15.25]);
    expect(Array.from(t.iscrowd!)).toEqual([0, 1]);
    // A result with label k is written back with category id categoryIds[k - 1].
    expect(t.labels[0] && ds.categoryIds[t.labels[0] - 1]).toBe(12);
    const s = await ds.get(1);
    expect([s.width, s.height, Array.from(s.labels)]).toEqual([20, 20, [1]]);
  });

  it('takes images from the folder given, or from parsed JSON content', async () => {
    const dir = folder({ 'annotations/instances.json': coco(), 'train2017/a.png': png(40, 30), 'train2017/sub/b.png': png(20, 20) });
    const e = await dataError(openCoco({ annotations: `${dir}/annotations/instances.json` }));
    expect(e.message).toBe(
      `${dir}/annotations/instances.json: images[0].file_name: ${dir}/annotations/a.png does not exist (and 1 more of 2 images are missing); file_name is taken relative to the JSON's folder unless an images folder is given`,
    );
    const ds = await openCoco({ annotations: `${dir}/annotations/instances.json`, images: `${dir}/train2017` });
    expect((await ds.get(0)).width).toBe(40);
    const parsed = await openCoco({ annotations: parseCocoJson(coco()), images: `${dir}/train2017` });
    expect(parsed.length).toBe(2);
  });

  it.each([
    ['a missing image id', { id: 1, image_id: 3, category_id: 5, bbox: [0, 0, 1, 1] }, 'annotations[1].image_id: no image has id 3'],
    ['an unknown category id', { id: 1, image_id: 4, category_id: 6, bbox: [0, 0, 1, 1] }, 'annotations[1].category_id: no category has id 6'],
    ['a bbox of 3 numbers', { id: 1, image_id: 4, category_id: 5, bbox: [0, 0, 1] }, 'annotations[1].bbox: expected [x, y, width, height], got 3 values'],
    ['a bbox with a string', { id: 1, image_id: 4, category_id: 5, bbox: [0, '0', 1, 1] }, 'annotations[1].bbox[1]: expected a number, got "0"'],
    ['a bbox with null (NaN written by Python)', { id: 1, image_id: 4, category_id: 5, bbox: [0, 0, null, 1] }, 'annotations[1].bbox[2]: expected a number, got null'],
    ['a missing bbox', { id: 1, image_id: 4, category_id: 5 }, 'annotations[1].bbox: expected an array, got nothing'],
  ])('refuses %s naming annotations[i]', async (_, ann, where) => {
    const dir = folder({ 'c.json': coco([{ id: 7, image_id: 4, category_id: 5, bbox: [0, 0, 1, 1] }, ann]), 'a.png': png(40, 30), 'sub/b.png': png(20, 20) });
    expect((await dataError(openCoco({ annotations: `${dir}/c.json` }))).message).toBe(`${dir}/c.json: ${where}`);
  });

  it('refuses an infinite coordinate (1e999 parses to Infinity)', async () => {
    const dir = folder({ 'c.json': JSON.stringify(coco([{ id: 1, image_id: 4, category_id: 5, bbox: [0, 0, 1, 1] }])).replace('[0,0,1,1]', '[0,0,1e999,1]') });
    expect((await dataError(openCoco({ annotations: `${dir}/c.json` }))).message).toBe(`${dir}/c.json: annotations[0].bbox[2]: expected a number, got null`);
  });

  it('names the file and line:column of malformed JSON', async () => {
    const dir = folder({
      'trailing.json': '{\n "images": [],\n "categories": [],\n}\n',
      'double-comma.json': '{"images": [1,, 2]}',
      'cut.json': '{\n "images": [\n  {"id": 1',
      'bom.json': '\ufeff' + JSON.stringify(coco([], [])),
    });
    expect((await dataError(openCoco({ annotations: `${dir}/trailing.json` }))).message).toBe(`${dir}/trailing.json: 3:18: malformed JSON: trailing comma before '}'`);
    expect((await dataError(openCoco({ annotations: `${dir}/double-comma.json` }))).message).toBe(
      `${dir}/double-comma.json: 1:15: malformed JSON: expected a value, found ","`,
    );
    const cut = await dataError(openCoco({ annotations: `${dir}/cut.json` }));
    expect([cut.where, cut.what]).toEqual(['3:11', "malformed JSON: expected ',' or '}', found the end of the file"]);
    expect((await openCoco({ annotations: `${dir}/bom.json` })).length).toBe(0);
    expect((await dataError(openCoco({ annotations: `${dir}/none.json` }))).message).toBe(`${dir}/none.json: cannot read annotations: no such file`);
  });

  it('clips boxes partly outside with one warning for the file, drops boxes with no area (or refuses them)', async () => {
    const anns = [
      { id: 1, image_id: 4, category_id: 5, bbox: [-3, 2, 10, 5] }, // clipped
      { id: 2, image_id: 4, category_id: 5, bbox: [35, 25, 10, 10] }, // clipped
      { id: 3, image_id: 9, category_id: 5, bbox: [2, 2, 0, 5] }, // zero width
      { id: 4, image_id: 9, category_id: 5, bbox: [5, 5, -2, 3] }, // negative width
      { id: 5, image_id: 9, category_id: 5, bbox: [25, 0, 4, 4] }, // entirely outside
      { id: 6, image_id: 9, category_id: 12, bbox: [1, 1, 4, 4] }, // fine
    ];
    const dir = folder({ 'c.json': coco(anns), 'a.png': png(40, 30), 'sub/b.png': png(20, 20) });
    const warned: string[] = [];
    const ds = await openCoco({ annotations: `${dir}/c.json`, onWarning: (m) => warned.push(m) });
    expect(warned).toEqual([
      `${dir}/c.json: 2 boxes clipped to the image; 3 boxes with no area inside the image dropped (annotations[2], annotations[3], annotations[4])`,
    ]);
    expect(Array.from(ds.target(0).boxes)).toEqual([0, 2, 7, 7, 35, 25, 40, 30]);
    expect(Array.from(ds.target(1).labels)).toEqual([3]);
    const e = await dataError(openCoco({ annotations: `${dir}/c.json`, invalidBoxes: 'error', onWarning: () => {} }));
    expect(e.message).toBe(`${dir}/c.json: annotations[2].bbox: box [2, 2, 0, 5] has no area (x2 <= x1 or y2 <= y1); to skip such boxes instead, use --invalid-boxes drop (invalidBoxes: 'drop')`);
  });

  it('refuses an image whose size disagrees with the JSON, naming both', async () => {
    const dir = folder({ 'c.json': coco(), 'a.png': png(40, 31), 'sub/b.png': png(20, 20) });
    const ds = await openCoco({ annotations: `${dir}/c.json` });
    expect((await dataError(ds.get(0))).message).toBe(`${dir}/c.json: images[0]: image id 4 is 40x30 in the JSON but ${dir}/a.png is 40x31`);
  });
});
