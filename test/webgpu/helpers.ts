/**
 * Shared setup for the WebGPU kernel tests: a device (Dawn via the npm package `webgpu` under
 * Node), seeded random data, float64 references and a comparison that never lets a NaN pass.
 *
 * Without an adapter the suites skip with the reason, unless KDET_REQUIRE_WEBGPU=1, in which
 * case opening the backend throws and the suite fails.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { DataArray, DType } from '../../src/engine/dtype.js';
import type { GpuBuffer, WebGPUBackend } from '../../src/backends/webgpu/index.js';
import { noteSkip } from '../helpers/skip.js';
import { SWIFTSHADER_ICD as SWIFTSHADER, requireWebGPU, vulkanMissing } from '../helpers/vulkan.js';

export { requireWebGPU };

function hasGpuDeviceNode(): boolean {
  try {
    return existsSync('/dev/nvidia0') || readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  } catch {
    return false;
  }
}

// Must happen before Dawn creates its Vulkan instance: on a machine without a GPU, use the
// SwiftShader driver that Debian's chromium ships (CI sets VK_ICD_FILENAMES itself).
if (!process.env.VK_ICD_FILENAMES && !hasGpuDeviceNode() && existsSync(SWIFTSHADER)) {
  process.env.VK_ICD_FILENAMES = SWIFTSHADER;
}
if (!process.env.XDG_RUNTIME_DIR) {
  const dir = join(tmpdir(), 'kdet-xdg');
  mkdirSync(dir, { recursive: true });
  process.env.XDG_RUNTIME_DIR = dir;
}

export interface Opened {
  backend: WebGPUBackend | null;
  reason: string;
}

/** A fresh backend, or null with the reason (throws instead when KDET_REQUIRE_WEBGPU=1). */
export async function openBackend(opts: { flushEvery?: number; cpuEmulated?: boolean } = {}): Promise<Opened> {
  const { createWebGPUBackend } = await import('../../src/backends/webgpu/index.js');
  try {
    return { backend: (await createWebGPUBackend(opts)) as WebGPUBackend, reason: '' };
  } catch (e) {
    // Dawn's own error, plus what a software run lacks here and how to install it (one line).
    const missing = hasGpuDeviceNode() ? null : vulkanMissing();
    // With something missing, Dawn's first sentence is enough: the rest is the same hint.
    const msg = (e as Error).message.split('\n')[0]!;
    const why = missing ? `${msg.split('. ')[0]} (${missing})` : msg;
    if (requireWebGPU) throw new Error(`KDET_REQUIRE_WEBGPU=1 but WebGPU is unavailable: ${why}`);
    const reason = `WebGPU unavailable: ${why}; set KDET_REQUIRE_WEBGPU=1 to make this fail`;
    noteSkip('WebGPU kernels', reason);
    return { backend: null, reason };
  }
}

export function title(name: string, o: Opened): string {
  return o.backend ? name : `${name} (skipped: ${o.reason})`;
}

// ---- data ----

/** mulberry32: small, seedable, good enough for test data. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform floats in [lo, hi), never exactly zero (zeros hide indexing bugs). */
export function randf(r: () => number, n: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v = lo + (hi - lo) * r();
    if (v === 0) v = 0.5;
    a[i] = v;
  }
  return a;
}

export function randi(r: () => number, n: number, lo: number, hi: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + Math.floor((hi - lo) * r());
  return a;
}

export const prod = (s: readonly number[]): number => s.reduce((a, d) => a * d, 1);

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Coordinates of flat index i in shape. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    c[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return c;
}

// ---- device round trips ----

export function up(b: WebGPUBackend, data: DataArray): GpuBuffer {
  return b.upload(data);
}

/** Read a buffer and free it. */
export async function down(b: WebGPUBackend, buf: GpuBuffer, dtype: DType, size: number): Promise<DataArray> {
  const r = await b.read(buf, dtype, size);
  b.free(buf);
  return r;
}

export async function downF(b: WebGPUBackend, buf: GpuBuffer, size: number): Promise<Float32Array> {
  return (await down(b, buf, 'float32', size)) as Float32Array;
}

export async function downI(b: WebGPUBackend, buf: GpuBuffer, size: number): Promise<Int32Array> {
  return (await down(b, buf, 'int32', size)) as Int32Array;
}

// ---- comparison ----

export interface Tol {
  /** Relative tolerance (default 1e-4). */
  rtol?: number;
  /** Absolute floor (default 0). */
  atol?: number;
  /** Per-element magnitude the error is relative to (e.g. Σ|terms| of a sum), instead of |want|. */
  scale?: ArrayLike<number>;
}

/**
 * Elementwise |got − want| ≤ rtol·(|want| or scale) + atol. NaN must meet NaN, ±∞ must match
 * exactly, and a NaN where a number is expected fails.
 */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tol = {}, what = 'value'): void {
  const rtol = tol.rtol ?? 1e-4;
  const atol = tol.atol ?? 0;
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Number.isNaN(w) || Number.isNaN(g)) {
      if (Number.isNaN(w) !== Number.isNaN(g)) expect.fail(`${what}[${i}]: got ${g}, want ${w}`);
      continue;
    }
    if (!Number.isFinite(w) || !Number.isFinite(g)) {
      if (g !== w) expect.fail(`${what}[${i}]: got ${g}, want ${w}`);
      continue;
    }
    const mag = tol.scale ? tol.scale[i]! : Math.abs(w);
    if (!(Math.abs(g - w) <= rtol * mag + atol)) {
      expect.fail(`${what}[${i}]: got ${g}, want ${w} (|diff| ${Math.abs(g - w)} > ${rtol * mag + atol})`);
    }
  }
}

export function expectEqual(got: ArrayLike<number>, want: ArrayLike<number>, what = 'value'): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i] && !(Number.isNaN(got[i]!) && Number.isNaN(want[i]!))) {
      expect.fail(`${what}[${i}]: got ${got[i]}, want ${want[i]}`);
    }
  }
}
