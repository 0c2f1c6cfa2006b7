// The wasm backend's thread pool: workers that each instantiate the same WebAssembly.Module over
// the same shared WebAssembly.Memory, and run parts of one kernel call while the calling thread
// runs its own part and then waits (Atomics.wait). Kernel calls stay synchronous, so the backend's
// synchronous reads keep working.
//
// Protocol (one dispatch at a time, from the thread that owns the backend): the caller writes the
// kernel's index, its arguments (float64, so i32 pointers and f32 values both pass exactly), the
// argument slots that differ per part and each part's values into a small control
// SharedArrayBuffer, resets DONE, sets the claim word to this dispatch's tag (its generation) and
// the count of parts not yet claimed, bumps GEN and notifies. Every thread, the caller included,
// then claims parts by compare-and-swap on the claim word (count − 1) until none is left, and
// counts each finished part in DONE; the caller returns once DONE = parts. It never waits for a
// worker as such: one that wakes late finds the claim word tagged with another generation (or
// exhausted) and goes back to sleep, and a part once claimed keeps its dispatch (and so its
// fields) alive until it is counted done. Whether a part is left must be read from the claim word
// alone: a thread that has just finished the last part of a dispatch may look again while the
// caller is already writing the next one's fields. (An earlier version compared the claim word's
// next index with PARTS, which could then be the next dispatch's larger count: the late thread
// claimed a part that did not exist, and its extra DONE let the next dispatch return one part
// early, with part of its output unwritten. test/wasm/threads.test.ts hammers that window.)
// Parts write disjoint outputs and compute the same thing whichever thread claims them, so the
// result does not depend on the schedule.
//
// The worker's source is the string below (started from a blob/data URL, or `eval` on Node): the
// package ships no extra file for users to serve.

import { POISON_BYTE } from './memory.js';

/** Int32 slots of the control block. */
const GEN = 0; // bumped per dispatch; workers wait on it
const DONE = 1; // parts finished in the current dispatch
const FN = 2;
const NARGS = 3;
const ERR = 4;
const NSLOTS = 5;
const PARTS = 6;
const CLAIM = 7; // tag(GEN) | parts not yet claimed (compare-and-swap; part = PARTS − that count)
const SLOTS = 8; // up to MAX_SLOTS argument indices
const SCRATCH_SLOT = 16; // argument that gets the thread's own scratch, or -1
const SCRATCH_BASE = 17;
const SCRATCH_STRIDE = 18;
const EXITING = 19;
const POISON = 20; // 1: fill a part's scratch with 0xFF before running it (createWasmBackend's poison)
const PART_BASE = 24; // part t, slot s at PART_BASE + t·MAX_SLOTS + s
export const MAX_SLOTS = 8;
/** Most parts one dispatch may have (the claim word keeps the part index in its low 10 bits). */
export const MAX_PARTS = 256;
/** Most threads a pool runs. */
export const MAX_THREADS = 64;
const ARGS_BYTE = (PART_BASE + MAX_PARTS * MAX_SLOTS) * 4;
const MAX_ARGS = 16;
/**
 * How long (ms) a waiting thread spins before it sleeps in Atomics.wait. Waking from the wait
 * took 20–100 µs here, as long as a small kernel call; between the calls of a training step
 * the gaps are mostly shorter than this, so the workers are still spinning when work comes.
 */
const SPIN_MS = 0.2;
const CTRL_BYTES = ARGS_BYTE + MAX_ARGS * 8;
const PART_BITS = 10;

/** The claim word's tag for a dispatch: its generation in the bits above the part index. */
const tagOf = (gen: number): number => (gen & 0xfffff) << PART_BITS;

