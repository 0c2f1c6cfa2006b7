import type { Backend } from '../backend.js';
import type { DataArray, DType } from '../dtype.js';
import { check, fmtShape } from '../errors.js';
import { checkShape, sizeOf, type Shape } from '../shape.js';
import { state } from '../state.js';
import type { Tensor } from '../tensor.js';
import { out } from './util.js';

export interface CreateOptions {
  dtype?: DType;
  backend?: Backend;
}

type NestedNumbers = number | readonly NestedNumbers[];

function inferShape(v: NestedNumbers): number[] {
  const shape: number[] = [];
  let cur: NestedNumbers = v;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0] as NestedNumbers;
  }
  return shape;
}

/**
 * A tensor from values. `values` is a typed array (with `shape`), a flat array (with `shape`)
 * or nested arrays (shape inferred). Data is copied to the backend.
 */
export function tensor(values: DataArray | NestedNumbers, shape?: Shape, opts: CreateOptions = {}): Tensor {
  const backend = opts.backend ?? state.backend();
  let flat: ArrayLike<number>;
  if (ArrayBuffer.isView(values)) flat = values as DataArray;
  else if (Array.isArray(values)) flat = (values as unknown[]).flat(Infinity) as number[];
  else flat = [values as number];
  const dtype: DType = opts.dtype ?? (values instanceof Int32Array ? 'int32' : 'float32');
  const s = shape ?? (ArrayBuffer.isView(values) ? [flat.length] : inferShape(values as NestedNumbers));
  checkShape('tensor', 'shape', s);
  check(sizeOf(s) === flat.length, 'tensor', () => `shape ${fmtShape(s)} needs ${sizeOf(s)} values, got ${flat.length}`);
  const data = dtype === 'float32' ? Float32Array.from(flat) : Int32Array.from(flat);
  return out(backend, backend.upload(data), s, dtype);
}

export function scalar(value: number, opts: CreateOptions = {}): Tensor {
  return full([], value, opts);
}

export function full(shape: Shape, value: number, opts: CreateOptions = {}): Tensor {
  checkShape('full', 'shape', shape);
  const backend = opts.backend ?? state.backend();
  const dtype = opts.dtype ?? 'float32';
  return out(backend, backend.fill(dtype, sizeOf(shape), value), shape, dtype);
}

export function zeros(shape: Shape, opts: CreateOptions = {}): Tensor {
  return full(shape, 0, opts);
}

export function ones(shape: Shape, opts: CreateOptions = {}): Tensor {
  return full(shape, 1, opts);
}

export function zerosLike(t: Tensor): Tensor {
  return full(t.shape, 0, { dtype: t.dtype, backend: t.backend });
}

export function onesLike(t: Tensor): Tensor {
  return full(t.shape, 1, { dtype: t.dtype, backend: t.backend });
}

/** 0, 1, …, n−1 as int32 (or float32). */
export function arange(n: number, opts: CreateOptions = {}): Tensor {
  const dtype = opts.dtype ?? 'int32';
  const data = dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = i;
  return tensor(data, [n], { ...opts, dtype });
}
