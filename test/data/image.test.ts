import { readFileSync } from 'node:fs';
import { encode as encodePngRaw } from 'fast-png';
import jpeg from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../src/data/errors.js';
import { chwToRgb, decodeImage, encodeJpeg, encodePng, resizeChw, rgbToChw } from '../../src/data/image.js';

const W = 5;
const H = 3;
/** The RGB value expected at pixel p of the test pattern. */
const rgbAt = (p: number): [number, number, number] => [(p * 17) % 256, (p * 41 + 7) % 256, 255 - ((p * 13) % 256)];
const expected = (f: (p: number) => number[]) => Uint8Array.from({ length: W * H * 3 }, (_, i) => f(Math.floor(i / 3))[i % 3]!);
const png = (channels: number, depth: number, data: ArrayLike<number>, palette?: number[][]) =>
  encodePngRaw({
    width: W,
    height: H,
    channels,
    depth: depth as 8,
    data: depth === 16 ? Uint16Array.from(data) : Uint8Array.from(data),
    ...(palette ? { palette } : {}),
  });
/** Packs one sample per pixel of `depth` bits, MSB first, rows padded to a byte (PNG's layout). */
const pack = (values: number[], depth: number) => {
  const rowBytes = Math.ceil((W * depth) / 8);
  const out = new Uint8Array(rowBytes * H);
  values.forEach((v, p) => {
    const x = p % W;
    const y = Math.floor(p / W);
    const bit = x * depth;
    out[y * rowBytes + (bit >> 3)]! |= v << (8 - depth - (bit & 7));
  });
  return out;
};
const pixels = Array.from({ length: W * H }, (_, p) => p);

