/**
 * IDX files (the MNIST family's format): a big-endian header, then raw data.
 * Magic = 0x00 0x00 <type> <ndim>, then ndim uint32 sizes. Only unsigned
 * bytes (type 0x08) occur in (Fashion-)MNIST, so that is all we accept.
 */
import { gunzipSync } from 'fflate';

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/** Parses an IDX file, gunzipping first when the bytes start with the gzip magic. */
export function parseIdx(bytes: Uint8Array, name = 'IDX data'): IdxArray {
  const raw = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0) throw new Error(`${name}: not an IDX file (bad magic)`);
  if (raw[2] !== 0x08) throw new Error(`${name}: IDX element type 0x${raw[2]!.toString(16)} is not unsigned byte`);
  const ndim = raw[3]!;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const header = 4 + 4 * ndim;
  if (raw.length < header) throw new Error(`${name}: truncated IDX header`);
  const shape: number[] = [];
  for (let d = 0; d < ndim; d++) shape.push(view.getUint32(4 + 4 * d, false));
  const count = shape.reduce((a, b) => a * b, 1);
  if (raw.length !== header + count) {
    throw new Error(`${name}: IDX body has ${raw.length - header} bytes, header says ${count}`);
  }
  return { shape, data: raw.subarray(header) };
}

/** Encodes unsigned bytes as an (uncompressed) IDX file. */
export function encodeIdx(shape: number[], data: Uint8Array): Uint8Array {
  const header = 4 + 4 * shape.length;
  const out = new Uint8Array(header + data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = shape.length;
  shape.forEach((s, d) => view.setUint32(4 + 4 * d, s, false));
  out.set(data, header);
  return out;
}
