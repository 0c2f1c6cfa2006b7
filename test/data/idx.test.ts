import { gzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { base64ToBytes as decodeBase64 } from '../../src/engine/base64.js';
import { encodeIdx, parseIdx } from '../../src/data/idx.js';

describe('IDX files', () => {
  const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 7);
  it('round-trips raw and gzipped', () => {
    const raw = encodeIdx([2, 3, 4], data);
    expect(parseIdx(raw)).toEqual({ shape: [2, 3, 4], data });
    expect(parseIdx(gzipSync(raw), 'x.gz')).toEqual({ shape: [2, 3, 4], data });
  });
  it('rejects bad magic, types and lengths, naming the file', () => {
    expect(() => parseIdx(Uint8Array.of(1, 2, 3, 4), 'f.idx')).toThrow(/f\.idx: not an IDX file/);
    expect(() => parseIdx(Uint8Array.of(0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0), 'f.idx')).toThrow(/element type 0xd/);
    expect(() => parseIdx(encodeIdx([2, 3, 4], data).subarray(0, 20), 'f.idx')).toThrow(/header says 24/);
  });
});

describe('decodeBase64', () => {
  it('decodes with and without padding', () => {
    const text = (b: string) => new TextDecoder().decode(decodeBase64(b));
    expect(text('aGVsbG8=')).toBe('hello');
    expect(text('aGVsbG8')).toBe('hello');
    expect(text('aGk/Pz4+')).toBe('hi??>>');
    expect(() => decodeBase64('a$==')).toThrow(/invalid base64 character "\$" at offset 1/);
  });
});