describe('images', () => {
  const img = { width: 3, height: 2, data: Uint8Array.from({ length: 18 }, (_, i) => i * 14) };

  it('round-trips RGB through CHW float and PNG', () => {
    const chw = rgbToChw(img);
    expect(chw[0]).toBe(0);
    expect(chw[6]).toBeCloseTo(14 / 255, 6); // channel G, first pixel
    expect(chwToRgb(chw, 2, 3)).toEqual(img);
    expect(decodeImage(encodePng(img))).toEqual(img);
  });

  it('rejects unknown, empty, corrupt and truncated bytes with a DataError naming the file', () => {
    expect(() => decodeImage(Uint8Array.of(1, 2, 3), 'x.bin')).toThrow(/^x\.bin: not a JPEG or PNG file \(starts with 01 02 03\)$/);
    expect(() => decodeImage(new Uint8Array(0), 'e.png')).toThrow(/^e\.png: not a JPEG or PNG file \(starts with nothing: the file is empty\)$/);
    expect(() => decodeImage(Uint8Array.of(0xff, 0xd8, 0xff, 0, 1, 2), 'x.jpg')).toThrow(/^x\.jpg: cannot decode image: /);
    const good = encodePng(img);
    expect(() => decodeImage(good.subarray(0, 40), 'dir/cut.png')).toThrow(/^dir\/cut\.png: cannot decode image: /);
    const jpg = encodeJpeg({ width: 16, height: 16, data: new Uint8Array(768).fill(100) });
    expect(() => decodeImage(jpg.subarray(0, 30), 'cut.jpg')).toThrow(/^cut\.jpg: cannot decode image: /);
    for (const bad of [Uint8Array.of(1), good.subarray(0, 40), jpg.subarray(0, 30)]) {
      let err: unknown;
      try {
        decodeImage(bad, 'f');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DataError);
      expect((err as DataError).file).toBe('f');
    }
  });

  describe('decodes every PNG kind to 8-bit RGB', () => {
    const grey = (p: number) => rgbAt(p)[0];
    it.each([
      ['grey 8-bit', () => png(1, 8, pixels.map(grey)), (p: number) => [grey(p), grey(p), grey(p)]],
      ['grey+alpha 8-bit', () => png(2, 8, pixels.flatMap((p) => [grey(p), p * 9])), (p: number) => [grey(p), grey(p), grey(p)]],
      ['RGB 8-bit', () => png(3, 8, pixels.flatMap(rgbAt)), rgbAt],
      ['RGBA 8-bit (alpha dropped, colour under it kept)', () => png(4, 8, pixels.flatMap((p) => [...rgbAt(p), p % 2 ? 0 : 255])), rgbAt],
      ['grey 16-bit, scaled by round(v / 257)', () => png(1, 16, pixels.map((p) => p * 4001)), (p: number) => Array(3).fill(Math.round((p * 4001) / 257))],
      ['grey+alpha 16-bit', () => png(2, 16, pixels.flatMap((p) => [p * 4001, 65535])), (p: number) => Array(3).fill(Math.round((p * 4001) / 257))],
      ['RGB 16-bit', () => png(3, 16, pixels.flatMap((p) => rgbAt(p).map((v) => v * 257 + (v < 255 ? 128 : -128)))), rgbAt],
      ['RGBA 16-bit', () => png(4, 16, pixels.flatMap((p) => [...rgbAt(p).map((v) => v * 257), 0])), rgbAt],
      ['grey 1-bit', () => png(1, 1, pack(pixels.map((p) => p % 2), 1)), (p: number) => Array(3).fill((p % 2) * 255)],
      ['grey 2-bit', () => png(1, 2, pack(pixels.map((p) => p % 4), 2)), (p: number) => Array(3).fill((p % 4) * 85)],
      ['grey 4-bit', () => png(1, 4, pack(pixels.map((p) => p % 16), 4)), (p: number) => Array(3).fill((p % 16) * 17)],
      [
        'palette 8-bit',
        () => png(1, 8, pixels.map((p) => p % 4), [[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 99, 199]]),
        (p: number) => [[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 99, 199]][p % 4]!,
      ],
      [
        'palette 2-bit with transparency',
        () => png(1, 2, pack(pixels.map((p) => p % 3), 2), [[10, 20, 30, 0], [40, 50, 60, 128], [70, 80, 90, 255]]),
        (p: number) => [[10, 20, 30], [40, 50, 60], [70, 80, 90]][p % 3]!,
      ],
    ] as const)('%s', (_, make, want) => {
      const out = decodeImage(make(), 'k.png');
      expect([out.width, out.height]).toEqual([W, H]);
      expect(Array.from(out.data)).toEqual(Array.from(expected(want)));
    });
  });

  it('decodes RGB and greyscale JPEG to RGB', () => {
    // Flat 8x8 blocks so the lossy codec keeps the colours within a few levels.
    const w = 16, h = 8;
    const colour = (x: number) => (x < 8 ? [200, 30, 60] : [20, 180, 90]);
    const rgba = Uint8Array.from({ length: w * h * 4 }, (_, i) => (i % 4 === 3 ? 255 : colour(Math.floor(i / 4) % w)[i % 4]!));
    const bytes = new Uint8Array(jpeg.encode({ width: w, height: h, data: rgba }, 95).data);
    const out = decodeImage(bytes, 'c.jpg');
    expect([out.width, out.height, out.data.length]).toEqual([w, h, w * h * 3]);
    for (const [x, y] of [[2, 3], [12, 5]] as const) {
      const got = Array.from(out.data.subarray((y * w + x) * 3, (y * w + x) * 3 + 3));
      got.forEach((v, c) => expect(Math.abs(v - colour(x)[c]!)).toBeLessThanOrEqual(4));
    }
    // A single-component (greyscale) JPEG, from the VOC fixture.
    const g = decodeImage(new Uint8Array(readFileSync(new URL('../fixtures/data/voc/JPEGImages/000003.jpg', import.meta.url))), 'g.jpg');
    expect(g.data.length).toBe(g.width * g.height * 3);
    for (let p = 0; p < g.width * g.height; p++) expect(g.data[3 * p]).toBe(g.data[3 * p + 2]);
  });

  it('converts 8-bit values to floats k/255 and back exactly, for every k', () => {
    const all = { width: 256, height: 1, data: Uint8Array.from({ length: 768 }, (_, i) => Math.floor(i / 3)) };
    const chw = rgbToChw(all);
    for (let k = 0; k < 256; k++) expect(chw[k]).toBe(Math.fround(k / 255));
    expect(chwToRgb(chw, 1, 256)).toEqual(all);
  });

  it('resizes bilinearly with aligned pixel centres', () => {
    // 1x2 -> 1x4: centres at 0.25, 0.75, 1.25, 1.75 source px -> clamp, 25%, 75%, clamp.
    const out = resizeChw(Float32Array.of(0, 1), 1, 1, 2, 1, 4);
    expect(Array.from(out)).toEqual([0, 0.25, 0.75, 1]);
    // Down by 2: each output is the mean of a 2x2 block.
    const src = Float32Array.of(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    expect(Array.from(resizeChw(src, 1, 4, 4, 2, 2))).toEqual([5, 9, 21, 25]);
  });
});
