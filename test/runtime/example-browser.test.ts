// examples/browser/ in Debian's Chromium, served as `npm run example:browser` serves it (a static
// server rooted at the repository, scripts/serve-static.mjs), through the built package's dist/ only:
// the page detects in its sample scene at once; an image given to its file input (a test scene,
// then a cropped, enlarged JPEG copy of it, which the page letterboxes) gets boxes drawn on the
// canvas and listed, in the image's own pixels; the threshold slider, the model input and drag
// and drop work;
// ?backend=webgpu uses WebGPU where there is an adapter and falls back to wasm, saying so,
// where there is none. A screenshot is kept in build/artifacts/example-browser.png.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import jpeg from 'jpeg-js';
import { chromium, type Browser, type Page } from 'playwright-core';
import { chwToRgb, encodePng, fashionScenes, type RgbImage } from '../../src/data/index.js';
import { CHROMIUM, describeWithChromium, launchChromium } from './chromium.js';
import { requireDist } from './runtimes.js';

interface Detection {
  label: number;
  className: string;
  score: number;
  box: [number, number, number, number];
  colour: [number, number, number];
}
interface ExampleState {
  ready: boolean;
  busy: boolean;
  runs: number;
  backend: string;
  backendNote: string;
  model: { name: string; size: number; classNames: string[] } | null;
  image: { name: string; width: number; height: number } | null;
  threshold: number;
  detections: Detection[];
  allDetections: Detection[];
  display: { scale: number; width: number; height: number } | null;
  letterbox: { size: number; scale: number; offsetX: number; offsetY: number } | null;
  timing: Record<string, number>;
  error: string;
}

const ARTIFACTS = 'build/artifacts';
const SCENE = 9; // test scene 9 (seed 0, 128 px): one Ankle boot, which the teacher finds at 0.98

const exampleState = (page: Page): Promise<ExampleState> => page.evaluate(() => (globalThis as unknown as { kdetExample: ExampleState }).kdetExample);

/** Waits until the page has run `runs` detections (or failed) and is idle. */
async function settled(page: Page, runs: number, timeout = 30_000): Promise<ExampleState> {
  await page.waitForFunction(
    (n) => {
      const s = (globalThis as { kdetExample?: ExampleState }).kdetExample;
      return !!s && !s.busy && (s.runs >= n || s.error !== '');
    },
    runs,
    { timeout, polling: 100 },
  );
  return exampleState(page);
}

/** Fraction of the pixels along a detection's left and bottom edges on the canvas that are its class colour. */
function edgeColourFraction(page: Page, d: Detection): Promise<number> {
  return page.evaluate((d) => {
    const s = (globalThis as unknown as { kdetExample: ExampleState }).kdetExample.display!.scale;
    const canvas = document.getElementById('canvas') as HTMLCanvasElement;
    const px = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    const [x1, y1, x2, y2] = d.box.map((v) => Math.round(v * s)) as [number, number, number, number];
    let hit = 0;
    let all = 0;
    const at = (x: number, y: number): void => {
      const o = 4 * (y * canvas.width + x);
      all++;
      if (px[o] === d.colour[0] && px[o + 1] === d.colour[1] && px[o + 2] === d.colour[2]) hit++;
    };
    for (let y = y1 + 4; y < y2 - 4; y++) at(x1, y);
    for (let x = x1 + 4; x < x2 - 4; x++) at(x, y2 - 1);
    return hit / all;
  }, d);
}

function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.max(0, Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!));
  const h = Math.max(0, Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!));
  const area = (r: readonly number[]): number => (r[2]! - r[0]!) * (r[3]! - r[1]!);
  return (w * h) / (area(a) + area(b) - w * h);
}

/** Rows [0, rows) of an image, enlarged `k` times (nearest neighbour). */
function cropAndEnlarge(img: RgbImage, rows: number, k: number): RgbImage {
  const width = img.width * k;
  const height = rows * k;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(img.data.subarray(3 * (Math.floor(y / k) * img.width + Math.floor(x / k)), 3 * (Math.floor(y / k) * img.width + Math.floor(x / k)) + 3), 3 * (y * width + x));
  }
  return { width, height, data };
}

function toJpeg(img: RgbImage): Uint8Array {
  const rgba = new Uint8Array(img.width * img.height * 4);
  for (let p = 0; p < img.width * img.height; p++) rgba.set([img.data[3 * p]!, img.data[3 * p + 1]!, img.data[3 * p + 2]!, 255], 4 * p);
  return jpeg.encode({ data: rgba, width: img.width, height: img.height }, 95).data;
}

