// Hand-assembled pickles and torch-layout archives for the interop tests: the hostile and broken
// cases are built here, byte by byte, so no test needs Python (or would ever run a payload).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeZip } from '../../src/interop/zip.js';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'interop');

export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES, name)));
}

/** Bytes from latin-1 strings (one char, one byte) and byte arrays. */
export function bytes(...parts: (string | readonly number[] | Uint8Array)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'string') for (const c of p) out.push(c.charCodeAt(0) & 0xff);
    else out.push(...p);
  }
  return new Uint8Array(out);
}

export function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

/** BINUNICODE. */
export function str(s: string): Uint8Array {
  const b = new TextEncoder().encode(s);
  return bytes('X', u32(b.length), b);
}

/** BININT (signed 32-bit). */
export function int(v: number): Uint8Array {
  return bytes('J', u32(v >>> 0));
}

export const ORDERED_DICT = 'ccollections\nOrderedDict\n)R';

/** ('storage', torch.<cls>, key, 'cpu', numel) followed by BINPERSID. */
export function pid(cls: string, key: string, numel: number): Uint8Array {
  return bytes('(', str('storage'), `ctorch\n${cls}\n`, str(key), str('cpu'), int(numel), 'tQ');
}

export function intTuple(xs: readonly number[]): Uint8Array {
  return bytes('(', ...xs.map(int), 't');
}

/** _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()) as REDUCE. */
export function tensor(storage: Uint8Array, offset: number, size: readonly number[], stride: readonly number[]): Uint8Array {
  return bytes('ctorch._utils\n_rebuild_tensor_v2\n(', storage, int(offset), intTuple(size), intTuple(stride), '\x89', ORDERED_DICT, 'tR');
}

/** An OrderedDict pickle of (name, tensor pickle) pairs. */
export function stateDictPickle(entries: [string, Uint8Array][]): Uint8Array {
  return bytes('\x80\x02', ORDERED_DICT, ...entries.map(([k, t]) => bytes(str(k), t, 's')), '.');
}

/** A torch-layout archive around a pickle: archive/data.pkl, archive/data/<key>, archive/version. */
export function archive(pkl: Uint8Array, records: [string, Uint8Array][] = []): Uint8Array {
  return writeZip([
    { name: 'archive/data.pkl', data: pkl },
    ...records.map(([k, data]) => ({ name: `archive/data/${k}`, data })),
    { name: 'archive/version', data: bytes('3\n') },
  ]);
}

export function floats(...vs: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(vs).buffer);
}
