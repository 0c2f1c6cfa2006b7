/**
 * Writes the `data.pkl` of a state_dict as torch.save does (pickle protocol 2): an OrderedDict
 * whose values are `torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False,
 * OrderedDict())`, each storage a persistent id ('storage', torch.<Type>Storage, key, 'cpu',
 * numel). Only what torch.load's weights_only unpickler also accepts; no memo (optional in pickle).
 */
import { STORAGE_NAME, type TorchDType } from './torch-dtypes.js';

export interface PickledTensor {
  name: string;
  dtype: TorchDType;
  shape: readonly number[];
  /** The storage record's name under `data/`. */
  storageKey: string;
}

class Out {
  private buf = new Uint8Array(1024);
  private n = 0;
  private readonly enc = new TextEncoder();

  byte(...bs: number[]): void {
    this.grow(bs.length);
    for (const b of bs) this.buf[this.n++] = b;
  }

  private grow(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }

  /** GLOBAL 'module\nname\n'. */
  global(module: string, name: string): void {
    this.raw(this.enc.encode(`c${module}\n${name}\n`));
  }

  /** BINUNICODE: u32 length, UTF-8. */
  str(s: string): void {
    const b = this.enc.encode(s);
    this.byte(0x58);
    this.u32(b.length);
    this.raw(b);
  }

  /** The smallest of BININT1 / BININT2 / BININT / LONG1, as CPython's pickler chooses. */
  int(v: number): void {
    if (!Number.isSafeInteger(v)) throw new Error(`kdet.pth: ${v} is not an integer`);
    if (v >= 0 && v < 256) this.byte(0x4b, v);
    else if (v >= 0 && v < 65536) this.byte(0x4d, v & 0xff, v >> 8);
    else if (v >= -(2 ** 31) && v < 2 ** 31) {
      this.byte(0x4a);
      this.u32(v >>> 0);
    } else {
      // LONG1: little-endian two's complement, as few bytes as keep the sign.
      const bytes: number[] = [];
      let x = BigInt(v);
      for (;;) {
        bytes.push(Number(x & 0xffn));
        x >>= 8n;
        const sign = bytes[bytes.length - 1]! & 0x80;
        if ((x === 0n && !sign) || (x === -1n && sign)) break;
      }
      this.byte(0x8a, bytes.length, ...bytes);
    }
  }

  tuple(items: readonly number[]): void {
    if (items.length === 0) return this.byte(0x29);
    if (items.length > 3) this.byte(0x28);
    for (const v of items) this.int(v);
    this.byte(items.length > 3 ? 0x74 : 0x84 + items.length); // TUPLE, or TUPLE1..3
  }

  u32(v: number): void {
    this.byte(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }

  raw(b: Uint8Array): void {
    this.grow(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }

  bytes(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}

const MARK = 0x28;
const EMPTY_TUPLE = 0x29;
const REDUCE = 0x52;
const TUPLE = 0x74;
const BINPERSID = 0x51;
const NEWFALSE = 0x89;
const SETITEMS = 0x75;
/** CPython's pickler batches SETITEMS by 1000 pairs. */
const BATCH = 1000;

function emptyOrderedDict(o: Out): void {
  o.global('collections', 'OrderedDict');
  o.byte(EMPTY_TUPLE, REDUCE);
}

export function pickleStateDict(tensors: readonly PickledTensor[]): Uint8Array {
  const o = new Out();
  o.byte(0x80, 2); // PROTO 2
  emptyOrderedDict(o);
  for (let b = 0; b < tensors.length; b += BATCH) {
    o.byte(MARK);
    for (const t of tensors.slice(b, b + BATCH)) {
      o.str(t.name);
      o.global('torch._utils', '_rebuild_tensor_v2');
      o.byte(MARK);
      // The persistent id.
      o.byte(MARK);
      o.str('storage');
      o.global('torch', STORAGE_NAME[t.dtype]);
      o.str(t.storageKey);
      o.str('cpu');
      const numel = t.shape.reduce((p, d) => p * d, 1);
      o.int(numel);
      o.byte(TUPLE, BINPERSID);
      // storage_offset, size, contiguous stride, requires_grad, backward_hooks.
      o.int(0);
      o.tuple(t.shape);
      // torch's contiguous strides: empty dimensions count as 1.
      const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((p, d) => p * Math.max(d, 1), 1));
      o.tuple(stride);
      o.byte(NEWFALSE);
      emptyOrderedDict(o);
      o.byte(TUPLE, REDUCE);
    }
    o.byte(SETITEMS);
  }
  o.byte(0x2e); // STOP
  return o.bytes();
}
