import { arrayFor, type DataArray, type DType } from '../../engine/dtype.js';
import { KdetError } from '../../engine/errors.js';
import { GpuCounters } from './counters.js';
import { moduleNames, moduleSource, type Kernel, type ModuleName } from './modules.js';
import { type Params, UNIFORM_BYTES } from './params.js';
import { BufferPool, sizeClass } from './pool.js';

// WebGPU's flag values, spelled out so that nothing depends on the GPUBufferUsage globals
// (Dawn for Node does not install them).
const USAGE_MAP_READ = 0x0001;
const USAGE_COPY_SRC = 0x0004;
const USAGE_COPY_DST = 0x0008;
const USAGE_UNIFORM = 0x0040;
const USAGE_STORAGE = 0x0080;
const MAP_READ = 0x0001;
const STAGE_COMPUTE = 0x0004;
const TENSOR_USAGE = USAGE_STORAGE | USAGE_COPY_SRC | USAGE_COPY_DST;

/** A tensor's storage on the device: the opaque handle the engine holds. */
export class GpuBuffer {
  freed = false;
  constructor(
    readonly buffer: GPUBuffer,
    /** Bytes the tensor uses (the buffer may be larger: its pool size class). */
    readonly bytes: number,
    readonly cls: number,
  ) {}
}

export interface ContextOptions {
  /** Bytes of freed buffers kept for reuse (default 256 MiB). */
  poolBytes?: number;
  /** Dispatches recorded into one command encoder before it is submitted (default 64). */
  flushEvery?: number;
  /**
   * The device is a GPU emulated on the CPU (SwiftShader, lavapipe, WARP): kernels that compile
   * and run faster there are chosen (GEMMs without workgroup memory). Detected from the adapter
   * when not set.
   */
  cpuEmulated?: boolean;
}

/** The pipeline cache's key: `module.entry|bindings|NAME=value,…` (constants sorted by name). */
export function pipelineKey(k: Kernel, constants: Record<string, number>): string {
  const names = Object.keys(constants).sort();
  return `${k.module}.${k.entry}|${k.bindings}|${names.map((n) => `${n}=${constants[n]}`).join(',')}`;
}

/** The kernel and constants of a pipelineKey, or null where it does not parse. */
export function parsePipelineKey(key: string): { kernel: Kernel; constants: Record<string, number> } | null {
  const m = /^(\w+)\.(\w+)\|([urw]+)\|(.*)$/.exec(key);
  if (!m || !(moduleNames as string[]).includes(m[1]!)) return null;
  const constants: Record<string, number> = {};
  for (const part of m[4] ? m[4].split(',') : []) {
    const c = /^(\w+)=(-?\d+(?:\.\d+)?)$/.exec(part);
    if (!c) return null;
    constants[c[1]!] = Number(c[2]);
  }
  return { kernel: { module: m[1] as ModuleName, entry: m[2]!, bindings: m[3]! }, constants };
}

/** Whether an adapter's description names a CPU implementation of WebGPU's GPU. */
export function isCpuAdapter(info: { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean } | undefined): boolean {
  if (!info) return false;
  if (info.isFallbackAdapter) return true;
  const text = [info.vendor, info.architecture, info.device, info.description].join(' ');
  return /swiftshader|llvmpipe|lavapipe|microsoft basic render|\bwarp\b/i.test(text);
}

/**
 * Owns the device and everything on it: buffers (pooled), pipelines (cached by kernel and
 * override constants), the open command encoder, and the error state.
 *
 * Dispatches are recorded into one compute pass and submitted in batches (on a read, on
 * `sync`, or every `flushEvery` dispatches). Each dispatch's uniforms take a 256-byte slot of
 * one arena buffer that is written once per batch, just before its submit; queue order makes
 * reusing the arena for the next batch safe.
 *
 * Device errors arrive asynchronously (device loss, out-of-memory scopes, uncaptured errors).
 * The first one is kept and thrown by every later call, so a failure surfaces at the next
 * kernel or read with a message that says what happened.
 */
