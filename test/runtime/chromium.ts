// Debian's Chromium, headless, with WebGPU on SwiftShader (../shared/ENVIRONMENT.md), driven by
// playwright-core; never a downloaded browser. Plus a local server for the demo and the repo.
import { accessSync, constants, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { noteSkip } from '../helpers/skip.js';

export const CHROMIUM = process.env.KDET_CHROMIUM ?? '/usr/bin/chromium';

/** KDET_REQUIRE_BROWSER=1 (set by .ci/run): a missing Chromium fails the browser suites. */
export const requireBrowser = process.env.KDET_REQUIRE_BROWSER === '1';

/** Why the browser suites cannot run here, or null when Chromium is there to launch. */
export function chromiumMissing(): string | null {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    if (statSync(CHROMIUM).isFile()) return null;
    throw new Error('not a file');
  } catch {
    return `Chromium not found at ${CHROMIUM} (install it with \`apt-get install chromium\`, or point KDET_CHROMIUM at one)`;
  }
}

/**
 * A describe block that needs Chromium. Without it the block becomes one skipped test whose name
 * says what is missing and how to install it (also printed as one `SKIPPED …` line); under
 * KDET_REQUIRE_BROWSER=1 that test fails instead.
 */
export function describeWithChromium(name: string, body: () => void): void {
  const missing = chromiumMissing();
  if (missing === null) {
    describe(name, body);
    return;
  }
  describe(name, () => {
    if (requireBrowser) {
      it('Chromium is available (KDET_REQUIRE_BROWSER=1)', () => {
        throw new Error(`KDET_REQUIRE_BROWSER=1 but ${missing}`);
      });
    } else {
      const why = `${missing}; set KDET_REQUIRE_BROWSER=1 to make this fail`;
      noteSkip(name, why);
      it.skip(`SKIPPED: ${why}`, () => {});
    }
  });
}

export async function launchChromium(): Promise<Browser> {
  process.env.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'kdet-xdg-'));
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--enable-unsafe-webgpu',
      '--use-webgpu-adapter=swiftshader',
      '--enable-features=Vulkan',
      '--no-sandbox',
      '--disable-gpu-sandbox',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-renderer-backgrounding',
      '--disable-background-timer-throttling',
      // playwright launches with a fresh, empty profile of its own (no --user-data-dir needed).
    ],
  });
}

/** Builds the demo into a fresh folder and serves it (and the repository under /repo/). */
export async function serveDemo(): Promise<{ url: string; server: Server; root: string }> {
  // @ts-expect-error plain-JS build script without declarations
  const { buildDemo } = (await import('../../scripts/demo-build.mjs')) as { buildDemo(out: string): Promise<string> };
  // @ts-expect-error plain-JS server without declarations
  const { serve } = (await import('../../scripts/demo-serve.mjs')) as { serve(root: string, port: number, repo: string | null): Promise<Server> };
  const root = await buildDemo(mkdtempSync(join(tmpdir(), 'kdet-demo-')));
  const server = await serve(root, 0, resolve('.'));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server, root };
}
