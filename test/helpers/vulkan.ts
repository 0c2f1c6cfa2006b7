/**
 * What a WebGPU run without a GPU needs on Linux, checked without starting one: a Vulkan driver
 * (SwiftShader's, which Debian's chromium ships at /usr/lib/chromium/vk_swiftshader_icd.json,
 * unless VK_ICD_FILENAMES names another) and the Vulkan loader libvulkan.so.1 (Debian's
 * libvulkan1) through which Dawn (npm `webgpu`) and Deno reach it.
 *
 * Tests that need them skip with one line saying what is missing and how to install it, unless
 * KDET_REQUIRE_WEBGPU=1 (set by .ci/run), where they fail instead.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'vitest';
import { noteSkip } from './skip.js';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** KDET_REQUIRE_WEBGPU=1: a missing adapter or Vulkan driver fails the WebGPU tests. */
export const requireWebGPU = process.env.KDET_REQUIRE_WEBGPU === '1';

export const VULKAN_INSTALL_HINT = "`apt-get install chromium libvulkan1` gives SwiftShader's Vulkan driver and the loader";

const TRIPLETS: Partial<Record<string, string>> = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

let loader: boolean | undefined;

const isFile = (path: string): boolean => {
  try {
    return statSync(path).isFile(); // follows the symlink libvulkan.so.1 -> libvulkan.so.1.x.y
  } catch {
    return false;
  }
};

/** Whether the dynamic linker can find libvulkan.so.1 (LD_LIBRARY_PATH, ldconfig's cache, the usual folders). */
export function vulkanLoaderPresent(): boolean {
  if (loader !== undefined) return loader;
  const dirs = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter((d) => d !== '');
  const triplet = TRIPLETS[process.arch];
  if (triplet) dirs.push(`/lib/${triplet}`, `/usr/lib/${triplet}`);
  dirs.push('/lib64', '/usr/lib64', '/lib', '/usr/lib', '/usr/local/lib');
  const candidates = dirs.map((d) => join(d, 'libvulkan.so.1'));
  for (const ldconfig of ['/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    try {
      const cache = execFileSync(ldconfig, ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      for (const m of cache.matchAll(/^\s*libvulkan\.so\.1 .*=> (\S+)$/gm)) candidates.push(m[1]!);
      break;
    } catch {
      // not there, or not runnable: try the next one
    }
  }
  return (loader = candidates.some(isFile));
}

/** The Vulkan driver manifest a software run uses: VK_ICD_FILENAMES when set, else SwiftShader's. */
export function vulkanIcd(env: NodeJS.ProcessEnv = process.env): string {
  return env.VK_ICD_FILENAMES || SWIFTSHADER_ICD;
}

/**
 * What is missing for WebGPU on a software Vulkan driver (the one `vulkanIcd` names), as one
 * phrase ending in how to install it; null when both the driver and the loader are there.
 */
export function vulkanMissing(env: NodeJS.ProcessEnv = process.env): string | null {
  if (process.platform !== 'linux') return null; // nothing to check statically elsewhere
  const missing: string[] = [];
  const icd = vulkanIcd(env);
  // VK_ICD_FILENAMES may list several manifests (':'-separated); one present is enough.
  if (!icd.split(':').some((f) => f !== '' && existsSync(f))) {
    missing.push(icd === SWIFTSHADER_ICD ? `no Vulkan driver (${SWIFTSHADER_ICD}, SwiftShader from Debian's chromium, is absent)` : `no Vulkan driver (VK_ICD_FILENAMES=${icd} does not exist)`);
  }
  if (!vulkanLoaderPresent()) missing.push('no Vulkan loader (libvulkan.so.1, from Debian\'s libvulkan1)');
  return missing.length === 0 ? null : `${missing.join(' and ')}: ${VULKAN_INSTALL_HINT}`;
}

/**
 * A test that needs WebGPU on a software Vulkan driver. Without one it is skipped under a name
 * that says what is missing (also printed as one `SKIPPED …` line); under KDET_REQUIRE_WEBGPU=1
 * it fails with that instead.
 */
export function itWithVulkan(name: string, fn: () => Promise<void> | void, timeout?: number): void {
  const missing = vulkanMissing();
  if (missing === null) it(name, fn, timeout);
  else if (requireWebGPU) it(name, () => {
    throw new Error(`KDET_REQUIRE_WEBGPU=1 but ${missing}`);
  });
  else {
    const why = `${missing}; set KDET_REQUIRE_WEBGPU=1 to make this fail`;
    noteSkip(name, why);
    it.skip(`${name} (SKIPPED: ${why})`, () => {});
  }
}
