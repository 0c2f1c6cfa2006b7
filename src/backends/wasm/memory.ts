import { KdetError } from '../../engine/errors.js';

/** Every block starts on a 64-byte boundary (a cache line; v128 loads never straddle one). */
export const ALIGN = 64;
const PAGE = 65536;
/** wasm32 addresses at most 2^32 bytes. */
const MAX_PAGES = 65536;

/**
 * A block of the module's linear memory holding one tensor (or a kernel's scratch). The handle is
 * an object rather than a bare pointer so that a stale handle whose address was reused cannot free
 * or read its successor's block: `free` checks it is the live owner of its address.
 */
export class WasmBuffer {
  /** Set by free(); a freed handle is never valid again. */
  freed = false;
  constructor(
    readonly heap: WasmHeap,
    /** Byte address in linear memory (64-byte aligned). */
    readonly ptr: number,
    /** Bytes requested (4 × elements). */
    readonly bytes: number,
    /** Bytes reserved: the size class, ≥ bytes. */
    readonly blockBytes: number,
  ) {}

  toString(): string {
    return `WasmBuffer(0x${this.ptr.toString(16)}, ${this.bytes} bytes${this.freed ? ', freed' : ''})`;
  }
}

/** Memory grows instead of merging the cache while it stays under GROWTH_FACTOR × peak live + GROWTH_SLACK bytes. */
let GROWTH_FACTOR = 3;
let GROWTH_SLACK = 16 << 20;

/** Tests only: set (or, with no arguments, restore) the growth allowance; (0, 0) merges before any growth. */
export function setGrowthAllowance(factor = 3, slack = 16 << 20): void {
  GROWTH_FACTOR = factor;
  GROWTH_SLACK = slack;
}

/**
 * Size classes: multiples of 64 up to 1 KiB, then 8 classes per power of two (at most 12.5%
 * slack). A class is the unit of reuse, so a tensor freed in one training step is handed to the
 * next tensor of about the same size in the next step.
 */
export function sizeClass(bytes: number): number {
  const b = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
  if (b <= 1024) return b;
  const step = 2 ** (31 - Math.clz32(b)) / 8;
  return Math.ceil(b / step) * step;
}

/** All-ones bytes: a NaN as float32, −1 as int32. */
export const POISON_BYTE = 0xff;

/**
 * The JavaScript-side allocator over linear memory above the module's static data.
 *
 * Design: free blocks are cached in exact-size free lists (LIFO), keyed by size class. Training
 * loops allocate the same shapes every step, so after the first step nearly every request is an
 * O(1) pop of a block freed one step earlier: splitting and coalescing on every call (a general
 * malloc) would cost time for no reuse gain. The cache is bounded by a slow path instead: when a
 * class misses and the memory has no room left above the top, all cached blocks are coalesced
 * (address-sorted, adjacent blocks merged, a run touching the top lowers it) and the request is
 * carved best-fit from a run, with the remainder cached under its own size. Memory grows only
 * when even that fails, so cached-but-unused blocks never make the heap grow.
 */
export class WasmHeap {
  private readonly live = new Map<number, WasmBuffer>();
  /** Cached free blocks: size → addresses, and address → size (for coalescing). */
  private readonly freeLists = new Map<number, number[]>();
  private readonly freeBlocks = new Map<number, number>();
  private top: number;
  private liveBytes = 0;
  private peakLiveBytes = 0;
  private cachedBytes = 0;
  private disposed = false;
  private views: { buffer: ArrayBuffer; f32: Float32Array; i32: Int32Array; u8: Uint8Array } | null = null;
  /** Debugging (createWasmBackend's `poison`): every block handed out is filled with 0xFF (NaN). */
  poison = false;

  /** Dropped by dispose() so that the linear memory can be garbage-collected. */
  private memory: WebAssembly.Memory | null;

