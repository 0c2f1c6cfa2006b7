// Debian's Chromium, headless, with WebGPU on SwiftShader (../shared/ENVIRONMENT.md), driven by
// playwright-core; never a downloaded browser. Plus a local server for the demo and the repo.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.KDET_CHROMIUM ?? '/usr/bin/chromium';

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