/** The worker: plain JavaScript, the same for Node worker_threads, Deno and browser workers. */
export const WORKER_SOURCE = `
'use strict';
const start = (data, post) => {
  let inst;
  try {
    inst = new WebAssembly.Instance(data.module, { env: { memory: data.memory } });
  } catch (e) {
    post({ error: String(e && e.message || e) });
    return;
  }
  const fns = data.names.map((n) => inst.exports[n]);
  const I = new Int32Array(data.ctrl);
  const F = new Float64Array(data.ctrl, ${ARGS_BYTE}, ${MAX_ARGS});
  const index = data.index;
  const args = [];
  // Read GEN before saying ready: a dispatch may follow the message at once.
  let seen = Atomics.load(I, ${GEN});
  post({ ready: true });
  for (;;) {
    // Spin a while before sleeping: kernel calls of a training step come back to back, and a
    // worker woken from Atomics.wait arrives tens of microseconds late, after the calling
    // thread has taken most of a short call's parts.
    let spins = 0;
    let since = 0;
    while (Atomics.load(I, ${GEN}) === seen) {
      if ((++spins & 255) !== 0) continue;
      if (since === 0) since = performance.now();
      else if (performance.now() - since > ${SPIN_MS}) Atomics.wait(I, ${GEN}, seen);
    }
    seen = Atomics.load(I, ${GEN});
    if (Atomics.load(I, ${EXITING}) !== 0) return;
    const tag = (seen & 0xfffff) << ${PART_BITS};
    for (;;) {
      const c = Atomics.load(I, ${CLAIM});
      // Another dispatch than the one that woke us, or no part left: back to waiting. Decided
      // from the claim word alone: the other fields may already be the next dispatch's.
      if ((c & ~${(1 << PART_BITS) - 1}) !== tag) break;
      const left = c & ${(1 << PART_BITS) - 1};
      if (left === 0) break;
      if (Atomics.compareExchange(I, ${CLAIM}, c, c - 1) !== c) continue;
      // A part is ours: the dispatch cannot end (nor its fields change) before we count it done.
      const parts = I[${PARTS}];
      const t = parts - left;
      try {
        const n = I[${NARGS}];
        args.length = n;
        for (let i = 0; i < n; i++) args[i] = F[i];
        const scratchSlot = I[${SCRATCH_SLOT}];
        if (scratchSlot >= 0) args[scratchSlot] = I[${SCRATCH_BASE}] + index * I[${SCRATCH_STRIDE}];
        if (scratchSlot >= 0 && I[${POISON}] === 1) new Uint8Array(data.memory.buffer).fill(${POISON_BYTE}, args[scratchSlot], args[scratchSlot] + I[${SCRATCH_STRIDE}]);
        const ns = I[${NSLOTS}];
        for (let s = 0; s < ns; s++) args[I[${SLOTS} + s]] = I[${PART_BASE} + t * ${MAX_SLOTS} + s];
        fns[I[${FN}]].apply(null, args);
      } catch (e) {
        Atomics.store(I, ${ERR}, 1);
      }
      if (Atomics.add(I, ${DONE}, 1) + 1 === parts) Atomics.notify(I, ${DONE});
    }
  }
};
const nodePort = typeof require === 'function' ? require('node:worker_threads').parentPort : null;
if (nodePort) {
  const parentPort = nodePort;
  parentPort.once('message', (data) => start(data, (m) => parentPort.postMessage(m)));
} else {
  self.onmessage = (e) => { self.onmessage = null; start(e.data, (m) => self.postMessage(m)); };
}
`;

/** What a started worker looks like to the pool, whatever the runtime. */
interface WorkerHandle {
  post(message: unknown): void;
  onMessage(fn: (m: { ready?: boolean; error?: string }) => void, onError: (e: unknown) => void): void;
  /** Once started: drop the listeners and let the process exit while the worker idles. */
  detach(): void;
  terminate(): void;
}