describeWithChromium('browser example (examples/browser/index.html)', () => {
  let server: Server;
  let url: string;
  let browser: Browser;
  let dir: string;
  let truth: { box: number[]; className: string };

  beforeAll(async () => {
    requireDist();
    // @ts-expect-error plain-JS server without declarations
    const { serveStatic } = (await import('../../scripts/serve-static.mjs')) as { serveStatic(root: string, port: number): Promise<Server> };
    server = await serveStatic(resolve('.'), 0);
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/examples/browser/`;
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
    // The images a user would pick: a test scene as PNG, and its top 96 rows enlarged 2× as JPEG
    // (256 × 192: the page letterboxes it to 128 × 128 with 16 px of padding above and below).
    dir = mkdtempSync(join(tmpdir(), 'kdet-example-'));
    const scenes = await fashionScenes({ split: 'test', length: 300, seed: 0, size: 128 });
    const scene = scenes.get(SCENE);
    expect(Array.from(scene.labels)).toEqual([10]);
    truth = { box: Array.from(scene.boxes), className: scenes.classNames[scene.labels[0]! - 1]! };
    expect(truth.box[3]).toBeLessThan(96);
    const rgb = chwToRgb(scene.image, 128, 128);
    writeFileSync(join(dir, 'scene.png'), encodePng(rgb));
    writeFileSync(join(dir, 'photo.jpg'), toJpeg(cropAndEnlarge(rgb, 96, 2)));
  });
  afterAll(async () => {
    await browser?.close();
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('detects in the sample at once, then in images given to the file input: boxes drawn, listed, in image pixels', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    const t0 = Date.now();
    await page.goto(url);

    // The built-in sample (test scene 5): a Trouser and an Ankle boot, found by the teacher on wasm.
    let s = await settled(page, 1);
    const loadMs = Date.now() - t0;
    expect(s.error).toBe('');
    expect(s.ready).toBe(true);
    expect(s.backend).toBe('wasm');
    expect(s.model).toMatchObject({ name: 'teacher.safetensors', size: 128 });
    expect(s.image).toEqual({ name: 'sample.png', width: 128, height: 128 });
    expect(s.detections.map((d) => d.className).sort()).toEqual(['Ankle boot', 'Trouser']);
    for (const d of s.detections) expect(await edgeColourFraction(page, d)).toBeGreaterThan(0.6);
    expect(await page.locator('#canvas').getAttribute('data-boxes')).toBe('2');
    expect(await page.locator('#detections tbody tr').count()).toBe(2);
    expect(await page.locator('body').getAttribute('data-state')).toBe('ready');
    const sampleMs = s.timing.detectMs!;

    // The threshold slider filters what is drawn and listed, without running the model again.
    await page.locator('#threshold').fill('0.95');
    s = await exampleState(page);
    expect(s.runs).toBe(1);
    expect(s.detections.map((d) => d.className)).toEqual(['Trouser']);
    expect(await page.locator('#canvas').getAttribute('data-boxes')).toBe('1');
    // Above every score: no detection, but the best candidates are still drawn (dashed) and said so.
    await page.locator('#threshold').fill('1');
    s = await exampleState(page);
    expect(s.detections).toEqual([]);
    expect(await page.locator('#detections').getAttribute('data-count')).toBe('0');
    expect(Number(await page.locator('#canvas').getAttribute('data-boxes'))).toBe(Math.min(3, s.allDetections.length));
    expect(await page.locator('#detections tbody tr.below').count()).toBe(Math.min(3, s.allDetections.length));
    expect(await page.locator('#status').textContent()).toMatch(/No detection scores ≥ 1\.00 .*drawn dashed/);
    await page.locator('#threshold').fill('0.5');

    // A scene picked with the file input: one Ankle boot, boxed where it is.
    await page.setInputFiles('#image', join(dir, 'scene.png'));
    s = await settled(page, 2);
    expect(s.error).toBe('');
    expect(s.image).toEqual({ name: 'scene.png', width: 128, height: 128 });
    expect(s.detections.length).toBeGreaterThan(0);
    const top = s.detections[0]!;
    expect(top.className).toBe(truth.className);
    expect(iou(top.box, truth.box)).toBeGreaterThan(0.6);
    expect(await edgeColourFraction(page, top)).toBeGreaterThan(0.6);
    expect(await page.locator('#detections tbody tr').first().getAttribute('data-class')).toBe(truth.className);

    // A non-square, larger JPEG: letterboxed (scale 1/2, 16 px padding above), boxes in its own pixels.
    await page.setInputFiles('#image', join(dir, 'photo.jpg'));
    s = await settled(page, 3);
    expect(s.error).toBe('');
    expect(s.image).toEqual({ name: 'photo.jpg', width: 256, height: 192 });
    expect(s.letterbox).toEqual({ size: 128, scale: 0.5, offsetX: 0, offsetY: 16 });
    expect(s.display!.width).toBe(512);
    const big = s.detections[0]!;
    expect(big.className).toBe(truth.className);
    expect(iou(big.box, truth.box.map((v) => 2 * v))).toBeGreaterThan(0.6);
    expect(iou(big.box, top.box.map((v) => 2 * v))).toBeGreaterThan(0.8);
    expect(await edgeColourFraction(page, big)).toBeGreaterThan(0.6);
    await page.screenshot({ path: `${ARTIFACTS}/example-browser.png`, fullPage: true });

    // A checkpoint given to the model input (here the teacher again, as a user's student would be).
    await page.setInputFiles('#model', 'models/teacher.safetensors');
    s = await settled(page, 4);
    expect(s.error).toBe('');
    expect(s.detections[0]!.className).toBe(truth.className);

    // Drag and drop: a dropped image is detected in like a picked one.
    await page.evaluate(async () => {
      const blob = await (await fetch('sample.png')).blob();
      const dt = new DataTransfer();
      dt.items.add(new File([blob], 'dropped.png', { type: 'image/png' }));
      document.getElementById('stage')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    s = await settled(page, 5);
    expect(s.error).toBe('');
    expect(s.image).toEqual({ name: 'dropped.png', width: 128, height: 128 });
    expect(s.detections.map((d) => d.className).sort()).toEqual(['Ankle boot', 'Trouser']);

    // The shipped student, one click away, finds the sample's two items too.
    await page.locator('#student').click();
    s = await settled(page, 6);
    expect(s.error).toBe('');
    expect(s.model).toMatchObject({ name: 'student.safetensors', size: 128 });
    expect(s.detections.map((d) => d.className).sort()).toEqual(['Ankle boot', 'Trouser']);

    console.log(`example page: first detection on screen ${loadMs} ms after navigation (the sample's detection itself ${sampleMs.toFixed(0)} ms on ${s.backendNote})`);
    expect(errors).toEqual([]);
    await page.close();
  }, 90_000);

  it("the README's minimal page (examples/browser/minimal.html) detects the sample's two items and draws them", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const logged = page.waitForEvent('console', { predicate: (m) => /detections$/.test(m.text()), timeout: 60_000 });
    await page.goto(url.replace(/examples\/browser\/$/, 'examples/browser/minimal.html'));
    expect((await logged).text()).toBe('2 detections');
    // Boxes were stroked onto the sample: the canvas holds lime edge pixels, a colour the scene lacks.
    const lime = await page.evaluate(() => {
      const c = document.getElementById('view') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let k = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i]! < 90 && d[i + 1]! > 200 && d[i + 2]! < 90) k++;
      return k;
    });
    expect(lime).toBeGreaterThan(100);
    expect(errors).toEqual([]);
    await page.close();
  }, 90_000);

  it('?backend=webgpu without a WebGPU adapter falls back to wasm and says so', async () => {
    const plain = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    try {
      const page = await plain.newPage();
      await page.goto(`${url}?backend=webgpu&threshold=0.9`);
      const s = await settled(page, 1);
      expect(s.error).toBe('');
      expect(s.backend).toBe('wasm');
      expect(s.backendNote).toMatch(/WebGPU is not available here .*wasm/);
      expect(await page.locator('#backend').inputValue()).toBe('wasm');
      expect(await page.locator('#timing').textContent()).toMatch(/WebGPU is not available here/);
      expect(s.threshold).toBe(0.9);
      expect(s.detections.map((d) => d.className)).toEqual(['Trouser', 'Ankle boot']);
    } finally {
      await plain.close();
    }
  }, 60_000);

  it('?backend=webgpu on an adapter (SwiftShader here) finds what wasm finds', async () => {
    const page = await browser.newPage();
    await page.goto(`${url}?backend=webgpu`);
    const s = await settled(page, 1, 120_000);
    expect(s.error).toBe('');
    expect(s.backend).toBe('webgpu');
    console.log(`example page on ${s.backendNote}: detection ${s.timing.detectMs!.toFixed(0)} ms (first run: pipelines compile)`);
    expect(s.detections.map((d) => d.className)).toEqual(['Trouser', 'Ankle boot']);
    await page.close();
  }, 150_000);
});
