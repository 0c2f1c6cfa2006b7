/**
 * Tensor values to and from a storage record's little-endian bytes.
 *
 * In memory: every float dtype as a Float32Array (float16 and bfloat16 exactly; float64 rounded
 * to nearest, which the reader reports), int64 as a Float64Array (exact up to 2^53, refused
 * beyond), the narrower integers and bool as an Int32Array.
 */
import { fromHalf, toHalf } from '../nn/safetensors.js';
import { ITEM_SIZE, type TorchDType } from './torch-dtypes.js';
import type { PyTensor } from './py-values.js';

export type PthData = Float32Array | Float64Array | Int32Array;

export function allocFor(dtype: TorchDType, n: number): PthData {
  if (dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16') return new Float32Array(n);
  if (dtype === 'int64') return new Float64Array(n);
  return new Int32Array(n);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** Typed arrays use the host's byte order: the float32 fast paths below apply on little-endian hosts only. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Row-major strides: the view is one contiguous run of its storage. */
function contiguous(t: PyTensor): boolean {
  let expect = 1;
  for (let d = t.shape.length - 1; d >= 0; d--) {
    if (t.shape[d] !== 1 && t.stride[d] !== expect) return false;
    expect *= t.shape[d]!;
  }
  return true;
}

function reader(dtype: TorchDType, view: DataView, name: string): (at: number) => number {
  switch (dtype) {
    case 'float32':
      return (at) => view.getFloat32(at, true);
    case 'float64':
      return (at) => view.getFloat64(at, true);
    case 'float16':
      return (at) => fromHalf(view.getUint16(at, true));
    case 'bfloat16':
      // bfloat16 is the top half of a float32.
      return (at) => {
        u32[0] = view.getUint16(at, true) << 16;
        return f32[0]!;
      };
    case 'int64':
      return (at) => {
        const v = view.getBigInt64(at, true);
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`'${name}' holds the int64 ${v}, beyond what kdet holds exactly (2^53)`);
        return Number(v);
      };
    case 'int32':
      return (at) => view.getInt32(at, true);
    case 'int16':
      return (at) => view.getInt16(at, true);
    case 'int8':
      return (at) => view.getInt8(at);
    case 'uint8':
      return (at) => view.getUint8(at);
    case 'bool':
      return (at) => (view.getUint8(at) ? 1 : 0);
  }
}

/**
 * The tensor's values in row-major order, gathered through its strides from `record` (its
 * storage's bytes, already checked to hold `t.storage.numel` elements; the unpickler checked that
 * the view stays inside them).
 */
export function gatherTensor(t: PyTensor, record: Uint8Array, name: string): PthData {
  const size = ITEM_SIZE[t.storage.dtype];
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const read = reader(t.storage.dtype, view, name);
  if (t.numel > 0 && t.storage.dtype === 'float32' && LITTLE_ENDIAN && contiguous(t)) {
    // Most of a state_dict: one copy of the bytes into a buffer of their own (aligned to 4).
    // Not record.slice: on a Node Buffer (what readFileSync returns) slice is a view into a
    // shared pool, and its .buffer is that whole pool.
    return new Float32Array(new Uint8Array(record.subarray(t.offset * 4, (t.offset + t.numel) * 4)).buffer);
  }
  const out = allocFor(t.storage.dtype, t.numel);
  if (t.numel === 0) return out;
  const nd = t.shape.length;
  const idx = new Array<number>(nd).fill(0);
  let src = t.offset;
  for (let i = 0; i < t.numel; i++) {
    out[i] = read(src * size);
    // Odometer over the shape: step the last axis, carry into the ones before it.
    for (let d = nd - 1; d >= 0; d--) {
      src += t.stride[d]!;
      if (++idx[d]! < t.shape[d]!) break;
      src -= t.stride[d]! * t.shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** Row-major values as `dtype`'s little-endian bytes; integers and bools must be exact. */
export function encodeTensor(dtype: TorchDType, data: ArrayLike<number>, name: string): Uint8Array {
  const size = ITEM_SIZE[dtype];
  if (dtype === 'float32' && LITTLE_ENDIAN) return new Uint8Array(Float32Array.from(data).buffer);
  const out = new Uint8Array(data.length * size);
  const view = new DataView(out.buffer);
  const int = (v: number, lo: number, hi: number): number => {
    if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`kdet.pth: '${name}' is ${dtype} but holds ${v}`);
    return v;
  };
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    const at = i * size;
    switch (dtype) {
      case 'float32':
        view.setFloat32(at, v, true);
        break;
      case 'float64':
        view.setFloat64(at, v, true);
        break;
      case 'float16':
        view.setUint16(at, toHalf(v), true);
        break;
      case 'bfloat16': {
        // Round to nearest-even on the dropped 16 bits; NaN stays NaN.
        f32[0] = v;
        const x = u32[0]!;
        const r = Number.isNaN(v) ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
        view.setUint16(at, r & 0xffff, true);
        break;
      }
      case 'int64':
        view.setBigInt64(at, BigInt(int(v, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)), true);
        break;
      case 'int32':
        view.setInt32(at, int(v, -(2 ** 31), 2 ** 31 - 1), true);
        break;
      case 'int16':
        view.setInt16(at, int(v, -32768, 32767), true);
        break;
      case 'int8':
        view.setInt8(at, int(v, -128, 127));
        break;
      case 'uint8':
        view.setUint8(at, int(v, 0, 255));
        break;
      case 'bool':
        view.setUint8(at, int(v, 0, 1));
        break;
    }
  }
  return out;
}

/**
 * `n` row-major values of `dtype` from little-endian `bytes` (a safetensors tensor's data, already
 * checked to hold exactly n · item size bytes), in the in-memory form above.
 */
export function decodeContiguous(dtype: TorchDType, bytes: Uint8Array, n: number, name: string): PthData {
  if (dtype === 'float32' && LITTLE_ENDIAN) return new Float32Array(new Uint8Array(bytes.subarray(0, 4 * n)).buffer);
  const read = reader(dtype, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), name);
  const size = ITEM_SIZE[dtype];
  const out = allocFor(dtype, n);
  for (let i = 0; i < n; i++) out[i] = read(i * size);
  return out;
}
