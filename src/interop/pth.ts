/**
 * PyTorch `.pth` files as `torch.save(model.state_dict(), path)` writes them (torch ≥ 1.6): a
 * ZIP archive `<name>/data.pkl` (the pickled OrderedDict), `<name>/data/<key>` (one record of raw
 * little-endian values per storage), `<name>/version`, and from torch 2.1 `<name>/byteorder`.
 *
 * readPth never runs anything from the file: the pickle goes through the restricted unpickler
 * (unpickle.ts), tensors are described first and their values read only after every check passed.
 * A plain state_dict is flat (torch joins module names with dots itself), so nothing is flattened:
 * the top-level value must be a dict of tensors, or, with `key`, a dict holding one under that key
 * (a training checkpoint such as {'model': state_dict, 'epoch': 3, …}: its other entries must
 * still unpickle, so one holding arbitrary objects, e.g. an argparse.Namespace, is refused).
 */
import type { SafeDType } from '../nn/safetensors.js';
import { PyDict, PyTensor, quote, typeName, type PyValue } from './py-values.js';
import { encodeTensor, gatherTensor, type PthData } from './tensor-data.js';
import { pickleStateDict, type PickledTensor } from './pickle-write.js';
import { ITEM_SIZE, type TorchDType } from './torch-dtypes.js';
import { unpickle } from './unpickle.js';
import { readZip, writeZip } from './zip.js';

export interface PthTensor {
  /** The dtype stored in the file (float64 and int64 are held as float32 and float64, see tensor-data.ts). */
  dtype: TorchDType;
  shape: number[];
  data: PthData;
}

export interface ReadPthOptions {
  /** Read the state_dict stored under this key of a checkpoint dict (e.g. 'model'). */
  key?: string;
  /** Told about lossy conversions (float64 read as float32). */
  onNote?: (note: string) => void;
}

export class PthError extends Error {
  override name = 'PthError';
}

/** torch.save's archive format version (torch 1.6 – 2.x write 3). */
const FORMAT_VERSION = '3\n';

