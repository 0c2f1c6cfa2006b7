// The raw kdet.wasm module with a bump allocator over its linear memory: what the kernel tests
// and the kernel benchmark use to call the exports directly, independent of the backend glue.
import { readFileSync } from 'node:fs';
import { wasmBase64 } from '../src/backends/wasm/kdet-wasm.generated.js';

function readBytes(path: string): Uint8Array<ArrayBuffer> {
  const file = readFileSync(path);
  const out = new Uint8Array(file.length);
  out.set(file);
  return out;
}

export interface KdetExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  matmul(a: number, b: number, y: number, batchA: number, batchB: number, m: number, k: number, n: number,
    transA: number, transB: number, scratch: number): void;
  matmulRange(a: number, b: number, y: number, batchA: number, batchB: number, m: number, k: number, n: number,
    transA: number, transB: number, scratch: number, jStart: number, jEnd: number): void;
  matmulScratchBytes(m: number, k: number, n: number, transA: number, transB: number): number;
  conv2dForward(x: number, w: number, bias: number, y: number, params: number, scratch: number): void;
  conv2dGradInput(dy: number, w: number, dx: number, params: number, scratch: number): void;
  conv2dGradFilter(x: number, dy: number, dw: number, params: number, scratch: number): void;
  conv2dScratchBytes(kind: number, params: number): number;
  conv2dForwardRange(x: number, w: number, bias: number, y: number, params: number, scratch: number, start: number, end: number): void;
  conv2dGradInputRange(dy: number, w: number, dx: number, params: number, scratch: number, start: number, end: number): void;
  conv2dGradFilterRange(x: number, dy: number, dw: number, params: number, scratch: number, start: number, end: number): void;
  conv2dSetGradInputPath(path: number): void;
  conv2dSetGradFilterPath(path: number): void;
  conv2dGradFilterIsTransposed(params: number): number;
}

function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

let compiled: WebAssembly.Module | null = null;

/**
 * A fresh instance (its own memory) of the generated module, or of the .wasm file named by the
 * environment variable KDET_WASM (to test or time a variant build without touching the shared one).
 */
export function instantiateKdet(): KdetExports {
  const override = typeof process !== 'undefined' ? process.env.KDET_WASM : undefined;
  compiled ??= new WebAssembly.Module(override ? readBytes(override) : decodeBase64(wasmBase64));
  return new WebAssembly.Instance(compiled, {}).exports as unknown as KdetExports;
}

/** Bump allocation (64-byte aligned) in a module's memory, growing it as needed. */
export class RawHeap {
  private top: number;
  private readonly base: number;

  constructor(readonly ex: KdetExports) {
    this.base = this.top = ex.heapBase();
  }

  alloc(bytes: number): number {
    const p = Math.ceil(this.top / 64) * 64;
    this.top = p + Math.max(bytes, 0);
    const have = this.ex.memory.buffer.byteLength;
    if (this.top > have) this.ex.memory.grow(Math.ceil((this.top - have) / 65536));
    return p;
  }

  /** Frees everything allocated so far. */
  reset(): void {
    this.top = this.base;
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.ex.memory.buffer, ptr, length);
  }

  /** Copies `data` into fresh memory and returns its address. */
  upload(data: ArrayLike<number>): number {
    const p = this.alloc(data.length * 4);
    this.f32(p, data.length).set(data);
    return p;
  }

  i32s(data: ArrayLike<number>): number {
    const p = this.alloc(data.length * 4);
    new Int32Array(this.ex.memory.buffer, p, data.length).set(data);
    return p;
  }
}

/** The 16 i32 of a conv2d `params` block, in the contract's order. */
export interface ConvShape {
  n: number; cIn: number; h: number; w: number; cOut: number; kh: number; kw: number;
  strideH: number; strideW: number; padH: number; padW: number; dilationH: number; dilationW: number;
  groups: number; outH: number; outW: number;
}

export function convShape(
  n: number, cIn: number, h: number, w: number, cOut: number, kh: number, kw: number,
  opts: { stride?: [number, number]; pad?: [number, number]; dilation?: [number, number]; groups?: number } = {},
): ConvShape {
  const [strideH, strideW] = opts.stride ?? [1, 1];
  const [padH, padW] = opts.pad ?? [0, 0];
  const [dilationH, dilationW] = opts.dilation ?? [1, 1];
  const groups = opts.groups ?? 1;
  const outH = Math.floor((h + 2 * padH - dilationH * (kh - 1) - 1) / strideH) + 1;
  const outW = Math.floor((w + 2 * padW - dilationW * (kw - 1) - 1) / strideW) + 1;
  return { n, cIn, h, w, cOut, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, groups, outH, outW };
}

export function convParamsArray(s: ConvShape): number[] {
  return [s.n, s.cIn, s.h, s.w, s.cOut, s.kh, s.kw, s.strideH, s.strideW, s.padH, s.padW,
    s.dilationH, s.dilationW, s.groups, s.outH, s.outW];
}

/** Deterministic pseudo-random values in [−1, 1) (an LCG: benchmark inputs, not test data). */
export function randomArray(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}
