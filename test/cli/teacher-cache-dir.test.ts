import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { DirectoryFeatureStore } from '../../src/cli/teacher-cache-dir.js';

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
