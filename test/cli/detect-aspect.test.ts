/**
 * `kdet detect` on an image that is not square, with a model trained on the square built-in
 * scenes: the image keeps its aspect ratio (its long side scaled to the scenes' size, as eval,
 * distill and the browser example do), never stretched to a square, and boxes come back in the
 * image's own pixels.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildDetector, readDetectorFile } from '../../src/cli/load-model.js';
import { chwToRgb, encodePng, rgbToChw } from '../../src/data/image.js';
import { SyntheticShapes } from '../../src/data/shapes.js';
import { kdet } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'kdet-detect-aspect-'));
const ckpt = join(dir, 't', 'best.safetensors');

beforeAll(async () => {
  const t = await kdet('train', '--data', 'shapes', '--size', '64', '--preset', 'tiny', '--train-size', '12', '--test-size', '6', '--steps', '3', '--eval-every', '0', '--out', join(dir, 't'));
  expect(t.code).toBe(0);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('detects on a 64×128 image with the aspect kept, boxes in the image’s pixels', async () => {
  // Two 64² scenes side by side: 128 wide, 64 high.
  const a = new SyntheticShapes({ length: 2, height: 64, width: 64, split: 'test' });
  const [left, right] = [chwToRgb(a.get(0).image, 64, 64), chwToRgb(a.get(1).image, 64, 64)];
  const wide = { width: 128, height: 64, data: new Uint8Array(128 * 64 * 3) };
  for (let y = 0; y < 64; y++) {
    wide.data.set(left.data.subarray(y * 64 * 3, (y + 1) * 64 * 3), y * 128 * 3);
    wide.data.set(right.data.subarray(y * 64 * 3, (y + 1) * 64 * 3), (y * 128 + 64) * 3);
  }
  const png = join(dir, 'wide.png');
  writeFileSync(png, encodePng(wide));
  const r = await kdet('detect', png, '--checkpoint', ckpt, '--threshold', '0', '--out', join(dir, 'drawn'), '--json', join(dir, 'det.json'));
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  const [record] = JSON.parse(readFileSync(join(dir, 'det.json'), 'utf8'));
  expect(record).toMatchObject({ width: 128, height: 64 });
  expect(record.detections.length).toBeGreaterThan(0);

  // What the command answers is the model with the any-size transform on the unstretched image.
  const model = buildDetector(await readDetectorFile(ckpt), { anySize: true });
  expect(model.config.transform).toMatchObject({ minSize: 64, maxSize: 64 });
  const [det] = await model.detectImages([{ image: rgbToChw(wide), height: 64, width: 128 }]);
  model.dispose();
  expect(record.detections.length).toBe(det!.scores.length);
  record.detections.forEach((d: { box: number[]; score: number }, i: number) => {
    expect(d.score).toBeCloseTo(det!.scores[i]!, 4);
    d.box.forEach((v, j) => expect(v).toBeCloseTo(det!.boxes[4 * i + j]!, 1));
    expect(d.box[2]).toBeLessThanOrEqual(128);
    expect(d.box[3]).toBeLessThanOrEqual(64);
  });
}, 120_000);
