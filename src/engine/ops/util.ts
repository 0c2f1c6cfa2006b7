import type { Backend } from '../backend.js';
import type { DType } from '../dtype.js';
import { check, fmtShape } from '../errors.js';
import type { Shape } from '../shape.js';
import { state } from '../state.js';
import { Tensor, wrap } from '../tensor.js';

/** The backend all `tensors` live on; mixing backends is an error, not a silent copy. */
export function backendOf(op: string, ...tensors: Tensor[]): Backend {
  const b = tensors[0]?.backend ?? state.backend();
  for (let i = 1; i < tensors.length; i++) {
    const other = tensors[i]!.backend;
    check(other === b, op, () => `argument ${i} lives on backend '${other.name}' but argument 0 on '${b.name}'`);
  }
  return b;
}

export function expectDType(op: string, arg: string, t: Tensor, dtype: DType): void {
  check(t.dtype === dtype, op, () => `${arg}: expected ${dtype}, got ${t.dtype} tensor of shape ${fmtShape(t.shape)}`);
}

export function expectRank(op: string, arg: string, t: Tensor, rank: number): void {
  check(t.rank === rank, op, () => `${arg}: expected rank ${rank}, got shape ${fmtShape(t.shape)}`);
}

export function out(backend: Backend, buf: unknown, shape: Shape, dtype: DType = 'float32'): Tensor {
  return wrap(backend, buf, shape, dtype);
}
