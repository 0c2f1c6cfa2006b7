/**
 * exportVoc / exportCoco write real data sets that openVoc / openCoco read
 * back: images bit for bit (PNG, 8-bit), boxes exactly (COCO, VOC 'exact') or
 * rounded to integer pixel edges (VOC default).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCoco } from '../../src/data/coco.js';
import { exportCoco, exportVoc, roundBoxEdges, sampleToRgb } from '../../src/data/export.js';
import { fashionScenes } from '../../src/data/fashion-scenes.js';
import type { FashionScenes } from '../../src/data/fashion-scenes.js';
import { chwToRgb, rgbToChw } from '../../src/data/image.js';
import type { DetectionSample } from '../../src/data/types.js';
import { openVoc } from '../../src/data/voc.js';
import { same } from './same.js';

const base = mkdtempSync(join(tmpdir(), 'kdet-export-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let scenes: FashionScenes;
let originals: DetectionSample[];
beforeAll(async () => {
  scenes = await fashionScenes({ split: 'test', length: 6, source: 'embedded' });
  originals = Array.from({ length: 6 }, (_, i) => scenes.get(i));
});

/** The image an 8-bit export must give back: each value rounded to k/255. */
const quantised = (s: DetectionSample) => rgbToChw(chwToRgb(s.image, s.height, s.width));

describe('export', () => {
  it('the scenes have fractional boxes and continuous pixel values (so what rounding happens matters)', () => {
    expect(originals.some((s) => s.boxes.some((v) => !Number.isInteger(v)))).toBe(true);
    expect(originals[0]!.image.some((v) => Math.round(v * 255) !== v * 255)).toBe(true);
    // Quantising moves each value by at most half a level.
    let worst = 0;
    for (const s of originals) {
      const q = quantised(s);
      for (let k = 0; k < q.length; k++) worst = Math.max(worst, Math.abs(q[k]! - s.image[k]!));
    }
    expect(worst).toBeLessThanOrEqual(0.5 / 255 + 1e-7);
  });

  it('writes a VOC tree that openVoc reads back: images bit for bit, boxes rounded to integer pixel edges', async () => {
    const dir = join(base, 'voc');
    const summary = await exportVoc(scenes, dir, { count: 6, imageFormat: 'png' });
    expect(summary.images).toBe(6);
    expect(summary.objects).toBe(originals.reduce((a, s) => a + s.labels.length, 0));
    expect(readdirSync(join(dir, 'JPEGImages')).sort()).toEqual(['000000.png', '000001.png', '000002.png', '000003.png', '000004.png', '000005.png']);
    expect(readFileSync(join(dir, 'ImageSets/Main/trainval.txt'), 'utf8')).toBe('000000\n000001\n000002\n000003\n000004\n000005\n');
    const xml = readFileSync(join(dir, 'Annotations/000000.xml'), 'utf8');
    expect(xml).toMatch(/<filename>000000\.png<\/filename>/);
    expect(xml).toMatch(/<size><width>128<\/width><height>128<\/height><depth>3<\/depth><\/size>/);
    expect(xml).toMatch(/<xmin>\d+<\/xmin><ymin>\d+<\/ymin><xmax>\d+<\/xmax><ymax>\d+<\/ymax>/);

    const warned: string[] = [];
    const back = await openVoc({ root: dir, classNames: scenes.classNames, onWarning: (m) => warned.push(m) });
    expect(warned).toEqual([]);
    expect(back.length).toBe(6);
    for (let i = 0; i < 6; i++) {
      const a = originals[i]!;
      const b = await back.get(i);
      expect([b.width, b.height]).toEqual([a.width, a.height]);
      expect(same(b.image, quantised(a))).toBe(true);
      expect(Array.from(b.labels)).toEqual(Array.from(a.labels));
      // Each edge moves to the nearest integer: at most 0.5 px.
      expect(Array.from(b.boxes)).toEqual(Array.from(a.boxes, (v) => Math.round(v)));
    }

    // Exported again, the (now integer, k/255) data set comes back identical.
    const dir2 = join(base, 'voc2');
    await exportVoc(back, dir2);
    const again = await openVoc({ root: dir2, classNames: scenes.classNames });
    for (let i = 0; i < 6; i++) {
      const [b, c] = [await back.get(i), await again.get(i)];
      expect(same(c.image, b.image)).toBe(true);
      expect(same(c.boxes, b.boxes)).toBe(true);
      expect(readFileSync(join(dir2, 'JPEGImages', `00000${i}.png`))).toEqual(readFileSync(join(dir, 'JPEGImages', `00000${i}.png`)));
    }
  });

  it("with boxes: 'exact' VOC gives back the same float32 boxes", async () => {
    const dir = join(base, 'voc-exact');
    await exportVoc(scenes, dir, { boxes: 'exact', split: 'test' });
    const back = await openVoc({ root: dir, split: 'test', classNames: scenes.classNames });
    for (let i = 0; i < 6; i++) expect(same(back.target(i).boxes, originals[i]!.boxes)).toBe(true);
  });

  it('writes COCO JSON + images/ that openCoco reads back: images bit for bit, boxes exactly', async () => {
    const dir = join(base, 'coco');
    const summary = await exportCoco(scenes, dir, { count: 6 });
    expect(summary.images).toBe(6);
    const json = JSON.parse(readFileSync(join(dir, 'annotations.json'), 'utf8'));
    expect(json.images[0]).toEqual({ id: 0, file_name: 'images/000000.png', width: 128, height: 128 });
    expect(json.categories.map((c: { id: number }) => c.id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const back = await openCoco({ annotations: join(dir, 'annotations.json') });
    expect(back.classNames).toEqual(scenes.classNames);
    for (let i = 0; i < 6; i++) {
      const a = originals[i]!;
      const b = await back.get(i);
      expect(b.id).toBe(a.id);
      expect(same(b.image, quantised(a))).toBe(true);
      expect(same(b.boxes, a.boxes)).toBe(true);
      expect(Array.from(b.labels)).toEqual(Array.from(a.labels));
    }
    // A COCO set exported again keeps its own category ids.
    const dir2 = join(base, 'coco2');
    await exportCoco(back, dir2, { count: 2 });
    const back2 = await openCoco({ annotations: join(dir2, 'annotations.json') });
    expect(back2.categoryIds).toEqual(back.categoryIds);
    expect(same((await back2.get(1)).image, (await back.get(1)).image)).toBe(true);
  });

  it('writes JPEG when asked (lossy, but readable)', async () => {
    const dir = join(base, 'voc-jpeg');
    await exportVoc(scenes, dir, { count: 2, imageFormat: 'jpeg' });
    const back = await openVoc({ root: dir, classNames: scenes.classNames });
    expect(back.imagePath(0)).toBe(`${dir}/JPEGImages/000000.jpg`);
    const b = await back.get(0);
    const ref = sampleToRgb(originals[0]!).data;
    const got = chwToRgb(b.image, b.height, b.width).data;
    let err = 0;
    for (let k = 0; k < ref.length; k++) err += Math.abs(ref[k]! - got[k]!);
    expect(err / ref.length).toBeLessThan(8);
  });

  it('rounds VOC edges to the nearest pixel, keeping at least one pixel inside the image', () => {
    expect(roundBoxEdges(10.4, 20.6, 128)).toEqual([10, 21]);
    expect(roundBoxEdges(10.6, 10.9, 128)).toEqual([10, 11]); // narrower than a pixel
    expect(roundBoxEdges(127.7, 127.9, 128)).toEqual([127, 128]);
    expect(roundBoxEdges(-0.3, 5, 128)).toEqual([0, 5]);
  });
});
