// The same seed and backend give the same losses in Node, Deno and Chromium (to 1e-5): three
// wasm distillation steps through the built package, imported unchanged in each runtime
// (examples/steps.mjs). Deno also trains on its built-in WebGPU (SwiftShader), as the README's
// Deno example does.
//
// Node and Deno need nothing outside npm (Deno is the npm `deno` devDependency), so they run
// everywhere; only the Chromium comparison needs the browser (skipped without it, failing under
// KDET_REQUIRE_BROWSER=1), and only Deno's WebGPU run needs a Vulkan driver and loader (skipped
// without them, failing under KDET_REQUIRE_WEBGPU=1).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { itWithVulkan } from '../helpers/vulkan.js';
import { describeWithChromium, launchChromium, serveDemo } from './chromium.js';
import { denoSteps, maxLossDiff, requireDist, run, type StepLoss } from './runtimes.js';

const STEPS = 3;

// Node's losses, computed once and shared by both blocks (whichever asks first starts the run).
let nodeRun: Promise<StepLoss[]> | undefined;
function nodeLosses(): Promise<StepLoss[]> {
  nodeRun ??= (async () => {
    requireDist();
    // Node with its default wasm thread pool; Deno and Chromium run the same kernels serially.
    const { stdout } = await run('node', ['examples/node-steps.mjs', 'wasm', String(STEPS)], { maxBuffer: 1 << 24, timeout: 240_000 });
    return (JSON.parse(stdout) as { losses: StepLoss[] }).losses;
  })();
  return nodeRun;
}

describe('cross-runtime: Node and Deno', () => {
  let node: StepLoss[];

  beforeAll(async () => {
    node = await nodeLosses();
  }, 300_000);

  it('Node trains: the wasm losses are finite and the run moves', () => {
    expect(node).toHaveLength(STEPS);
    for (const s of node) expect(Number.isFinite(s.loss)).toBe(true);
    expect(node[STEPS - 1]!.loss).not.toBe(node[0]!.loss);
  });

  it('Deno (npm deno) imports the package unchanged: wasm losses equal Node’s to 1e-5', async () => {
    const [deno] = await denoSteps(['wasm', String(STEPS)]);
    const d = maxLossDiff(node, deno!.losses);
    console.log(`cross-runtime: Deno vs Node, wasm, ${STEPS} steps: max |Δloss| = ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-5);
  });

  itWithVulkan('Deno trains on its built-in WebGPU (SwiftShader) and follows the wasm losses', async () => {
    // One small step (32-pixel scenes): a software GPU takes about a minute for it here.
    const [gpu, cpu] = await denoSteps(['webgpu', 'wasm', '1', '32']);
    expect(gpu!.backend).toBe('webgpu');
    expect(Number.isFinite(gpu!.losses[0]!.loss)).toBe(true);
    const d = maxLossDiff(gpu!.losses, cpu!.losses);
    console.log(`Deno webgpu vs wasm, 1 step at 32 px: max |Δloss| = ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-3);
  }, 400_000);
});

describeWithChromium('cross-runtime: Chromium', () => {
  let server: Server;
  let url: string;
  let browser: Browser;

  beforeAll(async () => {
    ({ server, url } = await serveDemo());
    browser = await launchChromium();
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  it('Chromium imports the package unchanged: wasm losses equal Node’s to 1e-5', async () => {
    const node = await nodeLosses();
    const page = await browser.newPage();
    await page.goto(`${url}repo/test/runtime/cross-runtime.html`);
    await page.waitForFunction(() => (globalThis as { kdetReady?: boolean }).kdetReady === true);
    const chromium = (await page.evaluate(
      ([steps]) => (globalThis as unknown as { kdetSteps(b: string, n: number, s: number): Promise<unknown> }).kdetSteps('wasm', steps!, 0),
      [STEPS],
    )) as StepLoss[];
    const d = maxLossDiff(node, chromium);
    console.log(`cross-runtime: Chromium vs Node, wasm, ${STEPS} steps: max |Δloss| = ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-5);
  });
});
