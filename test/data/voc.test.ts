import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import { openVoc, parseVocAnnotation, VOC_CLASSES } from '../../src/data/voc.js';

const root = new URL('../fixtures/data/voc', import.meta.url).pathname;
const classNames = ['cat', 'dog', 'person'];
const pixel = (img: Float32Array, h: number, w: number, x: number, y: number) =>
  [0, 1, 2].map((c) => Math.round(img[c * h * w + y * w + x]! * 255));

describe('PASCAL VOC loader', () => {
  it('reads a split with continuous boxes and difficult flags', async () => {
    const ds = await openVoc({ root, split: 'trainval', classNames });
    expect(ds.length).toBe(2);
    expect(ds.ids).toEqual(['000001', '000002']);
    const t = ds.target(1);
    // XML 11..30 x 11..50 (1-based inclusive) is x1 = 10, x2 = 30 in continuous pixels.
    expect(Array.from(t.boxes)).toEqual([10, 10, 30, 50, 50, 5, 70, 25]);
    expect(Array.from(t.labels)).toEqual([3, 1]);
    expect(Array.from(t.difficult!)).toEqual([0, 1]);
  });

  it('decodes baseline, progressive and greyscale JPEG, objects where the boxes say', async () => {
    for (const split of ['trainval', 'test']) {
      const ds = await openVoc({ root, split, classNames });
      for (let i = 0; i < ds.length; i++) {
        const s = await ds.get(i);
        expect(s.image.length).toBe(3 * s.height * s.width);
        for (let k = 0; k < s.labels.length; k++) {
          const [x1, y1, x2, y2] = s.boxes.subarray(4 * k, 4 * k + 4);
          const [r, g, b] = pixel(s.image, s.height, s.width, Math.floor((x1! + x2!) / 2), Math.floor((y1! + y2!) / 2));
          const name = classNames[s.labels[k]! - 1];
          if (split === 'test') expect(Math.abs(r! - g!) + Math.abs(g! - b!)).toBeLessThan(6); // greyscale
          else if (name === 'cat') expect(r! > 180 && g! < 90 && b! < 90).toBe(true);
          else if (name === 'dog') expect(g! > 160 && r! < 90).toBe(true);
          else expect(b! > 180 && r! < 90).toBe(true);
          // Just outside the box is background grey.
          const out = pixel(s.image, s.height, s.width, Math.floor(x1!) - 2 >= 0 ? Math.floor(x1!) - 2 : Math.ceil(x2!) + 1, Math.floor((y1! + y2!) / 2));
          expect(Math.abs(out[0]! - 128)).toBeLessThan(20);
        }
      }
    }
  });

  it('resizes images with their boxes and can drop difficult objects', async () => {
    const ds = await openVoc({ root, split: 'trainval', classNames, resize: { shortSide: 120 }, skipDifficult: true });
    const s = await ds.get(1); // 80x60 -> 160x120
    expect([s.width, s.height]).toEqual([160, 120]);
    expect(Array.from(s.boxes)).toEqual([20, 20, 60, 100]);
    expect(Array.from(s.labels)).toEqual([3]);
    const [r, g, b] = pixel(s.image, 120, 160, 40, 60);
    expect(b! > 180 && r! < 90 && g! < 90).toBe(true);
  });

  it('infers class names, or rejects unknown ones naming file and field', async () => {
    const ds = await openVoc({ root, split: 'trainval', classNames: 'infer' });
    expect(ds.classNames).toEqual(['cat', 'dog', 'person']);
    await expect(openVoc({ root, split: 'trainval', classNames: ['dog', 'person'] })).rejects.toThrow(
      /000001\.xml: annotation\/object\[1\]\/name: unknown class "cat"; the classes are: dog, person \(classNames: 'infer'/,
    );
    expect((await openVoc({ root, split: 'trainval' })).classNames).toEqual(VOC_CLASSES);
    expect(VOC_CLASSES).toHaveLength(20);
  });

  it('works from bytes with a custom reader (as in a browser)', async () => {
    const files = new Map<string, Uint8Array>();
    const read = async (p: string) => {
      if (!files.has(p)) files.set(p, new Uint8Array(readFileSync(`${root}/${p.replace(/^mem\//, '')}`)));
      return files.get(p)!;
    };
    const ds = await openVoc({ root: 'mem', ids: ['000003'], classNames, read });
    expect((await ds.get(0)).width).toBe(40);
    expect([...files.keys()].sort()).toEqual(['mem/Annotations/000003.xml', 'mem/JPEGImages/000003.jpg']);
  });

  it.each([
    ['unclosed.xml', /unclosed\.xml: 22:3: malformed XML: <\/object> closes <bndbox> opened on line 16$/],
    ['bad-number.xml', /bad-number\.xml: annotation\/object\[1\]\/bndbox\/xmax: expected a number, got "five" \(line 19\)$/],
    ['no-bndbox.xml', /no-bndbox\.xml: annotation\/object\[1\]\/bndbox: missing \(line 11\)$/],
    ['bad-difficult.xml', /bad-difficult\.xml: annotation\/object\[1\]\/difficult: expected 0 or 1, got 2 \(line 15\)$/],
    ['no-size.xml', /no-size\.xml: annotation\/size\/width: missing \(line 5\)$/],
  ])('rejects malformed %s with a DataError naming file and field', (file, error) => {
    const path = `${root}/malformed/${file}`;
    expect(() => parseVocAnnotation(readFileSync(path, 'utf8'), path)).toThrow(error);
    expect(() => parseVocAnnotation(readFileSync(path, 'utf8'), path)).toThrow(DataError);
  });

  it('reports a missing split file and a size mismatch', async () => {
    await expect(openVoc({ root, split: 'nope' })).rejects.toThrow(
      /ImageSets\/Main\/nope\.txt: no such split list \(the splits here are: test, trainval; leave the split out/,
    );
    const xml = readFileSync(`${root}/Annotations/000001.xml`, 'utf8').replace('<width>64</width>', '<width>65</width>');
    const read = async (p: string) => (p.endsWith('.xml') ? new TextEncoder().encode(xml) : new Uint8Array(readFileSync(`${root}/JPEGImages/000001.jpg`)));
    const ds = await openVoc({ root: 'x', ids: ['000001'], classNames, read });
    await expect(ds.get(0)).rejects.toThrow(/^x\/Annotations\/000001\.xml: annotation\/size: 65x48 but x\/JPEGImages\/000001\.jpg is 64x48$/);
    await expect(ds.get(0)).rejects.toThrow(DataError);
  });
});
