// The README's runnable examples, through the built package: the API example (examples/api.mjs)
// and training on one's own VOC folder (examples/own-data.mjs), whose checkpoint `kdet detect`
// must then load. A few steps each: this checks that the snippets run, not what they learn.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireDist, run } from './runtimes.js';

const env = { ...process.env, KDET_THREADS: '1' };

describe('README examples', () => {
  it('examples/api.mjs distils and evaluates through the package entry points', async () => {
    requireDist();
    const { stdout } = await run('node', ['examples/api.mjs', '2', '8'], { env, timeout: 180_000 });
    const m = /student mAP@0\.5 (\S+)/.exec(stdout);
    expect(m).not.toBeNull();
    expect(Number.isFinite(Number(m![1]))).toBe(true);
  }, 200_000);

  it('examples/own-data.mjs trains on a VOC folder and kdet detect loads what it wrote', async () => {
    requireDist();
    const out = join(mkdtempSync(join(tmpdir(), 'kdet-own-')), 'own.safetensors');
    const { stdout } = await run('node', ['examples/own-data.mjs', 'test/fixtures/data/voc', '3', out], { env, timeout: 120_000 });
    expect(stdout).toContain('classes: cat, dog, person');
    expect(existsSync(out)).toBe(true);
    const png = join(tmpdir(), `kdet-own-${process.pid}.png`);
    const det = await run('node', ['bin/kdet.js', 'detect', '--checkpoint', out, '--threshold', '0', 'test/fixtures/data/voc/JPEGImages/000001.jpg', '-o', png], { env, timeout: 60_000 });
    expect(det.stdout).toMatch(/: \d+ detections? ≥ 0 → /);
    expect(existsSync(png)).toBe(true);
  }, 200_000);
});
