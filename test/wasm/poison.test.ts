// No kernel reads memory it did not write. A stale read can be harmless by luck (a max taken over
// a padded lane, a value multiplied by zero) and then quietly depend on what ran before, which
// with threads can depend on the schedule. With `poison` every block the heap hands out starts
// as NaN bytes, and each part's scratch is refilled before it runs: training must give the very
// same numbers as without, on one thread and on three with every kernel cut into small parts.
import { afterAll, expect, it } from 'vitest';
import { createWasmBackend, type WasmBackend } from '../../src/backends/wasm/index.js';
import { setSplitThresholds } from '../../src/backends/wasm/split.js';
import { memoryStats, setBackend } from '../../src/engine/index.js';
import { distil } from '../helpers/distil-fixture.js';

const made: WasmBackend[] = [];
const backend = async (threads: number, poison: boolean) => {
  const b = (await createWasmBackend({ threads, poison })) as WasmBackend;
  made.push(b);
  return b;
};
afterAll(() => {
  setSplitThresholds();
  for (const b of made) b.dispose();
});

it('poison mode hands out blocks filled with NaN', async () => {
  const b = await backend(1, true);
  const buf = b.heap.alloc(64);
  expect(Array.from(b.heap.f32().subarray(buf.ptr >>> 2, (buf.ptr >>> 2) + 16)).every(Number.isNaN)).toBe(true);
  b.heap.free(buf);
});

it('KDET_WASM_POISON switches it on, and a value other than 0 or 1 is refused by name', async () => {
  const old = process.env.KDET_WASM_POISON;
  try {
    process.env.KDET_WASM_POISON = '1';
    const b = (await createWasmBackend({ threads: 1 })) as WasmBackend;
    made.push(b);
    expect(b.heap.poison).toBe(true);
    process.env.KDET_WASM_POISON = 'yes';
    await expect(createWasmBackend({ threads: 1 })).rejects.toThrow(/KDET_WASM_POISON must be 0 or 1, got 'yes'/);
  } finally {
    if (old === undefined) delete process.env.KDET_WASM_POISON;
    else process.env.KDET_WASM_POISON = old;
  }
});

it('six distillation steps give bit-identical losses and gradient norms with poisoned memory, serial and split', async () => {
  const run = async (b: WasmBackend) => {
    setBackend(b);
    const before = memoryStats(b);
    const { steps } = await distil(null, { adapter: '3x3', fineGrained: true });
    expect(memoryStats(b)).toEqual(before);
    return steps;
  };
  const clean = await run(await backend(1, false));
  for (const s of clean) for (const v of Object.values(s)) expect(Number.isFinite(v)).toBe(true);
  expect(await run(await backend(1, true))).toEqual(clean);
  // Every kernel that can be split is, into parts far smaller than its blocks, over 3 threads.
  setSplitThresholds(1, 1, 2, 16);
  expect(await run(await backend(3, true))).toEqual(clean);
  setSplitThresholds();
});
