// The JS-side allocator over linear memory: alignment, class-exact reuse, growth (with fresh
// views), coalescing past the growth allowance, none in a repeating pattern, and errors for double free, foreign and stale handles.
import { describe, expect, it } from 'vitest';
import { sizeClass, WasmHeap, type WasmBackend, type WasmBuffer } from '../../src/backends/wasm/index.js';
import { setGrowthAllowance } from '../../src/backends/wasm/memory.js';
import { newBackend, takeF32, upF32 } from './helpers.js';

describe('sizeClass', () => {
  it('rounds to 64-byte multiples up to 1 KiB, then to at most 12.5% slack', () => {
    expect([0, 1, 64, 65, 1000, 1024].map(sizeClass)).toEqual([64, 64, 64, 128, 1024, 1024]);
    for (let bytes = 1025; bytes < 5_000_000; bytes = Math.ceil(bytes * 1.37)) {
      const c = sizeClass(bytes);
      expect(c % 64).toBe(0);
      expect(c).toBeGreaterThanOrEqual(bytes);
      expect(c).toBeLessThanOrEqual(bytes * 1.125 + 64);
    }
  });
});

describe('WasmHeap', () => {
  const heapOf = (b: WasmBackend): WasmHeap => b.heap;

  it('hands out 64-byte aligned, disjoint blocks and counts live bytes and buffers', async () => {
    const b = await newBackend();
    const base = b.memory();
    const bufs = [1, 3, 17, 100, 1000].map((n) => b.alloc('float32', n));
    for (const x of bufs) expect(x.ptr % 64).toBe(0);
    const spans = bufs.map((x) => [x.ptr, x.ptr + x.blockBytes] as const).sort((p, q) => p[0] - q[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    expect(b.memory()).toEqual({ bytes: base.bytes + 4 * (1 + 3 + 17 + 100 + 1000), buffers: base.buffers + 5 });
    for (const x of bufs) b.free(x);
    expect(b.memory()).toEqual(base);
    b.dispose();
  });

  it('reuses a freed block for the next request of the same size class', async () => {
    const b = await newBackend();
    const x = b.alloc('float32', 1000);
    const ptr = x.ptr;
    b.free(x);
    const y = b.alloc('float32', 990); // same class as 1000 elements
    expect(y.ptr).toBe(ptr);
    b.free(y);
    b.dispose();
  });

  it('grows linear memory on demand, keeps the data and never reads through a stale view', async () => {
    const b = await newBackend();
    const heap = heapOf(b);
    const before = heap.debugStats().memoryBytes;
    const small = upF32(b, [1.5, -2.25, 3.125]);
    const staleView = heap.f32();
    const n = (before / 4) * 2; // more than the whole memory had
    const big = b.alloc('float32', n);
    expect(heap.debugStats().memoryBytes).toBeGreaterThanOrEqual(big.ptr + n * 4);
    expect(big.ptr).toBeGreaterThan(small.ptr);
    // memory.grow detaches a plain ArrayBuffer; a shared one (threads) keeps its old length, and
    // the heap must still hand out views of the whole grown memory.
    if (staleView.buffer instanceof ArrayBuffer) expect(staleView.length).toBe(0);
    else expect(staleView.length).toBe(before / 4);
    expect(heap.f32().length * 4).toBe(heap.debugStats().memoryBytes);
    expect(Array.from(takeF32(b, small, 3))).toEqual([1.5, -2.25, 3.125]);
    const filled = b.fill('float32', n, 0.5);
    const back = b.readSync(filled, 'float32', n);
    expect(back[0]).toBe(0.5);
    expect(back[n - 1]).toBe(0.5);
    b.free(filled);
    b.free(big);
    expect(b.memory()).toEqual({ bytes: 0, buffers: 0 });
    b.dispose();
  });

  it('coalesces cached blocks before growing past its allowance: many small frees serve one large request', async () => {
    setGrowthAllowance(0, 0); // no growth allowed while the cache can serve the request
    const b = await newBackend();
    const heap = heapOf(b);
    // Fill the current memory with 4 KiB blocks, free them all, then ask for one block the size of
    // most of them: it must come from the merged free space, not from new pages.
    const blocks: WasmBuffer[] = [];
    while (heap.debugStats().top + 4096 <= heap.debugStats().memoryBytes) blocks.push(b.alloc('float32', 1024));
    const memoryBytes = heap.debugStats().memoryBytes;
    for (const x of blocks) b.free(x);
    let n = (blocks.length - 1) * 1024;
    while (sizeClass(n * 4) > blocks.length * 4096) n -= 1024;
    expect(n).toBeGreaterThan(blocks.length * 1024 * 0.8);
    const big = b.alloc('float32', n);
    expect(heap.debugStats().memoryBytes).toBe(memoryBytes);
    b.free(big);
    b.dispose();
    setGrowthAllowance();
  });

  it('a repeating pattern of sizes (a training step) is served from the size classes, never merged, in bounded memory', async () => {
    const b = await newBackend();
    const heap = heapOf(b) as unknown as { takeCoalesced: (size: number) => number | null };
    let merges = 0;
    const take = heap.takeCoalesced.bind(heap);
    heap.takeCoalesced = (size) => (merges++, take(size));
    const sizes = [300_000, 70_000, 1_000_000, 5_000, 260_000, 2_000_000, 40_000, 700_000];
    let peak = 0;
    for (let step = 0; step < 6; step++) {
      // Activations pile up in the forward pass and are freed in reverse, with temporaries between.
      const held: WasmBuffer[] = [];
      for (let i = 0; i < sizes.length; i++) {
        held.push(b.alloc('float32', sizes[i]! + step)); // about, not exactly, the same sizes
        b.free(b.alloc('float32', sizes[(i * 3) % sizes.length]!));
        peak = Math.max(peak, b.memory().bytes);
      }
      while (held.length) b.free(held.pop()!);
    }
    expect(merges).toBe(0);
    expect((heapOf(b)).debugStats().memoryBytes).toBeLessThanOrEqual(3 * peak + (16 << 20) + (4 << 20));
    b.dispose();
  });

  it('throws on double free, on foreign handles and on use after free', async () => {
    const b = await newBackend();
    const other = await newBackend();
    const x = upF32(b, [1, 2, 3, 4]);
    b.free(x);
    expect(() => b.free(x)).toThrow(/already freed/);
    expect(() => b.unary('exp', x, 4)).toThrow(/already freed/);
    const y = b.alloc('float32', 4); // reuses x's address: x must stay dead
    expect(y.ptr).toBe(x.ptr);
    expect(() => b.free(x)).toThrow(/already freed/);
    const z = other.alloc('float32', 4);
    expect(() => b.free(z)).toThrow(/not a buffer of this wasm backend/);
    expect(() => b.free({ ptr: y.ptr } as unknown as WasmBuffer)).toThrow(/not a buffer of this wasm backend/);
    expect(() => b.free(7 as unknown as WasmBuffer)).toThrow(/not a buffer/);
    expect(() => b.readSync(y, 'float32', 5)).toThrow(/expected at least 5 elements/);
    b.free(y);
    other.free(z);
    b.dispose();
    other.dispose();
  });

  it('refuses sizes beyond the wasm32 address space with a clear error', async () => {
    const b = await newBackend();
    expect(() => b.alloc('float32', 2 ** 31)).toThrow(/out of memory: 8589934592 bytes exceed the 4 GiB wasm32 address space/);
    expect(() => b.alloc('float32', -1)).toThrow(/size must be a non-negative integer/);
    expect(b.memory()).toEqual({ bytes: 0, buffers: 0 });
    b.dispose();
  });

  it('a kernel that fails frees its output', async () => {
    const b = await newBackend();
    const x = upF32(b, [1, 2, 3]);
    const idx = b.upload(Int32Array.from([0, 5]));
    const base = b.memory();
    expect(() => b.gather(x, [3], idx, 2, 0, 'float32')).toThrow(/outside \[0, 3\)/);
    expect(b.memory()).toEqual(base);
    b.free(x);
    b.free(idx);
    b.dispose();
  });

  it('dispose releases everything and makes the backend unusable', async () => {
    const b = await newBackend();
    const x = upF32(b, [1, 2]);
    b.dispose();
    expect(b.memory()).toEqual({ bytes: 0, buffers: 0 });
    expect(() => b.alloc('float32', 2)).toThrow(/disposed/);
    expect(() => b.readSync(x, 'float32', 2)).toThrow(/disposed/);
  });

  it('a training-like loop of repeated shapes stops growing after its first step', async () => {
    const b = await newBackend();
    const heap = heapOf(b);
    const shapes = [4096, 128, 77, 4096, 9000, 3];
    const step = () => {
      const live = shapes.map((n) => b.fill('float32', n, 1));
      const y = b.unary('exp', live[4]!, 9000);
      for (const x of [...live, y]) b.free(x);
    };
    step();
    const top = heap.debugStats().top;
    for (let i = 0; i < 5; i++) step();
    expect(heap.debugStats().top).toBe(top);
    expect(b.memory()).toEqual({ bytes: 0, buffers: 0 });
    b.dispose();
  });
});