/** Whether this thread may block in Atomics.wait (not a browser's main thread). */
export function canBlock(): boolean {
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return false;
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** Cores available to this process: navigator.hardwareConcurrency, or os.availableParallelism on Node. */
export async function availableCores(): Promise<number> {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  if (nav && typeof nav.hardwareConcurrency === 'number' && nav.hardwareConcurrency > 0) return nav.hardwareConcurrency;
  if (isNode()) {
    try {
      const os = await import('node:os');
      return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
    } catch {
      return 1;
    }
  }
  return 1;
}

/** An environment variable (Node, Deno), or undefined where there is none or no access. */
function envVar(name: string): string | undefined {
  try {
    const g = globalThis as { process?: { env?: Record<string, string | undefined> }; Deno?: { env?: { get(k: string): string | undefined } } };
    return g.process?.env?.[name] ?? g.Deno?.env?.get(name);
  } catch {
    return undefined; // Deno without --allow-env
  }
}

/** A 0/1 switch from the environment: true for '1', false when unset, empty or '0'. */
export function envFlag(name: string): boolean {
  const raw = envVar(name)?.trim();
  if (raw === undefined || raw === '' || raw === '0') return false;
  if (raw === '1') return true;
  throw new Error(`${name} must be 0 or 1, got '${raw}'`);
}

/** KDET_THREADS from the environment (Node, Deno), or undefined. */
export function threadsFromEnv(): number | undefined {
  const raw = envVar('KDET_THREADS');
  if (raw === undefined || raw.trim() === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`KDET_THREADS must be a positive integer, got '${raw}'`);
  return n;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string' && typeof (globalThis as { Deno?: unknown }).Deno === 'undefined';
}

async function spawn(): Promise<WorkerHandle> {
  // Deno too: its node:worker_threads can unref an idle worker (a web Worker keeps Deno alive).
  if (isNode() || typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined') {
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(WORKER_SOURCE, { eval: true });
    let listeners: [(m: { ready?: boolean; error?: string }) => void, (e: unknown) => void] | null = null;
    return {
      post: (m) => w.postMessage(m),
      onMessage: (fn, onError) => {
        listeners = [fn, onError];
        w.on('message', fn);
        w.on('error', onError);
      },
      // A 'message' listener keeps the worker's port referenced: without it, and unref'd, an idle
      // worker never keeps the process alive (the pool wakes workers only while a kernel runs).
      detach: () => {
        if (listeners) {
          w.off('message', listeners[0]);
          w.off('error', listeners[1]);
        }
        w.on('error', () => {});
        w.unref();
      },
      terminate: () => void w.terminate(),
    };
  }
  const W = (globalThis as { Worker?: new (url: string | URL, opts?: { type?: string }) => Worker }).Worker;
  if (typeof W !== 'function') throw new Error('this runtime has no Worker');
  let url: string;
  if (typeof URL.createObjectURL === 'function' && typeof Blob === 'function') {
    url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  } else {
    url = `data:text/javascript;base64,${btoa(WORKER_SOURCE)}`;
  }
  const w = new W(url, { type: 'module' });
  return {
    post: (m) => w.postMessage(m),
    onMessage: (fn, onError) => {
      w.onmessage = (e: MessageEvent) => fn(e.data as { ready?: boolean; error?: string });
      w.onerror = (e) => onError(e);
    },
    detach: () => {
      w.onmessage = null;
    },
    terminate: () => {
      w.terminate();
      if (url.startsWith('blob:')) URL.revokeObjectURL(url);
    },
  };
}

/** A pool of `threads − 1` workers plus the calling thread. */
export class ThreadPool {
  private readonly I: Int32Array;
  private readonly F: Float64Array;
  private readonly ids = new Map<string, number>();
  private closed = false;

  private constructor(
    readonly threads: number,
    private readonly workers: WorkerHandle[],
    private readonly memory: WebAssembly.Memory,
    ctrl: SharedArrayBuffer,
    names: readonly string[],
  ) {
    this.I = new Int32Array(ctrl);
    this.F = new Float64Array(ctrl, ARGS_BYTE, MAX_ARGS);
    names.forEach((n, i) => this.ids.set(n, i));
  }

  /**
   * Starts `threads − 1` workers on `module` over the shared `memory`, each exporting `names`.
   * Rejects (after terminating whatever started) if a worker cannot start.
   */
  static async start(threads: number, module: WebAssembly.Module, memory: WebAssembly.Memory, names: readonly string[]): Promise<ThreadPool> {
    if (threads < 2 || threads > MAX_THREADS) throw new Error(`a pool runs 2 to ${MAX_THREADS} threads, not ${threads}`);
    const ctrl = new SharedArrayBuffer(CTRL_BYTES);
    const workers: WorkerHandle[] = [];
    try {
      for (let i = 1; i < threads; i++) workers.push(await spawn());
      await Promise.all(workers.map((w, i) => new Promise<void>((resolve, reject) => {
        w.onMessage((m) => {
          if (m.ready) resolve();
          else if (m.error) reject(new Error(`a kdet.wasm worker failed to start: ${m.error}`));
        }, (e) => reject(new Error(`a kdet.wasm worker failed: ${e instanceof Error ? e.message : String((e as { message?: string })?.message ?? e)}`)));
        w.post({ module, memory, ctrl, index: i + 1, names });
      })));
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    for (const w of workers) w.detach();
    return new ThreadPool(threads, workers, memory, ctrl, names);
  }

  /**
   * Runs `fn(...args)` as `parts.length` parts, part t with args[slots[s]] = parts[t][s]. The
   * threads (the caller's included) claim parts one at a time from a shared counter, so a thread
   * the OS holds back (other processes on the cores) leaves its parts to the others; which thread
   * runs a part does not change what it computes. With `scratch`, args[scratch.slot] is the
   * running thread's own block: scratch.base + thread index × scratch.stride (caller: index 0).
   * Throws if any part threw, after every part has finished: no kernel outlives the call.
   */
  run(
    name: string, fn: (...args: number[]) => unknown, args: readonly number[], slots: readonly number[],
    parts: readonly (readonly number[])[], scratch: { slot: number; base: number; stride: number; poison?: boolean } | null = null,
  ): void {
    if (parts.length > MAX_PARTS) throw new Error(`kdet.wasm: ${parts.length} parts exceed ${MAX_PARTS}`);
    if (this.closed) throw new Error('kdet.wasm: the thread pool was closed');
    const id = this.ids.get(name);
    if (id === undefined) throw new Error(`kdet.wasm: '${name}' is not a pool kernel`);
    if (args.length > MAX_ARGS || slots.length > MAX_SLOTS) throw new Error(`kdet.wasm: too many arguments for '${name}'`);
    const I = this.I;
    I[FN] = id;
    I[NARGS] = args.length;
    I[NSLOTS] = slots.length;
    I[PARTS] = parts.length;
    I[ERR] = 0;
    I[SCRATCH_SLOT] = scratch ? scratch.slot : -1;
    I[SCRATCH_BASE] = scratch ? scratch.base : 0;
    I[SCRATCH_STRIDE] = scratch ? scratch.stride : 0;
    I[POISON] = scratch?.poison ? 1 : 0;
    for (let i = 0; i < args.length; i++) this.F[i] = args[i]!;
    for (let s = 0; s < slots.length; s++) I[SLOTS + s] = slots[s]!;
    for (let t = 0; t < parts.length; t++) {
      const p = parts[t]!;
      for (let s = 0; s < slots.length; s++) I[PART_BASE + t * MAX_SLOTS + s] = p[s]!;
    }
    const gen = (I[GEN]! + 1) | 0;
    const tag = tagOf(gen);
    const n = parts.length;
    Atomics.store(I, DONE, 0);
    Atomics.store(I, CLAIM, tag | n);
    Atomics.store(I, GEN, gen);
    Atomics.notify(I, GEN);
    const mine = args.slice();
    if (scratch) mine[scratch.slot] = scratch.base;
    let error: unknown = null;
    for (;;) {
      const c = Atomics.load(I, CLAIM);
      const left = c - tag;
      if (left <= 0) break;
      if (Atomics.compareExchange(I, CLAIM, c, c - 1) !== c) continue;
      const p = parts[n - left]!;
      for (let s = 0; s < slots.length; s++) mine[slots[s]!] = p[s]!;
      if (scratch?.poison) this.poisonScratch(scratch.base, scratch.stride);
      try {
        fn(...mine);
      } catch (e) {
        error ??= e; // the other parts still run: every claimed part must be counted done
      }
      Atomics.add(I, DONE, 1);
    }
    // Wait for the parts workers claimed, not for the workers: one the OS has not woken yet
    // claims nothing and holds up nothing.
    let since = 0;
    for (let spins = 1; ; spins++) {
      const d = Atomics.load(I, DONE);
      if (d >= n) break;
      if ((spins & 255) !== 0) continue;
      if (since === 0) since = performance.now();
      else if (performance.now() - since > SPIN_MS) Atomics.wait(I, DONE, d);
    }
    if (error) throw error;
    if (I[ERR] !== 0) throw new Error(`kdet.wasm: '${name}' failed in a worker thread`);
  }

  /** Debugging: the caller's scratch refilled with 0xFF, as the workers do with theirs. */
  private poisonScratch(base: number, stride: number): void {
    new Uint8Array(this.memory.buffer).fill(POISON_BYTE, base, base + stride);
  }

  /** Stops every worker (they exit their loop, then are terminated). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.I, EXITING, 1);
    Atomics.add(this.I, GEN, 1);
    Atomics.notify(this.I, GEN);
    for (const w of this.workers) w.terminate();
  }
}

/**
 * Turns a module that defines its own memory into one that imports a shared memory as
 * env.memory (same limits' minimum, the given maximum in pages): the memory section is dropped
 * and an import entry added. Memory index 0 stays the one memory, so no code changes. The serial
 * backend instantiates the module as built; the threaded one this variant, once per thread.
 */
export function withSharedMemoryImport(bytes: Uint8Array, maximumPages: number): { bytes: Uint8Array; initialPages: number } {
  const sections: { id: number; body: Uint8Array }[] = [];
  let pos = 8;
  const readU32 = (buf: Uint8Array, at: number): [number, number] => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = buf[at++]!;
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) return [result, at];
    }
  };
  while (pos < bytes.length) {
    const id = bytes[pos]!;
    const [size, at] = readU32(bytes, pos + 1);
    sections.push({ id, body: bytes.subarray(at, at + size) });
    pos = at + size;
  }
  const memIndex = sections.findIndex((s) => s.id === 5);
  if (memIndex < 0) throw new Error('kdet.wasm: the module defines no memory');
  const mem = sections[memIndex]!.body;
  const [count, afterCount] = readU32(mem, 0);
  if (count !== 1) throw new Error('kdet.wasm: expected one memory');
  const flags = mem[afterCount]!;
  if (flags !== 0 && flags !== 1) throw new Error(`kdet.wasm: unexpected memory limits flags ${flags}`);
  const [initialPages] = readU32(mem, afterCount + 1);
  const leb = (n: number): number[] => {
    const out: number[] = [];
    do {
      let b = n % 128;
      n = Math.floor(n / 128);
      if (n > 0) b |= 0x80;
      out.push(b);
    } while (n > 0);
    return out;
  };
  const str = (s: string) => [...leb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
  const entry = [...str('env'), ...str('memory'), 0x02, 0x03, ...leb(initialPages), ...leb(maximumPages)];
  sections.splice(memIndex, 1);
  const impIndex = sections.findIndex((s) => s.id === 2);
  if (impIndex >= 0) {
    const imp = sections[impIndex]!.body;
    const [n, rest] = readU32(imp, 0);
    sections[impIndex] = { id: 2, body: Uint8Array.from([...leb(n + 1), ...imp.subarray(rest), ...entry]) };
  } else {
    const before = sections.findIndex((s) => s.id !== 0 && s.id !== 1 && s.id > 1);
    sections.splice(before < 0 ? sections.length : before, 0, { id: 2, body: Uint8Array.from([1, ...entry]) });
  }
  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  for (const s of sections) parts.push(Uint8Array.from([s.id, ...leb(s.body.length)]), s.body);
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return { bytes: out, initialPages };
}
