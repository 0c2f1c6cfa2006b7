// Loading the embedded module: base64 decoding without Buffer, SIMD detection, the Backend shape.
import { describe, expect, it, vi } from 'vitest';
import { base64ToBytes } from '../../src/engine/base64.js';
import { createWasmBackend, hasWasmSimd } from '../../src/backends/wasm/index.js';
import { wasmBase64 } from '../../src/backends/wasm/kdet-wasm.generated.js';
import { Rng } from '../helpers/random.js';

describe('wasm module loading', () => {
  it('decodes base64 exactly as Node does, for every length modulo 3 and with whitespace', () => {
    const rng = new Rng('base64');
    for (const n of [0, 1, 2, 3, 4, 5, 255, 1000, 1001, 1002]) {
      const bytes = Uint8Array.from({ length: n }, () => rng.int(0, 256));
      const text = Buffer.from(bytes).toString('base64');
      expect(Array.from(base64ToBytes(text))).toEqual(Array.from(bytes));
      expect(Array.from(base64ToBytes(text.replace(/(.{76})/g, '$1\n')))).toEqual(Array.from(bytes));
    }
    expect(() => base64ToBytes('AAA*')).toThrow(/invalid base64 character "\*" at offset 3/);
  });

  it('embeds a valid module and detects SIMD', () => {
    const bytes = base64ToBytes(wasmBase64);
    expect(Array.from(bytes.subarray(0, 4))).toEqual([0x00, 0x61, 0x73, 0x6d]);
    expect(WebAssembly.validate(bytes)).toBe(true);
    expect(hasWasmSimd()).toBe(true);
  });

  it('creates a synchronous backend named wasm', async () => {
    const b = await createWasmBackend();
    expect(b.name).toBe('wasm');
    expect(b.canReadSync).toBe(true);
    const x = b.upload(Float32Array.from([1, 2, 3]));
    expect(Array.from(await b.read(x, 'float32', 3))).toEqual([1, 2, 3]);
    b.free(x);
    await b.sync();
    b.dispose();
  });

  it('explains what to do where WebAssembly SIMD is missing', async () => {
    const validate = vi.spyOn(WebAssembly, 'validate').mockReturnValue(false);
    try {
      expect(hasWasmSimd()).toBe(false);
      await expect(createWasmBackend()).rejects.toThrow(/does not support WebAssembly SIMD.*reference backend/);
    } finally {
      validate.mockRestore();
    }
  });

  it('refuses a module that lacks the kernels, naming them', async () => {
    // (module (memory (export "memory") 1) (func (export "heapBase") (result i32) i32.const 0))
    const tiny = Uint8Array.from([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00,
      0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x15, 0x02, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x08, 0x68,
      0x65, 0x61, 0x70, 0x42, 0x61, 0x73, 0x65, 0x00, 0x00, 0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x00, 0x0b,
    ]);
    expect(WebAssembly.validate(tiny)).toBe(true);
    await expect(createWasmBackend({ wasmBytes: tiny })).rejects.toThrow(/lacks fill32, castF32ToI32/);
  });
});
