import { expect } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';

/**
 * Runs `step` once to warm up (caches, pools), then `rounds` more times, and expects the live
 * tensors and backend bytes to be exactly where they were after the warm-up: nothing leaks.
 */
export async function expectMemoryFlat(backend: Backend, step: () => void, rounds = 5): Promise<void> {
  step();
  await backend.sync();
  const before = k.memoryStats(backend);
  for (let i = 0; i < rounds; i++) step();
  await backend.sync();
  expect(k.memoryStats(backend)).toEqual(before);
}
