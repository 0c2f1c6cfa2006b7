/**
 * The safetensors format (as written by the Python `safetensors` package): an 8-byte
 * little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}, __metadata__:
 * {string: string}}, then the raw little-endian tensor bytes; offsets are relative to the end of
 * the header. kdet stores float32 ('F32'), int32 ('I32') and, for compact shipped weights,
 * float16 ('F16', held as float32 in memory and rounded to nearest-even when written).
 */

export type SafeDType = 'F32' | 'I32' | 'F16';

const BYTES: Record<SafeDType, number> = { F32: 4, I32: 4, F16: 2 };

export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  data: Float32Array | Int32Array;
}

const MAX_HEADER = 100 * 1024 * 1024;

export function encodeSafetensors(tensors: Map<string, SafeTensor>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new Error(`kdet.safetensors: '__metadata__' is reserved and cannot name a tensor`);
    const n = t.shape.reduce((p, d) => p * d, 1);
    if (n !== t.data.length) throw new Error(`kdet.safetensors: '${name}' has shape [${t.shape}] but ${t.data.length} values`);
    if ((t.dtype === 'I32') !== t.data instanceof Int32Array) throw new Error(`kdet.safetensors: '${name}' is ${t.dtype} but holds a ${t.data.constructor.name}`);
    const bytes = n * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces so the data starts 8-byte aligned (as the Python writer does).
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  const view = new DataView(out.buffer);
  for (const t of tensors.values()) {
    const a = t.data;
    if (t.dtype === 'F16') a.forEach((v, i) => view.setUint16(pos + i * 2, toHalf(v), true));
    else if (t.dtype === 'F32') a.forEach((v, i) => view.setFloat32(pos + i * 4, v, true));
    else a.forEach((v, i) => view.setInt32(pos + i * 4, v, true));
    pos += a.length * BYTES[t.dtype];
  }
  return out;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of a float32, rounded to nearest-even; overflow → ±inf, NaN kept. */
export function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  return sign | half;
}

export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Parse and validate a safetensors file: header size within the file, valid JSON, known dtypes,
 * integer shapes, offsets that tile the data section exactly (no gaps, overlaps or overruns).
 * `source` names the file in error messages.
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors data'): { tensors: Map<string, SafeTensor>; metadata: Record<string, string> } {
  const bad = (why: string): never => {
    throw new Error(`kdet.safetensors: ${source}: ${why}`);
  };
  if (bytes.length < 8) bad(`file is ${bytes.length} bytes, too short for a header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > MAX_HEADER || 8 + n > bytes.length) bad(`header length ${n} exceeds the file (${bytes.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    return bad(`header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) bad('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: [string, { dtype: string; shape: number[]; begin: number; end: number }][] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object') bad('__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as object)) {
        if (typeof v !== 'string') bad(`__metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (info.dtype !== 'F32' && info.dtype !== 'I32' && info.dtype !== 'F16') bad(`tensor '${name}': unsupported dtype ${JSON.stringify(info.dtype)} (kdet reads F32, F16 and I32)`);
    if (!Array.isArray(info.shape) || !info.shape.every((d) => Number.isInteger(d) && d >= 0)) bad(`tensor '${name}': invalid shape ${JSON.stringify(info.shape)}`);
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0)) bad(`tensor '${name}': invalid data_offsets ${JSON.stringify(offs)}`);
    const [begin, end] = offs as [number, number];
    const count = (info.shape as number[]).reduce((p, d) => p * d, 1);
    const need = count * BYTES[info.dtype as SafeDType];
    if (end < begin || end - begin !== need) bad(`tensor '${name}': data_offsets [${begin}, ${end}] hold ${end - begin} bytes, shape [${info.shape}] needs ${need}`);
    if (end > dataLength) bad(`tensor '${name}': data_offsets end ${end} is past the data section (${dataLength} bytes)`);
    entries.push([name, { dtype: info.dtype as string, shape: info.shape as number[], begin, end }]);
  }
  // The tensors must tile the data section: sorted by offset, each starts where the last ended.
  const sorted = [...entries].sort((a, b) => a[1].begin - b[1].begin);
  let expect = 0;
  for (const [name, e] of sorted) {
    if (e.begin !== expect) bad(`tensor '${name}' starts at ${e.begin}, expected ${expect} (gap or overlap)`);
    expect = e.end;
  }
  if (expect !== dataLength) bad(`data section has ${dataLength} bytes but tensors cover ${expect}`);
  const tensors = new Map<string, SafeTensor>();
  for (const [name, e] of entries) {
    const dtype = e.dtype as SafeDType;
    const count = (e.end - e.begin) / BYTES[dtype];
    const data = dtype === 'I32' ? new Int32Array(count) : new Float32Array(count);
    const at = dataStart + e.begin;
    for (let i = 0; i < count; i++) {
      data[i] = dtype === 'F32' ? view.getFloat32(at + i * 4, true) : dtype === 'I32' ? view.getInt32(at + i * 4, true) : fromHalf(view.getUint16(at + i * 2, true));
    }
    tensors.set(name, { dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}