/** True for a ZIP archive (what torch.save writes), by its first local header's signature. */
export function looksLikePth(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

export function readPth(bytes: Uint8Array, source = '.pth data', opts: ReadPthOptions = {}): Map<string, PthTensor> {
  const bad = (why: string): never => {
    throw new PthError(`kdet.pth: ${source}: ${why}`);
  };
  // torch < 1.6 (or _use_new_zipfile_serialization=False) wrote a bare pickle starting with
  // PROTO 2 and a LONG1 magic number, and storages in a second stream: not supported.
  if (bytes.length >= 4 && bytes[0] === 0x80 && bytes[1] === 0x02 && bytes[2] === 0x8a && bytes[3] === 0x0a) {
    bad("legacy torch.save format (torch < 1.6 or _use_new_zipfile_serialization=False) is not supported: re-save it with torch.save(state_dict, path) on torch >= 1.6");
  }
  const zip = readZip(bytes, source);
  // Like torch's reader: the archive's folder is the first record's (torch names it after the file).
  const first = zip.entries[0]?.name ?? '';
  const slash = first.indexOf('/');
  if (slash <= 0) bad(`not a torch.save archive (its first record '${quote(first)}' is not in a folder)`);
  const prefix = first.slice(0, slash + 1);
  if (zip.has(`${prefix}constants.pkl`) || zip.entries.some((e) => e.name.startsWith(`${prefix}code/`))) {
    bad('a TorchScript archive (torch.jit.save), not a state_dict: save model.state_dict() with torch.save');
  }
  if (!zip.has(`${prefix}data.pkl`)) bad(`no '${quote(prefix)}data.pkl' record: not a torch.save archive`);
  if (zip.has(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim();
    if (order === 'big') bad('written on a big-endian machine (byteorder "big"); kdet reads little-endian files only');
    if (order !== 'little') bad(`unknown byteorder '${quote(order)}'`);
  }

  const { value } = unpickle(zip.read(`${prefix}data.pkl`), source);
  const dict = selectStateDict(value, opts.key, bad);

  // Describe everything before reading any values: names, types and a bound on the work.
  const described: [string, PyTensor][] = [];
  let total = 0;
  for (const [k, v] of dict.map) {
    if (typeof k !== 'string') bad(`the state_dict has a key of type ${typeName(k)}, not str`);
    if (!(v instanceof PyTensor)) bad(`entry '${quote(k as string)}' is a ${typeName(v)}, not a tensor (a state_dict holds only tensors)`);
    described.push([k as string, v as PyTensor]);
    total += (v as PyTensor).numel;
  }
  // Views may overlap (a transposed view and its base share one storage) or broadcast (stride
  // 0), so values can outnumber bytes a little; a small file declaring billions is hostile.
  const budget = 4 * bytes.length + (1 << 20);
  if (total > budget) bad(`its tensors declare ${total} values, more than a ${bytes.length}-byte file can hold`);

  const records = new Map<string, Uint8Array>();
  const out = new Map<string, PthTensor>();
  for (const [name, t] of described) {
    const s = t.storage;
    let record = records.get(s.key);
    if (!record) {
      const recName = `${prefix}data/${s.key}`;
      if (!zip.has(recName)) bad(`tensor '${quote(name)}': its storage record '${quote(recName)}' is missing`);
      record = zip.read(recName);
      const want = s.numel * ITEM_SIZE[s.dtype];
      if (record.length !== want) {
        bad(`tensor '${quote(name)}': storage record '${quote(recName)}' holds ${record.length} bytes, but the pickle declares ${s.numel} ${s.dtype} values (${want} bytes)${record.length < want ? ': storage shorter than its tensor' : ''}`);
      }
      records.set(s.key, record);
    }
    let data: PthData;
    try {
      data = gatherTensor(t, record, name);
    } catch (e) {
      return bad((e as Error).message);
    }
    if (s.dtype === 'float64') opts.onNote?.(`'${name}' is float64 in ${source}; read as float32 (rounded to nearest)`);
    out.set(name, { dtype: s.dtype, shape: [...t.shape], data });
  }
  return out;
}

function selectStateDict(value: PyValue, key: string | undefined, bad: (why: string) => never): PyDict {
  const keysOf = (d: PyDict) => {
    const ks = [...d.map.keys()].slice(0, 12).map((k) => (typeof k === 'string' ? `'${quote(k)}'` : String(k)));
    return ks.join(', ') + (d.map.size > 12 ? ', …' : '');
  };
  if (!(value instanceof PyDict)) return bad(`holds a ${typeName(value)}, not a state_dict (a dict of tensors)`);
  if (key !== undefined) {
    if (!value.map.has(key)) return bad(`has no key '${quote(key)}' (its keys: ${keysOf(value)})`);
    const sub = value.map.get(key)!;
    if (!(sub instanceof PyDict)) return bad(`'${quote(key)}' holds a ${typeName(sub)}, not a state_dict`);
    return sub;
  }
  const values = [...value.map.values()];
  if (values.some((v) => !(v instanceof PyTensor)) && values.some((v) => v instanceof PyDict)) {
    // A checkpoint: point at the entry that looks like the state_dict. Only the first few entries
    // are looked into: many keys sharing one large dict must not cost their product.
    const guess = [...value.map].slice(0, 16).find(([k, v]) => typeof k === 'string' && v instanceof PyDict && v.map.size > 0 && [...v.map.values()].every((t) => t instanceof PyTensor));
    const hint = guess ? `pass key '${quote(guess[0] as string)}' (kdet import --key ${quote(guess[0] as string)})` : 'pass the key that holds the state_dict';
    return bad(`holds a checkpoint dict (keys: ${keysOf(value)}), not a state_dict: ${hint}, or save model.state_dict() itself`);
  }
  return value;
}

/** A tensor to write: a torch dtype, or a kdet safetensors dtype (see writePth). */
export interface PthTensorInput {
  dtype: TorchDType | SafeDType;
  shape: readonly number[];
  data: ArrayLike<number>;
}

/**
 * A state_dict as torch.save(…, _use_new_zipfile_serialization=True) writes it, under the archive
 * folder `archiveName`; `torch.load` (weights_only too) reads it back exactly. Torch dtypes are
 * written as given. kdet's safetensors dtypes map to float32 ('F32'), float16 ('F16') and int32
 * ('I32'), except a tensor named `num_batches_tracked` or `….num_batches_tracked`, which is written
 * as int64 as torchvision holds it (kdet keeps it as a float32 scalar).
 */
export function writePth(tensors: Map<string, PthTensorInput>, archiveName = 'archive'): Uint8Array {
  if (!/^[A-Za-z0-9_.-]+$/.test(archiveName) || archiveName === '.' || archiveName === '..') throw new PthError(`kdet.pth: archive name '${quote(archiveName)}' must be letters, digits, '_', '.', '-'`);
  const pickled: PickledTensor[] = [];
  const records: { name: string; data: Uint8Array }[] = [];
  let i = 0;
  for (const [name, t] of tensors) {
    const dtype = torchDType(name, t.dtype);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new PthError(`kdet.pth: '${name}' has an invalid shape [${t.shape}]`);
    const n = t.shape.reduce((p, d) => p * d, 1);
    if (n !== t.data.length) throw new PthError(`kdet.pth: '${name}' has shape [${t.shape}] but ${t.data.length} values`);
    const key = String(i++);
    pickled.push({ name, dtype, shape: t.shape, storageKey: key });
    records.push({ name: `${archiveName}/data/${key}`, data: encodeTensor(dtype, t.data, name) });
  }
  const enc = new TextEncoder();
  return writeZip([
    // data.pkl first: torch's reader takes the archive's folder from the first record.
    { name: `${archiveName}/data.pkl`, data: pickleStateDict(pickled) },
    { name: `${archiveName}/byteorder`, data: enc.encode('little') },
    ...records,
    { name: `${archiveName}/version`, data: enc.encode(FORMAT_VERSION) },
  ]);
}

function torchDType(name: string, d: TorchDType | SafeDType): TorchDType {
  const counter = name === 'num_batches_tracked' || name.endsWith('.num_batches_tracked');
  switch (d) {
    case 'F32':
    case 'I32':
      return counter ? 'int64' : d === 'F32' ? 'float32' : 'int32';
    case 'F16':
      return 'float16';
    default:
      return d;
  }
}
