/**
 * Wall-clock time per WasmBackend method (bench/tune/op-profile.ts's mechanism, shared): every
 * method of the prototype is wrapped with a timer that counts while `on` is true. Calls made
 * from inside another timed call (read → readSync) are left to the outer one, so the totals add
 * up to the time spent in backend methods. With `shapes`, the heavy kernels (matmul, the three
 * convolutions, ROI align / pool and their gradients, batch norm) are also totalled per shape,
 * which names the layer: fc6's forward is `matmul 1024×12544 · (1024×12544)ᵀ` at 512 ROIs × 2
 * images (operands as stored, a transposed one as (stored shape)ᵀ).
 *
 * The wasm kernels run synchronously (with threads, the main thread waits for the pool), so a
 * method's wall time is its kernel's; nms returns a resolved promise and is timed the same way.
 */
import { WasmBackend } from '../../src/backends/wasm/backend.js';

export interface OpTotal {
  ms: number;
  calls: number;
  /** Floating-point operations of the calls (matmul and convolutions; 0 for the others). */
  flops: number;
}

export interface OpTimer {
  /** Count while true (off at first: warm-up steps are left out by turning it on later). */
  on: boolean;
  readonly byMethod: Map<string, OpTotal>;
  readonly byShape: Map<string, OpTotal>;
  reset(): void;
  /** Milliseconds in backend methods since the last reset. */
  total(): number;
}

/**
 * A short description of a kernel's problem size from its parameter object ('' for other
 * methods), and its floating-point operations where that is a GEMM's 2·m·k·n (matmul, conv2d and
 * both its gradients; 0 otherwise).
 */
export function describeShape(args: readonly unknown[]): [string, number] {
  const p = args.at(-1) as Record<string, number> | undefined;
  if (!p || typeof p !== 'object' || ArrayBuffer.isView(p)) return ['', 0];
  if ('transA' in p && 'm' in p) {
    const batch = Math.max(Number(p.batchA), Number(p.batchB));
    // Operands as stored: a transposed one is written (stored shape)ᵀ.
    const a = p.transA ? `(${p.k}×${p.m})ᵀ` : `${p.m}×${p.k}`;
    const b = p.transB ? `(${p.n}×${p.k})ᵀ` : `${p.k}×${p.n}`;
    return [`${batch > 1 ? `${batch}× ` : ''}${a} · ${b}`, 2 * batch * p.m! * p.k! * p.n!];
  }
  if ('cIn' in p && 'kh' in p) {
    const label = `${p.n}×${p.cIn}×${p.h}×${p.w} → ${p.cOut}×${p.outH}×${p.outW}, ${p.kh}×${p.kw} s${p.strideH}${p.groups! > 1 ? ` g${p.groups}` : ''}`;
    return [label, 2 * p.n! * p.cOut! * p.outH! * p.outW! * (p.cIn! / p.groups!) * p.kh! * p.kw!];
  }
  if ('pooledH' in p) return [`${p.k} ROIs on ${p.n}×${p.c}×${p.h}×${p.w} → ${p.pooledH}×${p.pooledW}`, 0];
  if ('hw' in p && 'c' in p) return [`${p.n}×${p.c}×${p.hw}`, 0];
  if ('c' in p && 'n' in p && 'h' in p) return [`${p.n}×${p.c}×${p.h}×${p.w}`, 0];
  return ['', 0];
}

let installed: OpTimer | null = null;

/** Wrap WasmBackend's methods (once per process) and return the counters. */
export function installOpTimer(opts: { shapes?: boolean } = {}): OpTimer {
  if (installed) return installed;
  const byMethod = new Map<string, OpTotal>();
  const byShape = new Map<string, OpTotal>();
  let depth = 0;
  const timer: OpTimer = {
    on: false,
    byMethod,
    byShape,
    reset() {
      byMethod.clear();
      byShape.clear();
    },
    total: () => [...byMethod.values()].reduce((s, e) => s + e.ms, 0),
  };
  const add = (map: Map<string, OpTotal>, key: string, ms: number, flops: number) => {
    const e = map.get(key) ?? { ms: 0, calls: 0, flops: 0 };
    e.ms += ms;
    e.calls++;
    e.flops += flops;
    map.set(key, e);
  };
  const proto = WasmBackend.prototype as unknown as Record<string, unknown>;
  for (const name of Object.getOwnPropertyNames(proto)) {
    const f = Object.getOwnPropertyDescriptor(proto, name)?.value;
    if (name === 'constructor' || typeof f !== 'function') continue;
    proto[name] = function (this: unknown, ...args: unknown[]) {
      if (!timer.on || depth > 0) return (f as (...a: unknown[]) => unknown).apply(this, args);
      depth++;
      const t0 = performance.now();
      try {
        return (f as (...a: unknown[]) => unknown).apply(this, args);
      } finally {
        depth--;
        const ms = performance.now() - t0;
        const [shape, flops] = describeShape(args);
        add(byMethod, name, ms, flops);
        if (opts.shapes && shape) add(byShape, `${name} ${shape}`, ms, flops);
      }
    };
  }
  installed = timer;
  return timer;
}
