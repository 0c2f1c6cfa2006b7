// A minimal ONNX writer for the benchmark's onnxruntime-web peer: one ModelProto (IR 7, opset 13)
// holding a single Conv or MatMul node, its weight stored as an initializer, float32 throughout.
// Only the handful of protobuf fields such a model needs are encoded (field numbers from onnx.proto);
// nothing here reads ONNX.

/** Growable byte buffer with the protobuf wire primitives (varint, length-delimited, fixed32). */
class Writer {
  private buf = new Uint8Array(256);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Unsigned varint of a non-negative integer up to 2^53 (enough for every field here). */
  varint(v: number): this {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`varint: ${v} is not a non-negative safe integer`);
    this.reserve(8);
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
    return this;
  }

  private tag(field: number, wireType: 0 | 2 | 5): this {
    return this.varint(field * 8 + wireType);
  }

  /** A varint field (int32, int64 and enum alike for non-negative values). */
  int(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2).varint(data.length);
    this.reserve(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  /** An embedded message, written by `body` into its own writer. */
  message(field: number, body: (w: Writer) => void): this {
    const inner = new Writer();
    body(inner);
    return this.bytes(field, inner.finish());
  }

  /** A packed repeated varint field (proto3 `repeated int64`). */
  packedInts(field: number, vs: readonly number[]): this {
    const inner = new Writer();
    for (const v of vs) inner.varint(v);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

// onnx.proto enums used below.
const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR_INT = 2; // AttributeProto.AttributeType.INT
const ATTR_INTS = 7; // AttributeProto.AttributeType.INTS

export type Attribute = { name: string; int: number } | { name: string; ints: readonly number[] };

export interface NodeSpec {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: readonly Attribute[];
}

export interface ValueSpec { name: string; shape: readonly number[] }

export interface Initializer { name: string; shape: readonly number[]; data: Float32Array }

export interface GraphSpec {
  node: NodeSpec;
  inputs: readonly ValueSpec[];
  outputs: readonly ValueSpec[];
  initializers: readonly Initializer[];
}

function valueInfo(w: Writer, v: ValueSpec): void {
  w.string(1, v.name); // ValueInfoProto.name
  w.message(2, (type) => // ValueInfoProto.type: TypeProto
    type.message(1, (tensor) => { // TypeProto.tensor_type
      tensor.int(1, FLOAT); // TypeProto.Tensor.elem_type
      tensor.message(2, (shape) => { // TypeProto.Tensor.shape: TensorShapeProto
        for (const d of v.shape) shape.message(1, (dim) => dim.int(1, d)); // dim { dim_value }
      });
    }));
}

function attribute(w: Writer, a: Attribute): void {
  w.string(1, a.name); // AttributeProto.name
  if ('int' in a) {
    w.int(3, a.int); // AttributeProto.i
    w.int(20, ATTR_INT); // AttributeProto.type
  } else {
    w.packedInts(8, a.ints); // AttributeProto.ints
    w.int(20, ATTR_INTS);
  }
}

/** The serialized ModelProto of a one-node graph (float32 tensors, static shapes). */
export function encodeModel(g: GraphSpec): Uint8Array {
  const model = new Writer();
  model.int(1, 7); // ir_version 7 (the IR of opset 13)
  model.string(2, 'kdet-bench'); // producer_name
  model.message(7, (graph) => { // graph: GraphProto
    graph.message(1, (node) => { // node: NodeProto
      for (const i of g.node.inputs) node.string(1, i);
      for (const o of g.node.outputs) node.string(2, o);
      node.string(3, g.node.opType.toLowerCase()); // name
      node.string(4, g.node.opType); // op_type
      for (const a of g.node.attributes ?? []) node.message(5, (w) => attribute(w, a));
    });
    graph.string(2, 'bench'); // name
    for (const t of g.initializers) {
      graph.message(5, (tensor) => { // initializer: TensorProto
        tensor.packedInts(1, t.shape); // dims
        tensor.int(2, FLOAT); // data_type
        tensor.string(8, t.name); // name
        // raw_data: little-endian float32, as the spec requires (copy: the array may be a view)
        tensor.bytes(9, new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength)));
      });
    }
    for (const v of g.inputs) graph.message(11, (w) => valueInfo(w, v));
    for (const v of g.outputs) graph.message(12, (w) => valueInfo(w, v));
  });
  model.message(8, (opset) => { // opset_import: OperatorSetIdProto (default domain)
    opset.string(1, '');
    opset.int(2, 13);
  });
  return model.finish();
}

/** Y = Conv(X, W) in NCHW with a square kernel, symmetric padding, no bias. */
export function convModel(n: number, cIn: number, h: number, w: number, cOut: number, k: number,
  stride: number, pad: number, weight: Float32Array): Uint8Array {
  const outH = Math.floor((h + 2 * pad - k) / stride) + 1;
  const outW = Math.floor((w + 2 * pad - k) / stride) + 1;
  return encodeModel({
    node: {
      opType: 'Conv',
      inputs: ['X', 'W'],
      outputs: ['Y'],
      attributes: [
        { name: 'kernel_shape', ints: [k, k] },
        { name: 'pads', ints: [pad, pad, pad, pad] },
        { name: 'strides', ints: [stride, stride] },
        { name: 'dilations', ints: [1, 1] },
        { name: 'group', int: 1 },
      ],
    },
    inputs: [{ name: 'X', shape: [n, cIn, h, w] }],
    outputs: [{ name: 'Y', shape: [n, cOut, outH, outW] }],
    initializers: [{ name: 'W', shape: [cOut, cIn, k, k], data: weight }],
  });
}

/** Y = MatMul(A, B) with B [k, n] an initializer (a weight, as in a linear layer). */
export function matmulModel(m: number, k: number, n: number, b: Float32Array): Uint8Array {
  return encodeModel({
    node: { opType: 'MatMul', inputs: ['A', 'B'], outputs: ['Y'] },
    inputs: [{ name: 'A', shape: [m, k] }],
    outputs: [{ name: 'Y', shape: [m, n] }],
    initializers: [{ name: 'B', shape: [k, n], data: b }],
  });
}
