/**
 * openVoc on the folders users bring: labelImg / CVAT / Roboflow exports
 * (PNG images named by <filename>, no split lists, XML beside the images),
 * and the bad data they contain, each refused or repaired with one clear line.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import { encodeJpeg, encodePng } from '../../src/data/image.js';
import type { RgbImage } from '../../src/data/image.js';
import { openVoc } from '../../src/data/voc.js';

const base = mkdtempSync(join(tmpdir(), 'kdet-voc-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

/** A solid image of the given size. */
const solid = (w: number, h: number, v = 90): RgbImage => ({ width: w, height: h, data: new Uint8Array(w * h * 3).fill(v) });

type Obj = [name: string, xmin: number, ymin: number, xmax: number, ymax: number];
function vocXml(o: { filename?: string; size?: [number, number] | null; objects: Obj[] }): string {
  const size = o.size === null ? '' : `<size><width>${(o.size ?? [40, 30])[0]}</width><height>${(o.size ?? [40, 30])[1]}</height><depth>3</depth></size>`;
  return [
    '<annotation>',
    o.filename !== undefined ? `  <folder>images</folder>\n  <filename>${o.filename}</filename>\n  <path>C:\\Users\\me\\${o.filename}</path>` : '',
    `  ${size}`,
    ...o.objects.map(
      ([name, a, b, c, d]) =>
        `  <object><name>${name}</name><difficult>0</difficult><bndbox><xmin>${a}</xmin><ymin>${b}</ymin><xmax>${c}</xmax><ymax>${d}</ymax></bndbox></object>`,
    ),
    '</annotation>',
  ].join('\n');
}

/** Writes files (path relative to a fresh folder: text or bytes) and returns the folder. */
function folder(files: Record<string, string | Uint8Array>): string {
  const dir = join(base, `set${n++}`);
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), content);
  }
  return dir;
}

async function dataError(p: Promise<unknown> | (() => unknown)): Promise<DataError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    return e as DataError;
  }
  throw new Error('expected a DataError');
}

const warnings = () => {
  const list: string[] = [];
  return { list, onWarning: (m: string) => list.push(m) };
};

