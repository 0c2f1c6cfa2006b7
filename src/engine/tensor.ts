import type { Backend } from './backend.js';
import { arrayFor, type DataArray, type DType } from './dtype.js';
import { check, fail, fmtShape } from './errors.js';
import { sizeOf, type Shape } from './shape.js';
import { state } from './state.js';

/**
 * A backend buffer shared by tensors that view the same data (a reshape is free).
 * Freed when the last tensor holding it is disposed.
 */
export class Storage {
  refs = 1;
  constructor(
    readonly backend: Backend,
    readonly buf: unknown,
    readonly size: number,
    readonly dtype: DType,
  ) {}

  retain(): this {
    this.refs++;
    return this;
  }

  release(): void {
    if (--this.refs === 0) this.backend.free(this.buf);
  }
}

let nextId = 1;

/**
 * An immutable n-dimensional array on one backend. Ops never mutate a tensor; optimisers
 * replace a parameter's storage through `Parameter.assign` (see nn/).
 */
export class Tensor {
  readonly id = nextId++;
  readonly size: number;
  /** Set while a tape records and this tensor depends on a watched tensor. */
  tape: object | null = null;
  private _disposed = false;

  constructor(
    readonly shape: readonly number[],
    readonly dtype: DType,
    protected _storage: Storage,
    track = true,
  ) {
    this.size = sizeOf(shape);
    state.liveTensors++;
    if (track) state.track(this);
  }

  get storage(): Storage {
    if (this._disposed) fail('tensor', `tensor #${this.id} of shape ${fmtShape(this.shape)} was used after dispose()`);
    return this._storage;
  }

  get backend(): Backend {
    return this.storage.backend;
  }

  get buf(): unknown {
    return this.storage.buf;
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    state.liveTensors--;
    this._storage.release();
  }

  /** Synchronous read (wasm and reference backends). */
  dataSync(): DataArray {
    const s = this.storage;
    check(s.backend.canReadSync, 'dataSync', () => `backend '${s.backend.name}' reads asynchronously: use await tensor.data()`);
    return s.backend.readSync(s.buf, this.dtype, this.size);
  }

  async data(): Promise<DataArray> {
    const s = this.storage;
    return s.backend.read(s.buf, this.dtype, this.size);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    check(this.size === 1, 'item', () => `tensor of shape ${fmtShape(this.shape)} has ${this.size} elements, not 1`);
    return this.dataSync()[0]!;
  }

  async itemAsync(): Promise<number> {
    check(this.size === 1, 'item', () => `tensor of shape ${fmtShape(this.shape)} has ${this.size} elements, not 1`);
    return (await this.data())[0]!;
  }

  toString(): string {
    return `Tensor#${this.id}(${fmtShape(this.shape)}, ${this.dtype}, ${this._disposed ? 'disposed' : this._storage.backend.name})`;
  }
}

/** Wrap a fresh backend buffer (ownership passes to the tensor). */
export function wrap(backend: Backend, buf: unknown, shape: Shape, dtype: DType): Tensor {
  return new Tensor(shape, dtype, new Storage(backend, buf, sizeOf(shape), dtype));
}

/** A new tensor viewing the same storage with another shape (same element count). */
export function view(t: Tensor, shape: Shape, track = true): Tensor {
  return new Tensor(shape, t.dtype, t.storage.retain(), track);
}

export function zerosArray(dtype: DType, n: number): DataArray {
  return arrayFor(dtype, n);
}
