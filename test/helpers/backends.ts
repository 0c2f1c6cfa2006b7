import { afterAll, describe, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';

/**
 * Which backends a test run covers: KDET_TEST_BACKENDS (comma list of reference, wasm, webgpu;
 * default reference,wasm). A backend whose module is missing or fails to start is skipped with the
 * reason, unless KDET_REQUIRE_BACKENDS=1, where that is a test failure.
 */
export interface BackendUnderTest {
  name: string;
  create: () => Promise<Backend>;
}

const KNOWN = ['reference', 'wasm', 'webgpu'] as const;
type BackendName = (typeof KNOWN)[number];

/** Module and factory of each backend, relative to this file. */
const FACTORIES: Record<BackendName, { module: string; factory: string }> = {
  reference: { module: '../../src/backends/reference/index.js', factory: 'createReferenceBackend' },
  wasm: { module: '../../src/backends/wasm/index.js', factory: 'createWasmBackend' },
  webgpu: { module: '../../src/backends/webgpu/index.js', factory: 'createWebGPUBackend' },
};

export function requireBackends(): boolean {
  return process.env.KDET_REQUIRE_BACKENDS === '1';
}

export function backendsUnderTest(): BackendUnderTest[] {
  const raw = process.env.KDET_TEST_BACKENDS ?? 'reference,wasm';
  const names = raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const n of names) {
    if (!(KNOWN as readonly string[]).includes(n)) {
      throw new Error(`KDET_TEST_BACKENDS: unknown backend '${n}' (known: ${KNOWN.join(', ')})`);
    }
  }
  return [...new Set(names)].map((name) => ({ name, create: () => createBackend(name as BackendName) }));
}

async function createBackend(name: BackendName): Promise<Backend> {
  const { module, factory } = FACTORIES[name];
  // A computed specifier: the module may not exist yet, and neither tsc nor vite may resolve it
  // ahead of time.
  const mod = (await import(/* @vite-ignore */ module)) as Record<string, unknown>;
  const create = mod[factory];
  if (typeof create !== 'function') throw new Error(`${module} does not export ${factory}()`);
  const backend = (await create()) as Backend;
  if (!backend || typeof backend.alloc !== 'function') throw new Error(`${factory}() did not return a Backend`);
  return backend;
}

export interface LoadedBackend {
  name: string;
  backend: Backend | null;
  /** Why it could not be created. */
  reason?: string;
}

/**
 * Create every backend under test once (call with top-level await in a test file), leaving out
 * `exclude` (e.g. the reference, when it is the baseline the others are compared with).
 */
export async function loadBackendsUnderTest(opts: { exclude?: readonly string[] } = {}): Promise<LoadedBackend[]> {
  const out: LoadedBackend[] = [];
  for (const b of backendsUnderTest()) {
    if (opts.exclude?.includes(b.name)) continue;
    try {
      out.push({ name: b.name, backend: await b.create() });
    } catch (e) {
      out.push({ name: b.name, backend: null, reason: e instanceof Error ? e.message : String(e) });
    }
  }
  return out;
}

/**
 * One describe block per backend under test. An unavailable backend becomes a skipped test that
 * says why, or a failing one under KDET_REQUIRE_BACKENDS=1.
 */
export function describeEachBackend(loaded: readonly LoadedBackend[], body: (backend: Backend, name: string) => void): void {
  for (const b of loaded) {
    if (b.backend) {
      const backend = b.backend;
      describe(`[${b.name}]`, () => {
        afterAll(() => backend.dispose());
        body(backend, b.name);
      });
    } else if (requireBackends()) {
      describe(`[${b.name}]`, () => {
        it('backend is available (KDET_REQUIRE_BACKENDS=1)', () => {
          throw new Error(`backend '${b.name}' could not be created: ${b.reason}`);
        });
      });
    } else {
      describe(`[${b.name}]`, () => {
        it.skip(`SKIPPED: backend '${b.name}' unavailable (${b.reason}); set KDET_REQUIRE_BACKENDS=1 to make this fail`, () => {});
      });
    }
  }
}