export class GpuContext {
  private readonly pool: BufferPool;
  private readonly staging = new Map<number, GPUBuffer[]>();
  private readonly live = new Set<GpuBuffer>();
  private liveBytes = 0;
  /** GPU buffers ever created (tensor and staging): flat once the pool has warmed up. */
  private created = 0;
  private readonly modules = new Map<ModuleName, GPUShaderModule>();
  private readonly pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  /** Pipelines being built by warmUp (createComputePipelineAsync), by key. */
  private readonly warming = new Map<string, Promise<boolean>>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  private readonly flushEvery: number;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatches = 0;
  private readonly arena: GPUBuffer;
  private readonly arenaCpu: Uint32Array<ArrayBuffer>;
  private slot = 0;
  private fatal: Error | null = null;
  private disposed = false;
  private readonly pending = new Set<Promise<void>>();
  /** Bound where a kernel's optional input is absent (e.g. conv2d without bias). */
  readonly dummy: GpuBuffer;
  /** See ContextOptions.cpuEmulated. */
  readonly cpuEmulated: boolean;
  /** Dispatches, submits, buffer creations, bytes each way and waits (see counters.ts). */
  readonly counters = new GpuCounters();

  constructor(
    readonly device: GPUDevice,
    private readonly ownsDevice: boolean,
    opts: ContextOptions = {},
    /** Kept alive until dispose (see Acquired.gpu in device.ts). */
    private gpu: GPU | null = null,
  ) {
    this.pool = new BufferPool(opts.poolBytes ?? 256 * 2 ** 20);
    this.flushEvery = Math.max(1, opts.flushEvery ?? 64);
    this.cpuEmulated = opts.cpuEmulated ?? isCpuAdapter((device as { adapterInfo?: GPUAdapterInfo }).adapterInfo);
    this.arena = device.createBuffer({ size: this.flushEvery * UNIFORM_BYTES, usage: USAGE_UNIFORM | USAGE_COPY_DST });
    this.arenaCpu = new Uint32Array((this.flushEvery * UNIFORM_BYTES) / 4);
    this.dummy = new GpuBuffer(device.createBuffer({ size: 16, usage: TENSOR_USAGE }), 16, 16);
    void device.lost.then((info) => {
      if (!this.disposed) {
        this.setFatal(new KdetError('webgpu', `the GPU device was lost (${info.reason}): ${info.message || 'no details'}; create a new backend`));
      }
    });
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      const kind = e.constructor?.name === 'GPUOutOfMemoryError' ? 'out of GPU memory' : 'GPU error (a bug in the WebGPU backend)';
      this.setFatal(new KdetError('webgpu', `${kind}: ${e.message}`));
    });
  }

  // ---- state ----

  check(): void {
    if (this.disposed) throw new KdetError('webgpu', 'the backend was disposed');
    if (this.fatal) throw this.fatal;
  }

  private setFatal(e: Error): void {
    this.fatal ??= e;
  }

  private watch(p: Promise<void>): void {
    const q = p.finally(() => this.pending.delete(q));
    this.pending.add(q);
  }

  /** Wait for outstanding error scopes so that their errors are known. */
  private async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  // ---- memory ----

  private createBuffer(size: number, usage: number, forBytes: number): GPUBuffer {
    const limit = Math.min(this.device.limits.maxBufferSize, this.device.limits.maxStorageBufferBindingSize);
    if (size > limit) {
      throw new KdetError('webgpu', `a tensor of ${forBytes} bytes exceeds this device's largest storage buffer (${limit} bytes)`);
    }
    this.device.pushErrorScope('out-of-memory');
    const buffer = this.device.createBuffer({ size, usage });
    this.created++;
    if (usage & USAGE_MAP_READ) this.counters.stagingBuffersCreated++;
    else this.counters.storageBuffersCreated++;
    this.watch(
      this.device.popErrorScope().then((err) => {
        if (err) {
          this.setFatal(new KdetError('webgpu', `out of GPU memory allocating ${size} bytes (live tensors: ${this.liveBytes} bytes in ${this.live.size} buffers; pool: ${this.pool.bytes} bytes): ${err.message}`));
        }
      }),
    );
    return buffer;
  }

  private track(buffer: GPUBuffer, bytes: number, cls: number): GpuBuffer {
    const b = new GpuBuffer(buffer, bytes, cls);
    this.live.add(b);
    this.liveBytes += bytes;
    return b;
  }

  /** Uninitialised storage of `bytes` (a kernel output). */
  alloc(bytes: number): GpuBuffer {
    this.check();
    const cls = sizeClass(bytes);
    const buffer = this.pool.take(cls, false) ?? this.createBuffer(cls, TENSOR_USAGE, bytes);
    return this.track(buffer, bytes, cls);
  }

  upload(data: DataArray): GpuBuffer {
    this.check();
    const cls = sizeClass(data.byteLength);
    const buffer = this.pool.take(cls, true) ?? this.createBuffer(cls, TENSOR_USAGE, data.byteLength);
    if (data.byteLength > 0) {
      this.device.queue.writeBuffer(buffer, 0, data as Float32Array<ArrayBuffer>);
      this.counters.bytesUploaded += data.byteLength;
    }
    return this.track(buffer, data.byteLength, cls);
  }

  free(b: GpuBuffer): void {
    if (b.freed) throw new KdetError('webgpu', 'a buffer was freed twice');
    b.freed = true;
    if (this.disposed) return;
    this.live.delete(b);
    this.liveBytes -= b.bytes;
    this.pool.give(b.cls, b.buffer);
    if (!this.encoder) this.pool.submitted();
  }

  memory(): { bytes: number; buffers: number } {
    return { bytes: this.liveBytes, buffers: this.live.size };
  }

  /** Pool and cache sizes, for tests and diagnostics. */
  stats(): { pooledBytes: number; pipelines: number; created: number } {
    return { pooledBytes: this.pool.bytes, pipelines: this.pipelines.size, created: this.created };
  }

  // ---- kernels ----

  private bindLayout(spec: string): GPUBindGroupLayout {
    let layout = this.layouts.get(spec);
    if (!layout) {
      const types: Record<string, GPUBufferBindingType> = { u: 'uniform', r: 'read-only-storage', w: 'storage' };
      layout = this.device.createBindGroupLayout({
        entries: [...spec].map((c, binding) => ({ binding, visibility: STAGE_COMPUTE, buffer: { type: types[c]! } })),
      });
      this.layouts.set(spec, layout);
    }
    return layout;
  }

  private shaderModule(name: ModuleName): GPUShaderModule {
    let module = this.modules.get(name);
    if (!module) {
      module = this.device.createShaderModule({ label: name, code: moduleSource(name) });
      this.modules.set(name, module);
    }
    return module;
  }

  private describe(k: Kernel, constants: Record<string, number>, key: string): { desc: GPUComputePipelineDescriptor; layout: GPUBindGroupLayout } {
    const layout = this.bindLayout(k.bindings);
    return {
      desc: {
        label: key,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module: this.shaderModule(k.module), entryPoint: k.entry, constants },
      },
      layout,
    };
  }

  private pipeline(k: Kernel, constants: Record<string, number>): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
    const key = pipelineKey(k, constants);
    let p = this.pipelines.get(key);
    if (p) return p;
    // Not built yet (or still building in warmUp: a dispatch cannot wait, so it is built here).
    const { desc, layout } = this.describe(k, constants, key);
    this.device.pushErrorScope('validation');
    const pipeline = this.device.createComputePipeline(desc);
    this.watch(
      this.device.popErrorScope().then((err) => {
        if (err) this.setFatal(new KdetError('webgpu', `internal error: kernel ${key} failed to build: ${err.message}`));
      }),
    );
    p = { pipeline, layout };
    this.pipelines.set(key, p);
    return p;
  }

  /** Keys of the pipelines built so far (see warmUp), in the order they were first needed. */
  pipelineKeys(): string[] {
    return [...this.pipelines.keys()];
  }

  /**
   * Build these pipelines ahead of their first dispatch. Keys are those of `pipelineKeys()`
   * (`module.entry|bindings|NAME=value,…`), e.g. recorded from an earlier run of the same work.
   * A key that does not parse or does not build is reported in `failed` and otherwise ignored:
   * it can only have been a stale guess, and a dispatch that needs a pipeline builds it as usual.
   *
   * `async: false` (the default) issues every build at once with createComputePipeline and
   * resolves when the device has checked them. In a browser that call does not block: the GPU
   * process compiles the list in order while this thread goes on (loading a model), and the
   * first step then finds its pipelines built instead of compiling them one by one. (In Node,
   * Dawn compiles on the calling thread, so there it only moves the cost.) `async: true` uses
   * createComputePipelineAsync, `concurrency` builds in flight at a time: for drivers that
   * compile on several threads. On SwiftShader it was the slower way in both Chromium (about
   * 125 ms per pipeline even one at a time, 6.6 s for the demo's 53) and Node.
   */
  async warmUp(keys: readonly string[], opts: { async?: boolean; concurrency?: number } = {}): Promise<{ built: number; failed: string[] }> {
    if (!opts.async) return this.warmUpNow(keys);
    this.check();
    const failed: string[] = [];
    let built = 0;
    const queue = [...keys];
    const lanes = Math.max(1, Math.min(opts.concurrency ?? Infinity, queue.length));
    const one = async (key: string): Promise<void> => {
      if (this.pipelines.has(key)) return;
      let job = this.warming.get(key);
      if (!job) {
        const spec = parsePipelineKey(key);
        if (!spec) {
          failed.push(key);
          return;
        }
        const { desc, layout } = this.describe(spec.kernel, spec.constants, key);
        job = this.device.createComputePipelineAsync(desc).then(
          (pipeline) => {
            if (!this.pipelines.has(key)) this.pipelines.set(key, { pipeline, layout });
            return true;
          },
          () => false,
        );
        this.warming.set(key, job);
        void job.finally(() => this.warming.delete(key));
      }
      if (await job) built++;
      else failed.push(key);
    };
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        for (let key = queue.shift(); key !== undefined; key = queue.shift()) await one(key);
      }),
    );
    return { built, failed };
  }

  /** warmUp with createComputePipeline: every build issued now, each in its own error scope. */
  private async warmUpNow(keys: readonly string[]): Promise<{ built: number; failed: string[] }> {
    this.check();
    const failed: string[] = [];
    let built = 0;
    const checks: Promise<void>[] = [];
    for (const key of new Set(keys)) {
      if (this.pipelines.has(key)) continue;
      const spec = parsePipelineKey(key);
      if (!spec) {
        failed.push(key);
        continue;
      }
      const { desc, layout } = this.describe(spec.kernel, spec.constants, key);
      this.device.pushErrorScope('validation');
      const pipeline = this.device.createComputePipeline(desc);
      // Cached at once: a key that real code generates always builds, so a dispatch never meets
      // one of these before its check; a listed key that fails is one no code uses.
      this.pipelines.set(key, { pipeline, layout });
      checks.push(
        this.device.popErrorScope().then(
          (err) => {
            if (!err) return void built++;
            failed.push(key);
            if (this.pipelines.get(key)?.pipeline === pipeline) this.pipelines.delete(key);
          },
          () => void failed.push(key),
        ),
      );
    }
    await Promise.all(checks);
    return { built, failed };
  }

  /**
   * Record one dispatch: binding 0 gets `params`, bindings 1… get `buffers`. Nothing is
   * recorded for an empty grid.
   */
  run(k: Kernel, constants: Record<string, number>, params: Params, buffers: readonly GpuBuffer[], groups: readonly [number, number, number]): void {
    this.check();
    if (buffers.length !== k.bindings.length - 1) {
      throw new Error(`kdet.webgpu: kernel ${k.module}.${k.entry} takes ${k.bindings.length - 1} buffers, got ${buffers.length}`);
    }
    for (const b of buffers) if (b.freed) throw new KdetError('webgpu', `kernel ${k.entry} was given a freed buffer`);
    if (groups[0] * groups[1] * groups[2] === 0) return;
    const { pipeline, layout } = this.pipeline(k, constants);
    if (this.slot * UNIFORM_BYTES >= this.arena.size) this.flush();
    const offset = this.slot++ * UNIFORM_BYTES;
    this.arenaCpu.set(params.data, offset / 4);
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.arena, offset, size: UNIFORM_BYTES } }];
    buffers.forEach((b, i) => entries.push({ binding: i + 1, resource: { buffer: b.buffer } }));
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, this.device.createBindGroup({ layout, entries }));
    pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
    this.counters.dispatches++;
    if (++this.dispatches >= this.flushEvery) this.flush();
  }

  private commandEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    this.pass ??= this.commandEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /** Submit what has been recorded. */
  flush(): void {
    if (!this.encoder || this.disposed) return;
    this.endPass();
    if (this.slot > 0) {
      this.device.queue.writeBuffer(this.arena, 0, this.arenaCpu, 0, (this.slot * UNIFORM_BYTES) / 4);
      this.counters.uniformBytesUploaded += this.slot * UNIFORM_BYTES;
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.counters.submits++;
    this.encoder = null;
    this.slot = 0;
    this.dispatches = 0;
    this.pool.submitted();
  }

  // ---- reading back ----

  /** `op` names what asked for the read, for the counters' waitsBy (see counters.ts). */
  async read(b: GpuBuffer, dtype: DType, size: number, op = 'read'): Promise<DataArray> {
    this.check();
    if (b.freed) throw new KdetError('webgpu', 'read of a freed buffer');
    const bytes = size * 4;
    if (bytes > b.bytes) throw new KdetError('webgpu', `read of ${size} elements from a buffer of ${b.bytes / 4}`);
    if (bytes === 0) return arrayFor(dtype, 0);
    const cls = sizeClass(bytes);
    const staging = this.staging.get(cls)?.pop() ?? this.createBuffer(cls, USAGE_MAP_READ | USAGE_COPY_DST, bytes);
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(b.buffer, 0, staging, 0, bytes);
    this.flush();
    this.counters.waited(op);
    this.counters.bytesReadBack += bytes;
    try {
      await staging.mapAsync(MAP_READ, 0, bytes);
    } catch (e) {
      staging.destroy();
      await this.settle();
      this.check();
      throw new KdetError('webgpu', `reading a tensor back failed: ${(e as Error).message}`);
    }
    const copy = staging.getMappedRange(0, bytes).slice(0);
    staging.unmap();
    if (this.disposed) staging.destroy();
    else {
      let list = this.staging.get(cls);
      if (!list) this.staging.set(cls, (list = []));
      list.push(staging);
    }
    await this.settle();
    this.check();
    return dtype === 'float32' ? new Float32Array(copy) : new Int32Array(copy);
  }

  async sync(): Promise<void> {
    this.check();
    this.flush();
    this.counters.waited('sync');
    await this.device.queue.onSubmittedWorkDone();
    await this.settle();
    this.check();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    try {
      this.pass?.end();
    } catch {
      // The pass is dropped either way.
    }
    this.pass = null;
    this.encoder = null;
    for (const b of this.live) b.buffer.destroy();
    this.live.clear();
    this.liveBytes = 0;
    this.pool.destroyAll();
    for (const list of this.staging.values()) for (const s of list) s.destroy();
    this.staging.clear();
    this.arena.destroy();
    this.dummy.buffer.destroy();
    if (this.ownsDevice) this.device.destroy();
    this.gpu = null;
  }
}
