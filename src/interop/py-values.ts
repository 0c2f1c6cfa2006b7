/**
 * What the restricted unpickler builds: plain data and a few inert records. There is no "object"
 * here and nothing callable: a global from the file becomes a `PyGlobal` holding which of the
 * fixed, allowed roles it plays, and "calling" one (REDUCE) is a switch over that role.
 *
 * Python ints are JS numbers when exact, else bigints; Python floats are wrapped (`PyFloat`), so a
 * float can never pass where torch needs an int (a shape, a stride, an offset).
 */
import type { TorchDType } from './torch-dtypes.js';

export class PyFloat {
  constructor(readonly value: number) {}
}

export class PyTuple {
  constructor(readonly items: readonly PyValue[]) {}
}

export class PyList {
  readonly items: PyValue[] = [];
}

/** Dict keys kdet accepts: the hashable scalars (a state_dict's keys are strings). */
export type PyKey = string | number | bigint | boolean | null;

export class PyDict {
  readonly map = new Map<PyKey, PyValue>();
  /** BUILD state, e.g. the `_metadata` torch attaches to a state_dict; kept, never interpreted. */
  attrs: PyDict | null = null;
  constructor(readonly ordered: boolean) {}
}

/** The roles an allowed global can play; the allow-list in torch-globals.ts maps names to these. */
export type GlobalRole =
  | { kind: 'OrderedDict' }
  | { kind: 'rebuild_tensor_v2' }
  | { kind: 'rebuild_parameter' }
  | { kind: 'storage'; dtype: TorchDType };

export class PyGlobal {
  constructor(
    readonly qualname: string,
    readonly role: GlobalRole,
  ) {}
}

/** A storage named by a persistent id: the zip record `data/<key>`, read only when a tensor needs it. */
export class PyStorage {
  constructor(
    readonly key: string,
    readonly dtype: TorchDType,
    readonly numel: number,
    readonly location: string,
  ) {}
}

/** A tensor as `_rebuild_tensor_v2` describes it: a strided view of a storage (values read later). */
export class PyTensor {
  constructor(
    readonly storage: PyStorage,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
    readonly numel: number,
    readonly requiresGrad: boolean,
    readonly parameter: boolean,
  ) {}
}

export type PyValue = null | boolean | number | bigint | string | Uint8Array | PyFloat | PyTuple | PyList | PyDict | PyGlobal | PyStorage | PyTensor;

/** The Python type of a value, for messages (never the value itself: it may be huge or cyclic). */
export function typeName(v: PyValue): string {
  if (v === null) return 'None';
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'number':
    case 'bigint':
      return 'int';
    case 'string':
      return 'str';
  }
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PyFloat) return 'float';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyList) return 'list';
  if (v instanceof PyDict) return v.ordered ? 'OrderedDict' : 'dict';
  if (v instanceof PyGlobal) return `global ${v.qualname}`;
  if (v instanceof PyStorage) return 'storage';
  return 'tensor';
}

export function isKey(v: PyValue): v is PyKey {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean';
}

/** A string from the file, safe to print: control characters escaped, at most 80 characters. */
export function quote(s: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return clean.length > 80 ? `${clean.slice(0, 77)}...` : clean;
}
