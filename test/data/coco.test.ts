import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openCoco, parseCocoJson } from '../../src/data/coco.js';
import { DataError } from '../../src/data/errors.js';
import { decodeImage } from '../../src/data/image.js';

const dir = new URL('../fixtures/data/coco/', import.meta.url).pathname;
const annotations = `${dir}annotations.json`;
const pixel = (img: Float32Array, h: number, w: number, x: number, y: number) =>
  [0, 1, 2].map((c) => Math.round(img[c * h * w + y * w + x]! * 255));

describe('COCO loader', () => {
  it('maps sparse category ids to labels in id order and keeps crowd flags', async () => {
    const ds = await openCoco({ annotations, imageDir: `${dir}images` });
    expect(ds.length).toBe(3);
    expect(ds.classNames).toEqual(['cat', 'dog']);
    expect(ds.categoryIds).toEqual([3, 7]);
    const t = ds.target(1);
    expect(t.id).toBe(5);
    expect(Array.from(t.boxes)).toEqual([5, 5, 25, 35, 30, 2, 48, 20]);
    expect(Array.from(t.labels)).toEqual([2, 2]);
    expect(Array.from(t.iscrowd!)).toEqual([0, 1]);
    expect(ds.target(2).labels.length).toBe(0);
  });

  it('decodes PNG, JPEG and palette PNG with objects where the boxes say', async () => {
    const ds = await openCoco({ annotations, imageDir: `${dir}images`, skipCrowd: true });
    const a = await ds.get(0);
    expect(pixel(a.image, 48, 64, 14, 18)).toEqual([230, 40, 40]); // cat, lossless PNG
    expect(pixel(a.image, 48, 64, 48, 25)).toEqual([40, 200, 40]); // dog
    const b = await ds.get(1);
    expect(b.labels.length).toBe(1); // crowd dropped from the sample
    const [r, g] = pixel(b.image, 40, 50, 15, 20);
    expect(g! > 170 && r! < 80).toBe(true);
    const c = await ds.get(2);
    expect(pixel(c.image, 32, 32, 3, 3)).toEqual([128, 128, 128]);
  });

  it('decodes 16-bit greyscale PNG to 8-bit RGB', () => {
    const img = decodeImage(new Uint8Array(readFileSync(`${dir}images/grey16.png`)));
    expect(Array.from(img.data.subarray(0, 3))).toEqual([156, 156, 156]); // 40000 >> 8
  });

  it('resizes images and boxes', async () => {
    const ds = await openCoco({ annotations, imageDir: `${dir}images`, resize: { height: 96, width: 32 } });
    const a = await ds.get(0); // 64x48 -> 32 wide, 96 high
    expect([a.width, a.height]).toEqual([32, 96]);
    expect(Array.from(a.boxes.subarray(0, 4))).toEqual([2, 12, 12, 60]);
  });

  it('defaults area and iscrowd, and rejects malformed JSON naming the field', () => {
    const base = () => ({
      images: [{ id: 1, file_name: 'a.png', width: 4, height: 4 }],
      categories: [{ id: 1, name: 'x' }],
      annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 2, 3] }] as Record<string, unknown>[],
    });
    expect(parseCocoJson(base()).annotations[0]).toMatchObject({ area: 6, iscrowd: 0 });
    const bad = (edit: (j: ReturnType<typeof base>) => void) => {
      const j = base();
      edit(j);
      return () => parseCocoJson(JSON.stringify(j), 'ann.json');
    };
    expect(() => parseCocoJson('{', 'ann.json')).toThrow(/^ann\.json: 1:2: malformed JSON: expected a double-quoted property name, found the end of the file$/);
    expect(bad((j) => (j.annotations[0]!.bbox = [0, 0, 1]))).toThrow(/ann\.json: annotations\[0\]\.bbox: expected \[x, y, width, height\]/);
    expect(bad((j) => (j.annotations[0]!.bbox = [0, 0, 'a', 1]))).toThrow(/annotations\[0\]\.bbox\[2\]: expected a number/);
    expect(bad((j) => (j.annotations[0]!.image_id = 9))).toThrow(/annotations\[0\]\.image_id: no image has id 9/);
    expect(bad((j) => (j.annotations[0]!.category_id = 9))).toThrow(/annotations\[0\]\.category_id: no category has id 9/);
    expect(bad((j) => (j.annotations[0]!.iscrowd = 2))).toThrow(/annotations\[0\]\.iscrowd: expected 0 or 1/);
    expect(bad((j) => (j.annotations[0]!.bbox = [0, 0, -1, 1]))).toThrow(/annotations\[0\]\.bbox: width and height must not be negative/);
    expect(bad((j) => j.images.push({ id: 1, file_name: 'b.png', width: 1, height: 1 }))).toThrow(/images\[1\]\.id: duplicate id 1/);
    expect(bad((j) => ((j.images[0] as Record<string, unknown>).file_name = 3))).toThrow(/images\[0\]\.file_name: expected a non-empty string/);
    expect(bad((j) => ((j as Record<string, unknown>).categories = {}))).toThrow(/ann\.json: categories: expected an array, got an object/);
    expect(bad((j) => (j.annotations[0]!.image_id = 9))).toThrow(DataError);
  });
});
