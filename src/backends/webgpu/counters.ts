/**
 * What the WebGPU context did, counted: the costs of a step that a profiler of kernels does not
 * show. A GPU step is cheap when it records dispatches into few submits, takes every buffer from
 * the pool, and never makes the CPU wait for the GPU; these counters say how far a step is from
 * that. The context bumps plain integers; only a wait (already a GPU→CPU round trip, far dearer
 * than any bookkeeping) also updates a map.
 */

/** A frozen snapshot of the counters (or a difference of two: see `countsSince`). */
export interface GpuCounts {
  /** Compute dispatches recorded (empty grids are not dispatched and not counted). */
  readonly dispatches: number;
  /** queue.submit calls. */
  readonly submits: number;
  /** Tensor storage buffers created because the pool had none of the size class. */
  readonly storageBuffersCreated: number;
  /** MAP_READ staging buffers created for read-backs (each size class is kept after use). */
  readonly stagingBuffersCreated: number;
  /** Tensor bytes written with queue.writeBuffer (uploads of host data). */
  readonly bytesUploaded: number;
  /** Uniform bytes written with queue.writeBuffer (one arena write per submit with dispatches). */
  readonly uniformBytesUploaded: number;
  /** Tensor bytes copied back to the host. */
  readonly bytesReadBack: number;
  /** Times the CPU awaited the GPU: each mapAsync of a read-back, each onSubmittedWorkDone. */
  readonly waits: number;
  /**
   * Waits by what asked for them: the backend method that reached the read (`read` for
   * tensor.data() / itemAsync(), `nms`, `sync`), followed by ` ← ` and the calling code's
   * function and file:line when `traceWaits` is on.
   */
  readonly waitsBy: Readonly<Record<string, number>>;
}

/** The mutable counters a GpuContext bumps. */
export class GpuCounters {
  dispatches = 0;
  submits = 0;
  storageBuffersCreated = 0;
  stagingBuffersCreated = 0;
  bytesUploaded = 0;
  uniformBytesUploaded = 0;
  bytesReadBack = 0;
  waits = 0;
  private readonly by = new Map<string, number>();
  /**
   * Label each wait with the code outside the engine and the backend that caused it (one stack
   * trace per wait: meant for benches and tests; without source maps the file is the bundle's).
   */
  traceWaits = false;

  /**
   * Count one wait. Call it before the first `await` of the operation, so that the stack still
   * holds the caller's synchronous frames.
   */
  waited(op: string): void {
    this.waits++;
    const label = this.traceWaits ? `${op} ← ${callerSite()}` : op;
    this.by.set(label, (this.by.get(label) ?? 0) + 1);
  }

  snapshot(): GpuCounts {
    return Object.freeze({
      dispatches: this.dispatches,
      submits: this.submits,
      storageBuffersCreated: this.storageBuffersCreated,
      stagingBuffersCreated: this.stagingBuffersCreated,
      bytesUploaded: this.bytesUploaded,
      uniformBytesUploaded: this.uniformBytesUploaded,
      bytesReadBack: this.bytesReadBack,
      waits: this.waits,
      waitsBy: Object.freeze(Object.fromEntries(this.by)),
    });
  }

  reset(): void {
    this.dispatches = this.submits = this.storageBuffersCreated = this.stagingBuffersCreated = 0;
    this.bytesUploaded = this.uniformBytesUploaded = this.bytesReadBack = this.waits = 0;
    this.by.clear();
  }
}

/** What happened between two snapshots (`later` minus `earlier`), frozen. */
export function countsSince(later: GpuCounts, earlier: GpuCounts): GpuCounts {
  const waitsBy: Record<string, number> = {};
  for (const [k, v] of Object.entries(later.waitsBy)) {
    const d = v - (earlier.waitsBy[k] ?? 0);
    if (d !== 0) waitsBy[k] = d;
  }
  return Object.freeze({
    dispatches: later.dispatches - earlier.dispatches,
    submits: later.submits - earlier.submits,
    storageBuffersCreated: later.storageBuffersCreated - earlier.storageBuffersCreated,
    stagingBuffersCreated: later.stagingBuffersCreated - earlier.stagingBuffersCreated,
    bytesUploaded: later.bytesUploaded - earlier.bytesUploaded,
    uniformBytesUploaded: later.uniformBytesUploaded - earlier.uniformBytesUploaded,
    bytesReadBack: later.bytesReadBack - earlier.bytesReadBack,
    waits: later.waits - earlier.waits,
    waitsBy: Object.freeze(waitsBy),
  });
}

/** Frames of the engine, the backends and the runtime: what a wait's site skips. */
const INSIDE = /[\\/]src[\\/](engine|backends)[\\/]|node:internal|[\\/]node_modules[\\/]|^\s*at (async )?Promise\.all/;

/** `function (path:line)` of the first frame outside the engine and the backends. */
function callerSite(): string {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 40;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  for (const line of stack.split('\n').slice(1)) {
    if (INSIDE.test(line)) continue;
    const m = /^\s*at (?:async )?(?:(.*?) \()?(.*?):(\d+):\d+\)?$/.exec(line);
    if (!m) continue;
    const file = m[2]!.replace(/^file:\/\//, '').replace(/^.*?[\\/](src|test|bench|scripts|examples)[\\/]/, '$1/');
    return `${m[1] ?? '<anonymous>'} (${file}:${m[3]})`;
  }
  return 'unknown';
}
