/**
 * safetensors files as PyTorch writes them (`safetensors.torch.save_file(model.state_dict(), …)`):
 * the same container kdet's own checkpoints use (src/nn/safetensors.ts), but with torch's dtypes,
 * num_batches_tracked as I64 first of all. kdet's reader stays strict about its own three dtypes;
 * this one reads every dtype a .pth may hold, with the same checks on the header (a length
 * within the file, a JSON object, integer shapes, offsets that tile the data section exactly).
 */
import { decodeContiguous } from './tensor-data.js';
import { ITEM_SIZE, type TorchDType } from './torch-dtypes.js';
import type { PthTensor } from './pth.js';

/** safetensors dtype names (the Rust crate's `Dtype`) kdet reads, and what they hold. */
const DTYPES: ReadonlyMap<string, TorchDType> = new Map<string, TorchDType>([
  ['F64', 'float64'],
  ['F32', 'float32'],
  ['F16', 'float16'],
  ['BF16', 'bfloat16'],
  ['I64', 'int64'],
  ['I32', 'int32'],
  ['I16', 'int16'],
  ['I8', 'int8'],
  ['U8', 'uint8'],
  ['BOOL', 'bool'],
]);

/** The safetensors format's own limit on the header (100 MB). */
const MAX_HEADER = 100 * 1024 * 1024;

export interface TorchSafetensors {
  tensors: Map<string, PthTensor>;
  metadata: Record<string, string>;
}

export function decodeTorchSafetensors(bytes: Uint8Array, source = 'safetensors data'): TorchSafetensors {
  const bad = (why: string): never => {
    throw new Error(`kdet.safetensors: ${source}: ${why}`);
  };
  if (bytes.length < 8) bad(`${bytes.length} bytes, too short for a safetensors header (nor is it a torch.save zip archive)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER) || 8n + n > BigInt(bytes.length)) bad(`not a safetensors file nor a torch.save zip archive (a header length of ${n} bytes, the file is ${bytes.length})`);
  const dataStart = 8 + Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (e) {
    return bad(`not a safetensors file nor a torch.save zip archive (its header is not JSON: ${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) return bad('the safetensors header is not a JSON object');
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: TorchDType; shape: number[]; count: number; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) bad('__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as object)) {
        if (typeof v !== 'string') bad(`__metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const info = (raw ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = typeof info.dtype === 'string' ? DTYPES.get(info.dtype) : undefined;
    if (!dtype) bad(`tensor '${name}': unsupported dtype ${JSON.stringify(info.dtype)} (kdet reads ${[...DTYPES.keys()].join(', ')})`);
    if (!Array.isArray(info.shape) || !info.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) bad(`tensor '${name}': invalid shape ${JSON.stringify(info.shape)}`);
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) bad(`tensor '${name}': invalid data_offsets ${JSON.stringify(offs)}`);
    const [begin, end] = offs as [number, number];
    const shape = info.shape as number[];
    // Checked one dimension at a time: a product of huge dimensions must not overflow into "fits".
    let count = 1;
    for (const d of shape) {
      count *= d;
      if (count > dataLength) break;
    }
    const need = count * ITEM_SIZE[dtype!];
    if (end < begin || end - begin !== need) bad(`tensor '${name}': data_offsets [${begin}, ${end}] hold ${end - begin} bytes, shape [${shape}] of ${info.dtype} needs ${count > dataLength ? 'more than the file holds' : need}`);
    if (end > dataLength) bad(`tensor '${name}': data_offsets end ${end} is past the data section (${dataLength} bytes)`);
    entries.push({ name, dtype: dtype!, shape, count, begin, end });
  }
  // The tensors must tile the data section: sorted by offset, each starts where the last ended.
  let expect = 0;
  for (const e of [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end)) {
    if (e.begin !== expect) bad(`tensor '${e.name}' starts at ${e.begin}, expected ${expect} (gap or overlap)`);
    expect = e.end;
  }
  if (expect !== dataLength) bad(`data section has ${dataLength} bytes but tensors cover ${expect}`);
  const tensors = new Map<string, PthTensor>();
  for (const e of entries) {
    let data;
    try {
      data = decodeContiguous(e.dtype, bytes.subarray(dataStart + e.begin, dataStart + e.end), e.count, e.name);
    } catch (err) {
      return bad((err as Error).message);
    }
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}