describe('openVoc on exported folders', () => {
  it('finds images by <filename> (PNG too), else <id>.jpg/.jpeg/.png, and reads every XML when there is no split list', async () => {
    const root = folder({
      // labelImg: the image is named in <filename>, a PNG with another name.
      'Annotations/b.xml': vocXml({ filename: 'photo of b.png', objects: [['dog', 1, 1, 10, 10]] }),
      'JPEGImages/photo of b.png': encodePng(solid(40, 30, 200)),
      // <filename> is stale (the set was converted to PNG): <id>.png is used.
      'Annotations/a.xml': vocXml({ filename: 'a.jpg', objects: [['cat', 5, 5, 20, 20]] }),
      'JPEGImages/a.png': encodePng(solid(40, 30, 100)),
      // No <filename>: <id>.jpeg.
      'Annotations/c.xml': vocXml({ objects: [['cat', 2, 2, 4, 4]] }),
      'JPEGImages/c.jpeg': encodeJpeg(solid(40, 30, 50)),
    });
    const ds = await openVoc({ root, classNames: 'infer' });
    expect(ds.ids).toEqual(['a', 'b', 'c']); // every Annotations/*.xml, sorted
    expect(ds.classNames).toEqual(['cat', 'dog']);
    expect([0, 1, 2].map((i) => ds.imagePath(i).slice(root.length))).toEqual(['/JPEGImages/a.png', '/JPEGImages/photo of b.png', '/JPEGImages/c.jpeg']);
    const b = await ds.get(1);
    expect([b.width, b.height, Math.round(b.image[0]! * 255)]).toEqual([40, 30, 200]);
    expect(Array.from(b.labels)).toEqual([2]);
  });

  it('reads a flat folder of XML beside its images (labelImg\'s default, Roboflow)', async () => {
    const root = folder({
      'img1.xml': vocXml({ filename: 'img1.png', objects: [['person', 3, 3, 12, 20]] }),
      'img1.png': encodePng(solid(40, 30)),
      'img2.xml': vocXml({ filename: 'img2.jpg', objects: [] }),
      'img2.jpg': encodeJpeg(solid(40, 30)),
      'classes.txt': 'person\n',
    });
    const ds = await openVoc({ root, classNames: ['person'] });
    expect(ds.ids).toEqual(['img1', 'img2']);
    expect(ds.annotationPath(0)).toBe(`${root}/img1.xml`);
    expect(ds.imagePath(1)).toBe(`${root}/img2.jpg`);
    expect(Array.from((await ds.get(0)).boxes)).toEqual([2, 2, 12, 20]);
  });

  it('uses ImageSets/Main/trainval.txt when present and refuses a named split that is not there', async () => {
    const files = {
      'Annotations/1.xml': vocXml({ filename: '1.jpg', objects: [['cat', 1, 1, 5, 5]] }),
      'Annotations/2.xml': vocXml({ filename: '2.jpg', objects: [['cat', 1, 1, 5, 5]] }),
      'JPEGImages/1.jpg': encodeJpeg(solid(40, 30)),
      'JPEGImages/2.jpg': encodeJpeg(solid(40, 30)),
    };
    const withList = folder({ ...files, 'ImageSets/Main/trainval.txt': '2\n', 'ImageSets/Main/cat_trainval.txt': '2  1\n' });
    expect((await openVoc({ root: withList, classNames: ['cat'] })).ids).toEqual(['2']);
    expect((await openVoc({ root: withList, split: 'cat_trainval', classNames: ['cat'] })).ids).toEqual(['2']);
    const noList = folder(files);
    expect((await openVoc({ root: noList, classNames: ['cat'] })).ids).toEqual(['1', '2']);
    const e = await dataError(openVoc({ root: noList, split: 'val', classNames: ['cat'] }));
    expect(e.message).toBe(`${noList}/ImageSets/Main/val.txt: no such split list (there is no ImageSets/Main/ list; leave the split out to use every annotation)`);
    // An id listed in the split whose XML is missing names the list.
    const stale = folder({ ...files, 'ImageSets/Main/trainval.txt': '1\n3\n' });
    expect((await dataError(openVoc({ root: stale, classNames: ['cat'] }))).message).toBe(
      `${stale}/Annotations/3.xml: cannot read annotation: no such file (listed in ${stale}/ImageSets/Main/trainval.txt)`,
    );
  });

  it('refuses, at open time and naming the annotation and the paths tried, an annotation without an image', async () => {
    const root = folder({
      'Annotations/x.xml': vocXml({ filename: 'x-photo.png', objects: [['cat', 1, 1, 5, 5]] }),
      'JPEGImages/y.jpg': encodeJpeg(solid(40, 30)),
    });
    const e = await dataError(openVoc({ root, classNames: ['cat'] }));
    expect(e.file).toBe(`${root}/Annotations/x.xml`);
    const j = `${root}/JPEGImages`;
    expect(e.message).toBe(
      `${root}/Annotations/x.xml: no image found for this annotation; tried ${j}/x-photo.png, ${j}/x.jpg, ${j}/x.jpeg, ${j}/x.png, ${j}/x.JPG, ${j}/x.JPEG, ${j}/x.PNG`,
    );
  });

  it('reports the first annotation without an image and how many more there are', async () => {
    const files: Record<string, string | Uint8Array> = {};
    for (const id of ['a', 'b', 'c', 'd']) files[`Annotations/${id}.xml`] = vocXml({ objects: [] });
    files['JPEGImages/a.jpg'] = encodeJpeg(solid(40, 30));
    files['JPEGImages/c.png'] = encodePng(solid(40, 30));
    const root = folder(files);
    const e = await dataError(openVoc({ root }));
    expect(e.file).toBe(`${root}/Annotations/b.xml`);
    expect(e.what).toMatch(/^no image found for this annotation; tried .*\/b\.jpg, .* \(and 1 more of 4 annotations have no image\)$/);
    // checkImages: false defers the failure to get().
    const ds = await openVoc({ root, checkImages: false });
    await expect(ds.get(1)).rejects.toThrow(/b\.jpg: cannot read image: no such file/);
  });

  it('works in memory with a custom reader and lister (as in a browser)', async () => {
    const files = new Map<string, Uint8Array>([
      ['mem/Annotations/q.xml', new TextEncoder().encode(vocXml({ filename: 'q.png', objects: [['cat', 1, 1, 8, 8]] }))],
      ['mem/JPEGImages/q.png', encodePng(solid(40, 30))],
    ]);
    const read = async (p: string) => files.get(p) ?? Promise.reject(new Error(`404 ${p}`));
    const list = async (dir: string) => {
      const names = [...files.keys()].filter((k) => k.startsWith(dir + '/')).map((k) => k.slice(dir.length + 1));
      return names.length ? names.filter((n) => !n.includes('/')) : Promise.reject(new Error('404'));
    };
    const ds = await openVoc({ root: 'mem', read, list, classNames: 'infer' });
    expect([ds.ids, ds.classNames, ds.imagePath(0)]).toEqual([['q'], ['cat'], 'mem/JPEGImages/q.png']);
    expect((await ds.get(0)).width).toBe(40);
    // Without a lister there is nothing to enumerate: the error says what to pass.
    expect((await dataError(openVoc({ root: 'mem', read }))).message).toBe(
      'mem/Annotations: cannot list the annotations with a custom reader: pass ids, or list, or write mem/ImageSets/Main/trainval.txt',
    );
  });

  it('refuses a folder that is not a VOC set, or does not exist', async () => {
    const empty = folder({ 'readme.txt': 'hi' });
    expect((await dataError(openVoc({ root: empty }))).message).toMatch(/no Annotations\/ folder and no \.xml files/);
    expect((await dataError(openVoc({ root: join(base, 'nowhere') }))).message).toMatch(/nowhere: cannot list this folder/);
    const noXml = folder({ 'Annotations/readme.txt': 'x' });
    expect((await dataError(openVoc({ root: noXml }))).message).toBe(`${noXml}/Annotations: holds no .xml annotations`);
  });

  it('refuses unknown class names with the file, the object, the name and the known list', async () => {
    const root = folder({
      'Annotations/a.xml': vocXml({ filename: 'a.jpg', objects: [['cat', 1, 1, 5, 5], ['Dog', 1, 1, 5, 5]] }),
      'JPEGImages/a.jpg': encodeJpeg(solid(40, 30)),
    });
    const e = await dataError(openVoc({ root, classNames: ['cat', 'dog'] }));
    expect(e.message).toBe(
      `${root}/Annotations/a.xml: annotation/object[2]/name: unknown class "Dog"; the classes are: cat, dog (classNames: 'infer' takes the names found in the annotations)`,
    );
    expect(e.where).toBe('annotation/object[2]/name');
  });

  it('refuses DOCTYPE/ENTITY declarations and malformed XML naming the file and line:column', async () => {
    const evil = folder({
      'Annotations/a.xml': '<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<annotation><filename>&x;</filename></annotation>',
      'JPEGImages/a.jpg': encodeJpeg(solid(4, 4)),
    });
    expect((await dataError(openVoc({ root: evil }))).message).toBe(
      `${evil}/Annotations/a.xml: 2:1: DOCTYPE/entity declarations are not allowed (no entity expansion)`,
    );
    const broken = folder({ 'Annotations/a.xml': '<annotation>\n  <object>\n</annotation>', 'JPEGImages/a.jpg': encodeJpeg(solid(4, 4)) });
    expect((await dataError(openVoc({ root: broken }))).message).toBe(
      `${broken}/Annotations/a.xml: 3:1: malformed XML: </annotation> closes <object> opened on line 2`,
    );
    const latin1 = folder({ 'Annotations/a.xml': Uint8Array.of(...new TextEncoder().encode('<annotation><name>'), 0xe9, ...new TextEncoder().encode('</name></annotation>')) });
    expect((await dataError(openVoc({ root: latin1 }))).message).toBe(`${latin1}/Annotations/a.xml: not UTF-8 text (save it as UTF-8)`);
  });
});

