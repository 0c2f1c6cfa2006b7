import { describe, expect, it } from 'vitest';
import { chwToRgb, decodeImage, encodePng, resizeChw, rgbToChw } from '../../src/data/image.js';

describe('images', () => {
  const img = { width: 3, height: 2, data: Uint8Array.from({ length: 18 }, (_, i) => i * 14) };

  it('round-trips RGB through CHW float and PNG', () => {
    const chw = rgbToChw(img);
    expect(chw[0]).toBe(0);
    expect(chw[6]).toBeCloseTo(14 / 255, 6); // channel G, first pixel
    expect(chwToRgb(chw, 2, 3)).toEqual(img);
    expect(decodeImage(encodePng(img))).toEqual(img);
  });

  it('rejects unknown and corrupt bytes, naming the file', () => {
    expect(() => decodeImage(Uint8Array.of(1, 2, 3), 'x.bin')).toThrow(/x\.bin: not a JPEG or PNG/);
    expect(() => decodeImage(Uint8Array.of(0xff, 0xd8, 0xff, 0, 1, 2), 'x.jpg')).toThrow(/x\.jpg: cannot decode/);
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
