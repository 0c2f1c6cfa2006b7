// The ZIP reader and writer (src/interop/zip.ts): torch.save's layout (64-byte aligned STORED
// records, data descriptors, a ZIP64 end record even for small files) is read; writeZip's output
// reads back with every record aligned; and each structural defect (duplicate names, records
// outside the file or overlapping, sizes that overflow, a bad signature, a CRC mismatch,
// encryption, an unknown method, a DEFLATE size past what DEFLATE can expand) is a clear error
// naming the file.
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../src/interop/crc32.js';
import { readZip, writeZip } from '../../src/interop/zip.js';
import { bytes, fixture, u32 } from './pickle-bytes.js';

const enc = new TextEncoder();
const two = () =>
  writeZip([
    { name: 'a/x', data: enc.encode('hello') },
    { name: 'a/y', data: enc.encode('world!') },
  ]);

/** Offset of the central directory (classic end record, no comment). */
const cdOffset = (z: Uint8Array) => new DataView(z.buffer, z.byteOffset).getUint32(z.length - 22 + 16, true);
const patch32 = (z: Uint8Array, at: number, v: number) => new DataView(z.buffer, z.byteOffset).setUint32(at, v, true);
const patch16 = (z: Uint8Array, at: number, v: number) => new DataView(z.buffer, z.byteOffset).setUint16(at, v, true);

