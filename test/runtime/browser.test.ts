// The live demo in Debian's Chromium (headless, WebGPU on SwiftShader), driven by playwright-core:
// asked for WebGPU, it trains a few distillation steps in its worker, the loss falls and boxes are
// drawn; on 'auto' it takes wasm over a software adapter, and without WebGPU it says so on screen
// and trains on wasm. Screenshots are kept in
// build/artifacts/. The first-step time (with its parts) and the longest main-thread freeze are
// printed, not asserted (software GPU, shared 2-core machine). Without Chromium the suite is one
// skipped test saying so (a failing one under KDET_REQUIRE_BROWSER=1): it brings its own
// SwiftShader, so Chromium is all this file needs.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM, describeWithChromium, launchChromium, serveDemo } from './chromium.js';

interface DemoState {
  backend: string;
  backendNote: string;
  steps: { step: number; loss: number }[];
  evals: { step: number; map50: number }[];
  studentBoxesDrawn: number;
  teacherBoxesDrawn: number;
  backendMs: number;
  readyMs: number;
  warm: null | { built: number; listed: number; failed: string[]; atMs: number };
  firstStepMs: number;
  firstStepSeconds: number;
  threads: number;
  crossOriginIsolated: boolean;
  workerCrossOriginIsolated: boolean;
  maxFreezeMs: number;
  freezes: { atMs: number; ms: number }[];
  longTasks: { atMs: number; ms: number }[];
  done: boolean;
  error: string;
}

const ARTIFACTS = 'build/artifacts';

async function runDemo(page: Page, url: string, query: string, timeoutMs: number): Promise<DemoState> {
  await page.goto(`${url}?${query}&autostart=1`);
  await page.waitForFunction(() => {
    const d = (globalThis as { kdetDemo?: DemoState }).kdetDemo;
    return !!d && (d.done || d.error !== '');
  }, undefined, { timeout: timeoutMs, polling: 500 });
  await page.waitForTimeout(700); // the charts redraw at most every 500 ms
  return page.evaluate(() => (globalThis as unknown as { kdetDemo: DemoState }).kdetDemo);
}

