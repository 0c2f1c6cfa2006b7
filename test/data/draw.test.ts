import { describe, expect, it } from 'vitest';
import { classColour, drawBoxes, drawText, renderSample, tile } from '../../src/data/draw.js';
import { textWidth } from '../../src/data/font.js';
import { decodeImage, encodePng } from '../../src/data/image.js';
import { SyntheticShapes } from '../../src/data/shapes.js';
import { same } from './same.js';

const blank = (w: number, h: number) => ({ width: w, height: h, data: new Uint8Array(w * h * 3) });
const at = (img: { width: number; data: Uint8Array }, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));

describe('pictures', () => {
  it('draws box outlines in the class colour with a label tag', () => {
    const img = blank(100, 100);
    drawBoxes(img, { boxes: [20, 30, 60, 80], labels: [2], scores: [0.875] }, { classNames: ['a', 'bee'], lineWidth: 1, textScale: 1 });
    const c = classColour(2);
    expect(at(img, 20, 50)).toEqual(c); // left edge
    expect(at(img, 59, 50)).toEqual(c); // right edge (x2 - 1)
    expect(at(img, 40, 79)).toEqual(c); // bottom edge
    expect(at(img, 40, 50)).toEqual([0, 0, 0]); // inside untouched
    // Tag "bee 0.88" above the box: 9 px high, text width + 2.
    expect(at(img, 20, 21)).toEqual(c);
    expect(at(img, 20 + textWidth('bee 0.88', 1) + 1, 25)).toEqual(c);
    expect(at(img, 20 + textWidth('bee 0.88', 1) + 3, 25)).toEqual([0, 0, 0]);
  });

  it('skips boxes under the score threshold', () => {
    const img = blank(50, 50);
    drawBoxes(img, { boxes: [10, 10, 20, 20], labels: [1], scores: [0.1] }, { scoreThreshold: 0.5 });
    expect(img.data.every((v) => v === 0)).toBe(true);
  });

  it('draws text glyphs', () => {
    const img = blank(20, 10);
    drawText(img, 'I', 0, 0, [255, 255, 255]);
    expect(at(img, 2, 3)).toEqual([255, 255, 255]); // the I's stem
    expect(at(img, 0, 3)).toEqual([0, 0, 0]);
  });

  it('renders a sample with ground truth and detections, tiles, and encodes PNG', () => {
    const ds = new SyntheticShapes({ length: 2 });
    const s = ds.get(0);
    const a = renderSample(s, { classNames: ds.classNames });
    expect([a.width, a.height]).toEqual([384, 384]);
    const b = renderSample(s, { classNames: ds.classNames, scale: 1, detections: { boxes: s.boxes, labels: s.labels, scores: new Float32Array(s.labels.length).fill(0.5) } });
    const t = tile([a, b, a], 2, 4);
    expect([t.width, t.height]).toEqual([2 * 384 + 12, 2 * 384 + 12]);
    const png = encodePng(t);
    const back = decodeImage(png);
    expect([back.width, back.height]).toEqual([t.width, t.height]);
    expect(same(back.data, t.data)).toBe(true);
  });
});

describe('datasetPicture', () => {
  it('tiles samples of a data set with their boxes and detections', async () => {
    const { datasetPicture } = await import('../../src/data/show.js');
    const ds = new SyntheticShapes({ length: 5, height: 64, width: 64 });
    const seen: number[] = [];
    const pic = await datasetPicture(ds, {
      count: 5, scale: 2,
      detect: (s) => (seen.push(s.id), { boxes: s.boxes, labels: s.labels, scores: new Float32Array(s.labels.length).fill(0.7) }),
    });
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect([pic.width, pic.height]).toEqual([3 * 128 + 16, 2 * 128 + 12]);
    await expect(datasetPicture(ds, { indices: [] })).rejects.toThrow(/no samples/);
  });
});