describe('readZip', () => {
  it("reads torch.save's archive: ZIP64 end record, data descriptors, 64-byte aligned records", () => {
    const file = fixture('state-dict.pth');
    // torch writes a ZIP64 end record and locator before the classic one.
    const eocd = file.length - 22;
    expect(new DataView(file.buffer, file.byteOffset).getUint32(eocd - 20, true)).toBe(0x07064b50);
    const zip = readZip(file, 'state-dict.pth');
    expect(zip.entries[0]!.name).toBe('state-dict/data.pkl');
    expect(zip.entries.every((e) => e.method === 0 && e.dataOffset % 64 === 0)).toBe(true);
    expect(new TextDecoder().decode(zip.read('state-dict/version'))).toBe('3\n');
  });

  it('round-trips writeZip, aligned as asked', () => {
    for (const align of [1, 64, 4096]) {
      const z = writeZip([
        { name: 'p/a', data: enc.encode('x'.repeat(100)) },
        { name: 'p/ü', data: new Uint8Array(0) },
        { name: 'p/b', data: enc.encode('y') },
      ], align);
      const r = readZip(z, 'w.zip');
      expect(r.entries.map((e) => e.name)).toEqual(['p/a', 'p/ü', 'p/b']);
      for (const e of r.entries) expect(e.dataOffset % align).toBe(0);
      expect(new TextDecoder().decode(r.read('p/a'))).toBe('x'.repeat(100));
      expect(r.read('p/ü').length).toBe(0);
    }
    expect(() => writeZip([{ name: 'a', data: new Uint8Array(1) }, { name: 'a', data: new Uint8Array(1) }])).toThrow(/duplicate record names/);
  });

  it('crc32 matches the standard check value', () => {
    expect(crc32(enc.encode('123456789'))).toBe(0xcbf43926);
  });

  it.each([
    ['too short', () => bytes('PK'), /kdet\.zip: f\.zip: 2 bytes is too short to be a zip archive/],
    ['not a zip', () => new Uint8Array(100), /not a zip archive \(no end-of-central-directory record\)/],
    ['duplicate names', () => {
      const z = two();
      // Rename the second record to the first's name, in its local header and its central entry.
      const r = readZip(z, 'f.zip');
      z[r.entries[1]!.headerOffset + 30 + 2] = 'x'.charCodeAt(0);
      const cd = cdOffset(z);
      z[cd + 46 + 3 + 46 + 2] = 'x'.charCodeAt(0);
      return z;
    }, /duplicate record name 'a\/x'/],
    ['a record outside the file', () => {
      const z = two();
      patch32(z, cdOffset(z) + 42, 0xffffff00);
      return z;
    }, /record 'a\/x': local header at byte 4294967040 lies outside the file's data/],
    ['a size past the end', () => {
      const z = two();
      const cd = cdOffset(z) + 46 + 3;
      patch32(z, cd + 20, 0x7fffffff);
      patch32(z, cd + 24, 0x7fffffff);
      return z;
    }, /record 'a\/y' \(bytes \d+\.\.\d+\) runs past the end of the file \(\d+ bytes\): truncated/],
    ['a record running into the central directory', () => {
      const z = two();
      const cd = cdOffset(z);
      const second = readZip(z, 'f.zip').entries[1]!;
      patch32(z, cd + 49 + 20, cd - second.dataOffset + 10);
      patch32(z, cd + 49 + 24, cd - second.dataOffset + 10);
      return z;
    }, /record 'a\/y' \(bytes \d+\.\.\d+\) overlaps the central directory/],
    ['overlapping records', () => {
      const z = two();
      const cd = cdOffset(z);
      patch32(z, cd + 20, 200);
      patch32(z, cd + 24, 200);
      return z;
    }, /record 'a\/x' \(bytes \d+\.\.\d+\) overlaps the record 'a\/y'/],
    ['a size at the ZIP64 sentinel without its extra field', () => {
      const z = two();
      patch32(z, cdOffset(z) + 20, 0xffffffff);
      return z;
    }, /entry 'a\/x': sizes point to a ZIP64 extra field that is missing/],
    ['bad central directory signature', () => {
      const z = two();
      z[cdOffset(z) + 46 + 3] = 0;
      return z;
    }, /bad central directory signature at byte \d+ \(entry 1\)/],
    ['bad local header signature', () => {
      const z = two();
      z[readZip(z, 'f.zip').entries[1]!.headerOffset] = 0;
      return z;
    }, /record 'a\/y': bad local header signature/],
    ['a local header naming another record', () => {
      const z = two();
      z[readZip(z, 'f.zip').entries[1]!.headerOffset + 32] = 'q'.charCodeAt(0);
      return z;
    }, /record 'a\/y': its local header names another record/],
    ['more entries than the directory holds', () => {
      const z = two();
      patch16(z, z.length - 22 + 8, 9000);
      patch16(z, z.length - 22 + 10, 9000);
      return z;
    }, /end record declares 9000 entries, more than a \d+-byte central directory can hold/],
    ['a central directory past the end', () => {
      const z = two();
      patch32(z, z.length - 22 + 16, z.length);
      return z;
    }, /central directory \(bytes \d+\.\.\d+\) lies outside the file's \d+ bytes/],
    ['encrypted', () => {
      const z = two();
      patch16(z, cdOffset(z) + 8, 1);
      return z;
    }, /entry 'a\/x' is encrypted/],
    ['an unknown method', () => {
      const z = two();
      patch16(z, cdOffset(z) + 10, 14);
      return z;
    }, /entry 'a\/x' uses compression method 14 \(kdet reads stored and deflate records\)/],
    ['a DEFLATE bomb', () => {
      const z = two();
      const cd = cdOffset(z);
      patch16(z, cd + 10, 8);
      patch32(z, cd + 24, 0x7fffffff);
      return z;
    }, /entry 'a\/x' declares 2147483647 bytes from 5 compressed, more than DEFLATE can expand/],
    ['ZIP64 sizes past 2^53', () => zip64([2n ** 60n, 3n]), /entry 'a': size 1152921504606846976 overflows/],
    ['a ZIP64 extra field too short', () => zip64([3n]), /entry 'a': ZIP64 extra field is too short for its compressed size/],
  ])('refuses %s', (_, make, message) => {
    expect(() => readZip(make(), 'f.zip')).toThrow(message);
  });

  it('reads a ZIP64 extra field with exact sizes', () => {
    const r = readZip(zip64([3n, 3n]), 'f.zip');
    expect(new TextDecoder().decode(r.read('a'))).toBe('abc');
  });

  it('a changed data byte fails the CRC check when the record is read', () => {
    const z = two();
    const r = readZip(z, 'f.zip');
    z[r.entries[0]!.dataOffset] ^= 1;
    expect(() => r.read('a/x')).toThrow(/kdet\.zip: f\.zip: record 'a\/x' fails its CRC-32 check \(0x[0-9a-f]{8}, the directory says 0x[0-9a-f]{8}\): the file is corrupted/);
    expect(() => r.read('a/z')).toThrow("kdet.zip: f.zip: no record 'a/z' in the archive");
  });
});

/** One stored record 'a' = 'abc', its sizes given only in a ZIP64 extra field (`sizes`: size, compressed size). */
function zip64(sizes: bigint[]): Uint8Array {
  const data = bytes('abc');
  const extra = new Uint8Array(4 + 8 * sizes.length);
  const ev = new DataView(extra.buffer);
  ev.setUint16(0, 1, true);
  ev.setUint16(2, 8 * sizes.length, true);
  sizes.forEach((s, i) => ev.setBigUint64(4 + 8 * i, s, true));
  const local = bytes(u32(0x04034b50), [45, 0, 0, 0, 0, 0, 0, 0, 0, 0], u32(crc32(data)), u32(0xffffffff), u32(0xffffffff), [1, 0, 0, 0], 'a', data);
  const central = bytes(u32(0x02014b50), [45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0], u32(crc32(data)), u32(0xffffffff), u32(0xffffffff), [1, 0], [extra.length, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], u32(0), 'a', extra);
  const eocd = bytes(u32(0x06054b50), [0, 0, 0, 0, 1, 0, 1, 0], u32(central.length), u32(local.length), [0, 0]);
  return bytes(local, central, eocd);
}
