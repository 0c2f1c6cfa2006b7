import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { DirectoryFeatureStore, teacherCacheLine } from '../../src/cli/teacher-cache-dir.js';

it('a folder store round-trips features exactly, ignores damaged entries and refuses keys that leave the folder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdet-tc-'));
  const s = new DirectoryFeatureStore(dir);
  const key = '9-0123456789abcdef/3x8x8-fedcba9876543210';
  const v = Float32Array.of(1.5, -0, Number.MIN_VALUE, 3.4028234663852886e38, -7.25);
  expect(await s.get(key, 5)).toBeNull();
  await s.put(key, v);
  const back = (await s.get(key, 5))!;
  expect(new Uint32Array(back.buffer)).toEqual(new Uint32Array(v.buffer)); // bit for bit, -0 included
  expect(await s.get(key, 6)).toBeNull(); // another length: not this entry
  // A truncated file (written by something else) counts as absent, and a put replaces it whole.
  writeFileSync(join(dir, '9-0123456789abcdef', '3x8x8-fedcba9876543210.f32'), new Uint8Array(7));
  expect(await s.get(key, 5)).toBeNull();
  await s.put(key, v);
  expect(Array.from((await s.get(key, 5))!)).toEqual(Array.from(v));
  expect(readdirSync(join(dir, '9-0123456789abcdef'))).toEqual(['3x8x8-fedcba9876543210.f32']); // no temporary files left
  for (const bad of ['../x/3x8x8-00', 'a/b/c', 'abc', '9-01/..']) await expect(s.get(bad, 5)).rejects.toThrow(/malformed key/);
});

it('float16 folders (the family teachers): values come back as their float16, in .f16 files of 2 bytes a value', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdet-tc16-'));
  const s = new DirectoryFeatureStore(dir, { float16: true });
  const key = '9-0123456789abcdef/3x8x8-fedcba9876543210';
  await s.put(key, Float32Array.of(1.5, -0.1, 1 + 2 ** -12, 65504));
  expect(Array.from((await s.get(key, 4))!)).toEqual([1.5, -0.0999755859375, 1, 65504]);
  expect(readdirSync(join(dir, '9-0123456789abcdef'))).toEqual(['3x8x8-fedcba9876543210.f16']);
  expect(readFileSync(join(dir, '9-0123456789abcdef', '3x8x8-fedcba9876543210.f16')).byteLength).toBe(8);
  expect(await s.get(key, 2)).toBeNull(); // another length: not this entry
  // A float32 store of the same folder never reads a float16 entry.
  expect(await new DirectoryFeatureStore(dir).get(key, 4)).toBeNull();
});

it('a bounded folder stops keeping new entries at its bound, counting what is already there', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdet-tcmax-'));
  const entry = new Float32Array(256); // 1 KiB as float32
  const key = (i: number) => `1-00/1x16x16-${i.toString(16).padStart(4, '0')}`;
  const first = new DirectoryFeatureStore(dir, { maxBytes: 3 * 1024 });
  for (let i = 0; i < 2; i++) await first.put(key(i), entry);
  expect(first.full).toBe(false);
  // Another process (a second store on the folder) sees the 2 KiB there: room for one more.
  const second = new DirectoryFeatureStore(dir, { maxBytes: 3 * 1024 });
  await second.put(key(2), entry);
  await second.put(key(3), entry);
  expect(second.full).toBe(true);
  expect(readdirSync(join(dir, '1-00')).sort()).toEqual([0, 1, 2].map((i) => `1x16x16-${i.toString(16).padStart(4, '0')}.f32`));
  expect(await second.get(key(3), 256)).toBeNull();
  expect(teacherCacheLine({ hits: 5, misses: 4 }, second)).toBe(`teacher features: 4 computed, 5 read from ${dir}; the folder is bounded at 0 MB and is full: later images were not kept`);
});