describe('openVoc box policy', () => {
  const image = encodePng(solid(40, 30));
  const objects: Obj[] = [
    ['cat', 1, 1, 10, 10], // fine
    ['cat', -4, 5, 12, 12], // partly outside (left): clipped
    ['cat', 30, 20, 55, 45], // partly outside (right, bottom): clipped
    ['cat', 9, 2, 5, 5], // inverted: no area
    ['cat', 50, 40, 60, 50], // entirely outside: no area
    ['cat', 7, 7, 7, 7], // one pixel (1-based inclusive): fine
  ];

  it('clips boxes partly outside, drops those with no area, and warns once per file with the counts', async () => {
    const root = folder({ 'Annotations/a.xml': vocXml({ filename: 'a.png', objects }), 'JPEGImages/a.png': image });
    const w = warnings();
    const ds = await openVoc({ root, classNames: ['cat'], onWarning: w.onWarning });
    expect(w.list).toEqual([
      `${root}/Annotations/a.xml: 2 boxes clipped to the image; 2 boxes with no area inside the image dropped (annotation/object[4]/bndbox, annotation/object[5]/bndbox)`,
    ]);
    expect(Array.from(ds.target(0).boxes)).toEqual([0, 0, 10, 10, 0, 4, 12, 12, 29, 19, 40, 30, 6, 6, 7, 7]);
    expect(ds.keptObjects(0)).toEqual([0, 1, 2, 5]);
    const s = await ds.get(0);
    expect(Array.from(s.labels)).toEqual([1, 1, 1, 1]);
    expect(s.difficult!.length).toBe(4);
    expect(w.list.length).toBe(1); // get() does not warn again
  });

  it("refuses a box with no area with invalidBoxes: 'error', naming the object", async () => {
    const root = folder({ 'Annotations/a.xml': vocXml({ filename: 'a.png', objects }), 'JPEGImages/a.png': image });
    const e = await dataError(openVoc({ root, classNames: ['cat'], invalidBoxes: 'error', onWarning: () => {} }));
    expect(e.message).toBe(
      `${root}/Annotations/a.xml: annotation/object[4]/bndbox: box xmin 9 ymin 2 xmax 5 ymax 5 has no area (x2 <= x1 or y2 <= y1); to skip such boxes instead, use --invalid-boxes drop (invalidBoxes: 'drop')`,
    );
    const outside = folder({ 'Annotations/a.xml': vocXml({ filename: 'a.png', objects: [objects[4]!] }), 'JPEGImages/a.png': image });
    expect((await dataError(openVoc({ root: outside, classNames: ['cat'], invalidBoxes: 'error' }))).what).toMatch(/lies outside the 40x30 image/);
  });

  it('takes the size from the image when the XML has none (or says 0x0), clipping then', async () => {
    const root = folder({
      'Annotations/a.xml': vocXml({ filename: 'a.png', size: null, objects: [['cat', 30, 1, 50, 10]] }),
      'Annotations/b.xml': vocXml({ filename: 'a.png', size: [0, 0], objects: [['cat', 1, 1, 5, 5]] }),
      'JPEGImages/a.png': image,
    });
    const w = warnings();
    const ds = await openVoc({ root, classNames: ['cat'], onWarning: w.onWarning });
    expect([ds.target(0).width, ds.target(0).height]).toEqual([0, 0]);
    expect(w.list).toEqual([]);
    const s = await ds.get(0);
    expect([s.width, s.height]).toEqual([40, 30]);
    expect(Array.from(s.boxes)).toEqual([29, 0, 40, 10]);
    expect(w.list).toEqual([`${root}/Annotations/a.xml: 1 box clipped to the image`]);
    expect([ds.target(0).width, ds.target(0).height]).toEqual([40, 30]);
    await ds.get(0);
    expect(w.list.length).toBe(1);
    expect((await ds.get(1)).width).toBe(40);
  });

  it('refuses an image whose size disagrees with the annotation, naming both', async () => {
    const root = folder({ 'Annotations/a.xml': vocXml({ filename: 'a.png', size: [41, 30], objects: [] }), 'JPEGImages/a.png': image });
    const ds = await openVoc({ root, classNames: ['cat'] });
    expect((await dataError(ds.get(0))).message).toBe(`${root}/Annotations/a.xml: annotation/size: 41x30 but ${root}/JPEGImages/a.png is 40x30`);
  });

  it('names the image when it cannot be decoded', async () => {
    const root = folder({ 'Annotations/a.xml': vocXml({ filename: 'a.png', objects: [] }), 'JPEGImages/a.png': 'not an image' });
    const ds = await openVoc({ root, classNames: ['cat'] });
    expect((await dataError(ds.get(0))).message).toBe(`${root}/JPEGImages/a.png: not a JPEG or PNG file (starts with 6e 6f 74 20)`);
  });
});
