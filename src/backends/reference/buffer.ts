import type { DType } from '../../engine/dtype.js';

/**
 * A reference-backend buffer: every element is held as a float64 whatever the dtype, so that
 * chains of kernels are evaluated in double precision (finite differences need it) and int32
 * values are exact. The dtype is remembered only to catch an engine that mixes them up.
 */
export class RefBuffer {
  constructor(
    readonly data: Float64Array,
    readonly dtype: DType,
  ) {}
}

/** The error every kernel throws for a contract violation: names the kernel and what is wrong. */
export class ReferenceBackendError extends Error {
  constructor(kernel: string, message: string) {
    super(`kdet reference backend: ${kernel}: ${message}`);
    this.name = 'ReferenceBackendError';
  }
}

export function refFail(kernel: string, message: string): never {
  throw new ReferenceBackendError(kernel, message);
}

/**
 * Tracks live buffers so that memory() is exact and a double free, a use after free or a foreign
 * handle is an error instead of silent corruption.
 */
export class BufferRegistry {
  private readonly live = new Set<RefBuffer>();
  private elements = 0;

  create(data: Float64Array, dtype: DType): RefBuffer {
    const b = new RefBuffer(data, dtype);
    this.live.add(b);
    this.elements += data.length;
    return b;
  }

  free(buf: unknown): void {
    if (!(buf instanceof RefBuffer)) refFail('free', `not a reference-backend buffer: ${describe(buf)}`);
    if (!this.live.delete(buf)) refFail('free', `buffer of ${buf.data.length} ${buf.dtype} elements was already freed (double free)`);
    this.elements -= buf.data.length;
  }

  /** The data of a live buffer, checked for dtype and (when given) element count. */
  get(kernel: string, arg: string, buf: unknown, dtype?: DType, size?: number): Float64Array {
    if (!(buf instanceof RefBuffer)) refFail(kernel, `${arg}: not a reference-backend buffer: ${describe(buf)}`);
    if (!this.live.has(buf)) refFail(kernel, `${arg}: buffer of ${buf.data.length} elements was used after free()`);
    if (dtype !== undefined && buf.dtype !== dtype) refFail(kernel, `${arg}: expected a ${dtype} buffer, got ${buf.dtype}`);
    if (size !== undefined && buf.data.length !== size) {
      refFail(kernel, `${arg}: expected ${size} elements, the buffer holds ${buf.data.length}`);
    }
    return buf.data;
  }

  stats(): { bytes: number; buffers: number } {
    // 4 bytes per element, as a float32/int32 backend would hold them, so numbers compare.
    return { bytes: this.elements * 4, buffers: this.live.size };
  }

  clear(): void {
    this.live.clear();
    this.elements = 0;
  }
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  return typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v;
}
