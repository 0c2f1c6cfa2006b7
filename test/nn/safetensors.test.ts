import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from '../../src/nn/safetensors.js';

function sample(): Map<string, SafeTensor> {
  return new Map<string, SafeTensor>([
    ['backbone.0.weight', { dtype: 'F32', shape: [2, 3, 1, 1], data: Float32Array.from([0.5, -1.25, 3, 1e-7, -0, 42]) }],
    ['step', { dtype: 'I32', shape: [], data: Int32Array.from([17]) }],
    ['empty', { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) }],
  ]);
}

/**
 * An independent reader written from the format's published rules (not sharing code with the
 * library): u64 LE header size, JSON header, byte offsets relative to the data section.
 */
function readIndependently(bytes: Uint8Array): Record<string, { dtype: string; shape: number[]; values: number[] }> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  const n = Number(dv.getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8'));
  const out: Record<string, { dtype: string; shape: number[]; values: number[] }> = {};
  for (const [k, v] of Object.entries<{ dtype: string; shape: number[]; data_offsets: [number, number] }>(header)) {
    if (k === '__metadata__') continue;
    const buf = Buffer.from(bytes.subarray(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1]));
    const values: number[] = [];
    for (let i = 0; i < buf.length; i += 4) values.push(v.dtype === 'F32' ? buf.readFloatLE(i) : buf.readInt32LE(i));
    out[k] = { dtype: v.dtype, shape: v.shape, values };
  }
  return out;
}

describe('safetensors', () => {
  it('writes the layout the Python package reads: aligned header, LE data, metadata strings', () => {
    const bytes = encodeSafetensors(sample(), { format: 'pt', config: '{"a":1}' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8'));
    expect(header.__metadata__).toEqual({ format: 'pt', config: '{"a":1}' });
    const r = readIndependently(bytes);
    expect(r['backbone.0.weight']).toEqual({ dtype: 'F32', shape: [2, 3, 1, 1], values: [0.5, -1.25, 3, Math.fround(1e-7), -0, 42] });
    expect(r.step).toEqual({ dtype: 'I32', shape: [], values: [17] });
    expect(r.empty!.values).toEqual([]);
  });

  it('round-trips', () => {
    const { tensors, metadata } = decodeSafetensors(encodeSafetensors(sample(), { k: 'v' }));
    expect(metadata).toEqual({ k: 'v' });
    expect([...tensors.keys()]).toEqual(['backbone.0.weight', 'step', 'empty']);
    expect(Array.from(tensors.get('backbone.0.weight')!.data)).toEqual(Array.from(sample().get('backbone.0.weight')!.data));
  });

  const good = encodeSafetensors(sample());
  const n = Number(new DataView(good.buffer).getBigUint64(0, true));
  const withHeader = (edit: (h: Record<string, any>) => void): Uint8Array => {
    const h = JSON.parse(Buffer.from(good.subarray(8, 8 + n)).toString('utf8'));
    edit(h);
    const json = Buffer.from(JSON.stringify(h));
    const out = new Uint8Array(8 + json.length + good.length - 8 - n);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    out.set(good.subarray(8 + n), 8 + json.length);
    return out;
  };

  it.each([
    ['truncated file', good.subarray(0, 5), /too short/],
    ['header past the end', good.subarray(0, 8 + n - 3), /exceeds the file/],
    ['truncated data', good.subarray(0, good.length - 4), /past the data section|cover/],
    ['bad dtype', withHeader((h) => (h.step.dtype = 'F64')), /unsupported dtype/],
    ['shape/size mismatch', withHeader((h) => (h.step.shape = [2])), /needs 8/],
    ['overlap', withHeader((h) => (h.step.data_offsets = [0, 4])), /gap or overlap/],
    ['negative dims', withHeader((h) => (h.step.shape = [-1])), /invalid shape/],
  ])('rejects %s with a clear error', (_name, bytes, re) => {
    expect(() => decodeSafetensors(bytes as Uint8Array, 'ckpt.safetensors')).toThrow(re);
    expect(() => decodeSafetensors(bytes as Uint8Array, 'ckpt.safetensors')).toThrow(/ckpt\.safetensors/);
  });
});

describe('safetensors F16', () => {
  it('rounds to nearest-even half precision and reads it back', async () => {
    const { toHalf, fromHalf } = await import('../../src/nn/safetensors.js');
    // Exactly representable values survive; others round to the nearest half.
    for (const v of [0, -0, 1, -2.5, 65504, 2 ** -24, 2 ** -14, 0.333251953125]) expect(fromHalf(toHalf(v))).toBe(v);
    expect(fromHalf(toHalf(1 + 2 ** -11))).toBe(1); // a tie rounds to even
    expect(fromHalf(toHalf(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9);
    expect(fromHalf(toHalf(1e6))).toBe(Infinity);
    expect(Number.isNaN(fromHalf(toHalf(NaN)))).toBe(true);
    const bytes = encodeSafetensors(new Map([['w', { dtype: 'F16' as const, shape: [3], data: Float32Array.from([0.1, -7, 1000]) }]]));
    const back = decodeSafetensors(bytes).tensors.get('w')!;
    expect(back.dtype).toBe('F16');
    expect(Array.from(back.data)).toEqual([0.0999755859375, -7, 1000]);
  });
});