  constructor(
    memory: WebAssembly.Memory,
    /** First address the heap may use (64-byte aligned). */
    readonly start: number,
  ) {
    if (start % ALIGN !== 0) throw new Error(`kdet.wasm: heap start ${start} is not ${ALIGN}-byte aligned`);
    this.memory = memory;
    this.top = start;
  }

  alloc(bytes: number): WasmBuffer {
    this.checkLive('alloc');
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new KdetError('wasm.alloc', `invalid byte count ${bytes}`);
    if (bytes > MAX_PAGES * PAGE - this.start) {
      throw new KdetError('wasm.alloc', `out of memory: ${bytes} bytes exceed the 4 GiB wasm32 address space`);
    }
    const size = sizeClass(bytes);
    const ptr = this.takeCached(size) ?? this.takeTop(size) ?? (this.worthCoalescing(size) ? this.takeCoalesced(size) : null) ?? this.takeGrown(size, bytes);
    const buf = new WasmBuffer(this, ptr, bytes, size);
    if (this.poison) this.u8().fill(POISON_BYTE, ptr, ptr + size);
    this.live.set(ptr, buf);
    this.liveBytes += bytes;
    if (this.liveBytes > this.peakLiveBytes) this.peakLiveBytes = this.liveBytes;
    return buf;
  }

  free(buf: unknown): void {
    const b = this.owned('free', buf);
    b.freed = true;
    this.live.delete(b.ptr);
    this.liveBytes -= b.bytes;
    this.cache(b.ptr, b.blockBytes);
  }

  /** The live buffer behind a handle, or a clear error (foreign handle, use after free). */
  owned(op: string, buf: unknown): WasmBuffer {
    this.checkLive(op);
    if (!(buf instanceof WasmBuffer) || buf.heap !== this) {
      throw new KdetError(op, `not a buffer of this wasm backend: ${describe(buf)}`);
    }
    if (buf.freed) throw new KdetError(op, `${buf} was already freed (double free or use after free)`);
    if (this.live.get(buf.ptr) !== buf) throw new KdetError(op, `${buf} is not a live block of this heap (foreign pointer)`);
    return buf;
  }

  /** Bytes and buffers held by live (not freed) blocks, as requested. */
  stats(): { bytes: number; buffers: number } {
    return { bytes: this.liveBytes, buffers: this.live.size };
  }

  /** Allocator internals, for tests and diagnostics. */
  debugStats(): { top: number; cachedBytes: number; cachedBlocks: number; memoryBytes: number } {
    return { top: this.top, cachedBytes: this.cachedBytes, cachedBlocks: this.freeBlocks.size, memoryBytes: this.linear('wasm.memory').buffer.byteLength };
  }

  // Views are re-created whenever memory.grow replaced the ArrayBuffer: a cached view of the old
  // buffer would be detached (length 0) and silently read nothing.
  f32(): Float32Array {
    return this.currentViews().f32;
  }

  i32(): Int32Array {
    return this.currentViews().i32;
  }

  u8(): Uint8Array {
    return this.currentViews().u8;
  }