describeWithChromium('browser demo', () => {
  let server: Server;
  let url: string;
  let browser: Browser;

  beforeAll(async () => {
    ({ server, url } = await serveDemo());
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  it('distils on WebGPU (SwiftShader): the loss falls, boxes are drawn, the page stays live', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Tiny settings: a software GPU takes tens of seconds per step even on small scenes (64 px
    // keeps the 128-px teacher's objects big enough for it to find).
    const s = await runDemo(page, url, 'data=fashion&backend=webgpu&size=64&batch=1&steps=2&evalEvery=2&testImages=2&lr=0.01', 420_000);
    await page.screenshot({ path: `${ARTIFACTS}/demo-webgpu.png`, fullPage: true });
    console.log(
      `demo on WebGPU (${s.backendNote}): first step ${(s.firstStepMs / 1000).toFixed(1)} s after load ` +
        `(backend up at ${(s.backendMs / 1000).toFixed(1)} s, teacher and data at ${(s.readyMs / 1000).toFixed(1)} s, ` +
        `${s.warm ? `${s.warm.built} of ${s.warm.listed} pipelines built ahead at ${(s.warm.atMs / 1000).toFixed(1)} s, ` : ''}the step itself ${s.firstStepSeconds.toFixed(1)} s), ` +
        `losses ${s.steps.map((x) => x.loss.toFixed(4)).join(' → ')}, longest main-thread freeze ${s.maxFreezeMs.toFixed(0)} ms (stalls > 50 ms at ms after load: ${JSON.stringify(s.freezes)}; long tasks: ${JSON.stringify(s.longTasks)}), ` +
        `boxes drawn: teacher ${s.teacherBoxesDrawn}, student ${s.studentBoxesDrawn}`,
    );
    expect(s.error).toBe('');
    expect(errors).toEqual([]);
    expect(s.backend).toBe('webgpu');
    // Served with COOP / COEP (scripts/demo-serve.mjs): the page and its worker are isolated.
    expect(s.crossOriginIsolated).toBe(true);
    expect(s.workerCrossOriginIsolated).toBe(true);
    expect(s.steps).toHaveLength(2);
    expect(s.steps[1]!.loss).toBeLessThan(s.steps[0]!.loss);
    expect(s.evals.length).toBeGreaterThan(0);
    expect(s.teacherBoxesDrawn).toBeGreaterThan(0);
    expect(await page.locator('#lossChart polyline.series').count()).toBeGreaterThan(1);
    await page.close();
  }, 480_000);

  it('on a software WebGPU adapter, backend=auto trains on wasm and says why', async () => {
    // SwiftShader runs WGSL on the CPU several times slower than the wasm kernels; 'auto' is for
    // users, who want the faster backend. The first step after load is printed, not asserted.
    const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
    const s = await runDemo(page, url, 'data=fashion&backend=auto&steps=3&evalEvery=3&testImages=2' /* the page's own scene size and batch */, 180_000);
    console.log(
      `demo, auto on a software adapter (${s.backendNote}): first step ${(s.firstStepMs / 1000).toFixed(1)} s after load ` +
        `(backend up at ${(s.backendMs / 1000).toFixed(1)} s, teacher and data at ${(s.readyMs / 1000).toFixed(1)} s, the step itself ${s.firstStepSeconds.toFixed(1)} s), ` +
        `longest main-thread freeze ${s.maxFreezeMs.toFixed(0)} ms (stalls > 50 ms at ms after load: ${JSON.stringify(s.freezes)}; long tasks: ${JSON.stringify(s.longTasks)})`,
    );
    expect(s.error).toBe('');
    expect(s.backend).toBe('wasm');
    expect(await page.locator('#backendInfo').textContent()).toMatch(/wasm: the WebGPU adapter is a software one \(.*swiftshader.*\)/i);
    expect(s.steps).toHaveLength(3);
    expect(s.steps.every((x) => Number.isFinite(x.loss))).toBe(true);
    await page.close();
  }, 240_000);

  it('without WebGPU says so and trains on wasm; pause and download work', async () => {
    // A Chromium without the WebGPU switches: navigator.gpu gives no adapter.
    const plain = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    try {
      const page = await plain.newPage({ viewport: { width: 1200, height: 1000 } });
      const s = await runDemo(page, url, 'data=fashion&backend=auto&size=64&batch=1&steps=8&evalEvery=4&testImages=4&lr=0.01', 180_000);
      await page.screenshot({ path: `${ARTIFACTS}/demo-wasm.png`, fullPage: true });
      const losses = s.steps.map((x) => x.loss);
      console.log(
        `demo without WebGPU (${s.backendNote}): first step ${(s.firstStepMs / 1000).toFixed(1)} s after load, ` +
          `losses ${losses.map((l) => l.toFixed(3)).join(' ')}, longest main-thread freeze ${s.maxFreezeMs.toFixed(0)} ms (stalls > 50 ms: ${JSON.stringify(s.freezes)}; long tasks: ${JSON.stringify(s.longTasks)}), ` +
          `boxes drawn: teacher ${s.teacherBoxesDrawn}, student ${s.studentBoxesDrawn}`,
      );
      expect(s.error).toBe('');
      expect(s.backend).toBe('wasm');
      // Cross-origin isolated, so the wasm backend may start its thread pool: as many threads as
      // the browser reports cores (one where it reports one).
      expect(s.workerCrossOriginIsolated).toBe(true);
      expect(s.threads).toBe(Math.min(await page.evaluate(() => navigator.hardwareConcurrency), 64));
      expect(await page.locator('#backendInfo').textContent()).toMatch(/wasm: WebGPU is absent/);
      expect(losses).toHaveLength(8);
      const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean(losses.slice(4))).toBeLessThan(mean(losses.slice(0, 4)));
      expect(s.teacherBoxesDrawn).toBeGreaterThan(0);

      // Download the student: a safetensors file (8-byte header length, then JSON).
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
      expect(download.suggestedFilename()).toBe('student.safetensors');
      const path = await download.path();
      const { readFile } = await import('node:fs/promises');
      const bytes = await readFile(path);
      const n = Number(bytes.readBigUInt64LE(0));
      const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
      expect(Object.keys(header).some((k) => k.startsWith('backbone.'))).toBe(true);

      // Pause, then resume: a fresh run stops stepping while paused.
      await page.goto(`${url}?data=shapes&backend=wasm&size=64&batch=1&steps=1000&evalEvery=500&testImages=2&autostart=1`);
      await page.waitForFunction(() => (globalThis as unknown as { kdetDemo: DemoState }).kdetDemo.steps.length >= 2, undefined, { timeout: 60_000 });
      await page.click('#pause');
      await page.waitForTimeout(2000);
      const a = await page.evaluate(() => (globalThis as unknown as { kdetDemo: DemoState }).kdetDemo.steps.length);
      await page.waitForTimeout(2000);
      const b = await page.evaluate(() => (globalThis as unknown as { kdetDemo: DemoState }).kdetDemo.steps.length);
      expect(b).toBe(a);
      expect(await page.locator('#teacherInfo').textContent()).toMatch(/trains alone/);
      await page.click('#pause');
      await page.waitForFunction((n) => (globalThis as unknown as { kdetDemo: DemoState }).kdetDemo.steps.length > n, b, { timeout: 60_000 });
    } finally {
      await plain.close();
    }
  }, 300_000);
});
