// readStateDict on safetensors files as PyTorch writes them (safetensors.torch.save_file): every
// torch dtype a state_dict holds (I64 counters, F64, BF16, the small integers, bool), read into
// float32 as kdet keeps weights; a header that lies about its tensors is one error, not a crash.
import { describe, expect, it } from 'vitest';
import { readStateDict } from '../../src/interop/state-dict.js';

/** A safetensors file of [name, dtype, shape, little-endian bytes] records, packed in order. */
function safetensors(records: [string, string, number[], number[]][], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [name, dtype, shape, bytes] of records) {
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const [, , , bytes] of records) {
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

const le = (bits: number, values: (number | bigint)[], kind: 'int' | 'float' = 'int'): number[] => {
  const b = new DataView(new ArrayBuffer((values.length * bits) / 8));
  values.forEach((v, i) => {
    const at = (i * bits) / 8;
    if (kind === 'float') (bits === 64 ? b.setFloat64(at, Number(v), true) : b.setFloat32(at, Number(v), true));
    else if (bits === 64) b.setBigInt64(at, BigInt(v), true);
    else if (bits === 16) b.setInt16(at, Number(v), true);
    else b.setInt8(at, Number(v));
  });
  return [...new Uint8Array(b.buffer)];
};

describe('readStateDict: safetensors with torch dtypes', () => {
  it('I64, F64, BF16, I16, I8, U8 and BOOL, as float32; the metadata kept', () => {
    const file = safetensors(
      [
        ['bn.num_batches_tracked', 'I64', [], le(64, [123456789n])],
        ['w64', 'F64', [2], le(64, [0.1, -2.5], 'float')],
        // bfloat16 1.5 = 0x3fc0, -2 = 0xc000
        ['wbf', 'BF16', [2], [0xc0, 0x3f, 0x00, 0xc0]],
        ['i16', 'I16', [2], le(16, [-300, 7])],
        ['i8', 'I8', [1], le(8, [-5])],
        ['u8', 'U8', [2], [0, 255]],
        ['mask', 'BOOL', [3], [1, 0, 1]],
        ['empty', 'F32', [0, 4], []],
      ],
      { format: 'pt' },
    );
    const sd = readStateDict(file, 'm.safetensors');
    expect(sd.format).toBe('safetensors');
    expect(sd.metadata).toEqual({ format: 'pt' });
    const values = Object.fromEntries([...sd.tensors].map(([n, t]) => [n, [t.dtype, t.shape, Array.from(t.data)]]));
    expect(values).toEqual({
      'bn.num_batches_tracked': ['F32', [], [123456792]],
      w64: ['F32', [2], [Math.fround(0.1), -2.5]],
      wbf: ['F32', [2], [1.5, -2]],
      i16: ['F32', [2], [-300, 7]],
      i8: ['F32', [1], [-5]],
      u8: ['F32', [2], [0, 255]],
      mask: ['F32', [3], [1, 0, 1]],
      empty: ['F32', [0, 4], []],
    });
    expect(sd.notes).toEqual([
      "'w64' is float64 in m.safetensors; read as float32 (rounded to nearest)",
      "'bn.num_batches_tracked' (int64) holds integers beyond 2^24, rounded to float32",
    ]);
  });

  it('a header length with 0x80 in its first byte is still safetensors, not a pickle', () => {
    // Pad the JSON header to 128 bytes: the file starts 0x80 0x00 …, as a pickle's PROTO does.
    const base = safetensors([['w', 'F32', [1], le(32, [2], 'float')]]);
    const n = Number(new DataView(base.buffer).getBigUint64(0, true));
    const padded = new Uint8Array(8 + 128 + 4);
    new DataView(padded.buffer).setBigUint64(0, 128n, true);
    padded.set(base.subarray(8, 8 + n), 8);
    padded.fill(0x20, 8 + n, 8 + 128);
    padded.set(base.subarray(8 + n), 8 + 128);
    expect(padded[0]).toBe(0x80);
    expect(Array.from(readStateDict(padded, 'p.safetensors').tensors.get('w')!.data)).toEqual([2]);
  });

  const cases: [string, Uint8Array, RegExp][] = [
    ['an unknown dtype', safetensors([['w', 'F8_E5M2', [1], [0]]]), /tensor 'w': unsupported dtype "F8_E5M2" \(kdet reads F64, F32, F16, BF16, I64/],
    ['offsets shorter than the shape', safetensors([['w', 'F32', [4], [0, 0, 0, 0]]]), /tensor 'w': data_offsets \[0, 4\] hold 4 bytes, shape \[4\] of F32 needs 16/],
    ['an int64 past 2^53', safetensors([['n', 'I64', [1], le(64, [2n ** 60n])]]), /'n' holds the int64 1152921504606846976, beyond what kdet holds exactly/],
    ['a negative dimension', safetensors([['w', 'F32', [-1], []]]), /tensor 'w': invalid shape \[-1\]/],
    ['a bare pickle', Uint8Array.of(0x80, 0x04, 0x95, 0, 0, 0, 0, 0, 0, 0x2e), /a bare pickle, not a torch\.save archive/],
    ['seven bytes', new Uint8Array(7), /7 bytes, too short for a safetensors header/],
  ];
  it.each(cases)('refuses %s with one message', (_, bytes, message) => {
    expect(() => readStateDict(bytes, 'x.safetensors')).toThrow(message);
  });
});