  /** Frees everything; every handle becomes invalid and the heap unusable. */
  dispose(): void {
    for (const b of this.live.values()) b.freed = true;
    this.live.clear();
    this.freeLists.clear();
    this.freeBlocks.clear();
    this.liveBytes = 0;
    this.cachedBytes = 0;
    this.views = null;
    this.memory = null;
    this.disposed = true;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  private checkLive(op: string): void {
    if (this.disposed) throw new KdetError(op, 'the wasm backend was disposed');
  }

  private linear(op: string): WebAssembly.Memory {
    if (!this.memory) throw new KdetError(op, 'the wasm backend was disposed');
    return this.memory;
  }

  private currentViews(): { f32: Float32Array; i32: Int32Array; u8: Uint8Array } {
    const buffer = this.linear('wasm.memory').buffer;
    if (!this.views || this.views.buffer !== buffer) {
      this.views = { buffer, f32: new Float32Array(buffer), i32: new Int32Array(buffer), u8: new Uint8Array(buffer) };
    }
    return this.views;
  }

  private cache(ptr: number, size: number): void {
    let list = this.freeLists.get(size);
    if (!list) this.freeLists.set(size, (list = []));
    list.push(ptr);
    this.freeBlocks.set(ptr, size);
    this.cachedBytes += size;
  }

  private takeCached(size: number): number | null {
    const ptr = this.freeLists.get(size)?.pop();
    if (ptr === undefined) return null;
    this.freeBlocks.delete(ptr);
    this.cachedBytes -= size;
    return ptr;
  }

  private takeTop(size: number): number | null {
    if (this.top + size > this.linear('wasm.alloc').buffer.byteLength) return null;
    const ptr = this.top;
    this.top += size;
    return ptr;
  }

  /**
   * Coalescing merges the exact-size free lists into runs of odd lengths, which later requests of
   * the usual sizes miss, so each merge invites the next: a training step's repeating pattern of
   * sizes then coalesced on more than half of its allocations (10 K merges in 30 student steps,
   * 18 ms a step on the calling thread). Growing instead lets every size class keep the blocks
   * its peak needs. So memory grows while it stays within GROWTH_FACTOR × the peak of live bytes
   * (+ GROWTH_SLACK); past that, or at the 4 GiB limit, the cache is merged first.
   */
  private worthCoalescing(size: number): boolean {
    if (this.cachedBytes < size) return false;
    const have = this.linear('wasm.alloc').buffer.byteLength;
    return have + size > GROWTH_FACTOR * this.peakLiveBytes + GROWTH_SLACK || have + size > MAX_PAGES * PAGE;
  }

  /** Merges all cached blocks, then carves `size` best-fit from a merged run. */
  private takeCoalesced(size: number): number | null {
    if (this.cachedBytes === 0) return null;
    const blocks = [...this.freeBlocks.entries()].sort((a, b) => a[0] - b[0]);
    this.freeLists.clear();
    this.freeBlocks.clear();
    this.cachedBytes = 0;
    const runs: [number, number][] = [];
    for (const [ptr, len] of blocks) {
      const last = runs[runs.length - 1];
      if (last && last[0] + last[1] === ptr) last[1] += len;
      else runs.push([ptr, len]);
    }
    const lastRun = runs[runs.length - 1];
    if (lastRun && lastRun[0] + lastRun[1] === this.top) {
      this.top = lastRun[0];
      runs.pop();
    }
    let best = -1;
    for (let i = 0; i < runs.length; i++) {
      if (runs[i]![1] >= size && (best < 0 || runs[i]![1] < runs[best]![1])) best = i;
    }
    let ptr: number | null = null;
    if (best >= 0) {
      const run = runs[best]!;
      ptr = run[0];
      run[0] += size;
      run[1] -= size;
    }
    for (const [p, len] of runs) if (len > 0) this.cache(p, len);
    return ptr ?? this.takeTop(size);
  }

  private takeGrown(size: number, requested: number): number {
    const have = this.linear('wasm.alloc').buffer.byteLength;
    const needPages = Math.ceil((this.top + size - have) / PAGE);
    const pages = have / PAGE;
    // Grow by at least a quarter of the current size so that a growing workload re-grows rarely.
    const wanted = Math.min(Math.max(needPages, Math.ceil(pages / 4)), MAX_PAGES - pages);
    if (needPages > MAX_PAGES - pages || (!this.tryGrow(wanted) && !this.tryGrow(needPages))) {
      throw new KdetError('wasm.alloc', `out of memory: cannot allocate ${requested} bytes ` +
        `(${this.liveBytes} bytes live in ${this.live.size} buffers, linear memory ${have} bytes)`);
    }
    const ptr = this.takeTop(size);
    if (ptr === null) throw new Error('kdet.wasm: memory grew but the block still does not fit');
    return ptr;
  }

  private tryGrow(pages: number): boolean {
    try {
      this.linear('wasm.alloc').grow(pages);
      return true;
    } catch {
      return false;
    }
  }
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return `${typeof v} ${String(v)}`;
}
