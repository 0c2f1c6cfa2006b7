import { check, fmtShape } from '../errors.js';
import { checkShape, normAxes, sizeOf, type Shape } from '../shape.js';
import { record } from '../tape.js';
import { type Tensor, view } from '../tensor.js';
import { add } from './elementwise.js';
import { full } from './creation.js';
import { backendOf, expectDType, out } from './util.js';

/** Same data, another shape (one −1 is inferred). Free: shares storage. */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = [...shape];
  const infer = s.indexOf(-1);
  if (infer >= 0) {
    const known = s.reduce((p, d, i) => (i === infer ? p : p * d), 1);
    check(known > 0 && x.size % known === 0, 'reshape', () => `cannot infer -1 in ${fmtShape(shape)} for ${x.size} elements`);
    s[infer] = x.size / known;
  }
  checkShape('reshape', 'shape', s);
  check(sizeOf(s) === x.size, 'reshape', () => `cannot reshape ${fmtShape(x.shape)} (${x.size} elements) to ${fmtShape(shape)}`);
  const y = view(x, s);
  record('reshape', [x], [y], () => {
    const xShape = x.shape;
    return ([dy]) => [reshape(dy!, xShape)];
  });
  return y;
}

/** The same values cut off from the tape: gradients never flow through it (a view, no copy). */
export function stopGradient(x: Tensor): Tensor {
  return view(x, x.shape);
}

export function flatten(x: Tensor, startAxis = 1): Tensor {
  // The product, not -1: a tensor with no elements ([0, C, 7, 7]: no ROIs) has no -1 to infer.
  return reshape(x, [...x.shape.slice(0, startAxis), x.shape.slice(startAxis).reduce((a, b) => a * b, 1)]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = axis < 0 ? axis + x.rank + 1 : axis;
  check(a >= 0 && a <= x.rank, 'unsqueeze', () => `axis ${axis} out of range for shape ${fmtShape(x.shape)}`);
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

export function squeeze(x: Tensor, axis: number): Tensor {
  const [a] = normAxes('squeeze', axis, x.rank);
  check(x.shape[a!] === 1, 'squeeze', () => `axis ${axis} of shape ${fmtShape(x.shape)} has size ${x.shape[a!]}, not 1`);
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

/** Permute axes (PyTorch `permute`); default reverses them. */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const p = perm ?? [...Array(x.rank).keys()].reverse();
  check(p.length === x.rank && [...p].sort((a, b) => a - b).every((v, i) => v === i), 'transpose', () =>
    `perm ${JSON.stringify(p)} is not a permutation of the ${x.rank} axes of ${fmtShape(x.shape)}`);
  const shape = p.map((i) => x.shape[i]!);
  if (p.every((v, i) => v === i)) return reshape(x, shape);
  const b = x.backend;
  const y = out(b, b.transpose(x.buf, x.shape, p, x.dtype), shape, x.dtype);
  record('transpose', [x], [y], () => {
    const inv = new Array<number>(p.length);
    p.forEach((v, i) => (inv[v] = i));
    return ([dy]) => [transpose(dy!, inv)];
  });
  return y;
}

/** x[begin : begin+size] per axis; a size of −1 runs to the end. */
export function slice(x: Tensor, begin: readonly number[], size?: readonly number[]): Tensor {
  check(begin.length === x.rank && (!size || size.length === x.rank), 'slice', () =>
    `begin ${JSON.stringify(begin)} and size ${JSON.stringify(size)} must have one entry per axis of ${fmtShape(x.shape)}`);
  const sz = x.shape.map((d, i) => {
    const s = size?.[i] ?? -1;
    return s < 0 ? d - begin[i]! : s;
  });
  for (let i = 0; i < x.rank; i++) {
    check(begin[i]! >= 0 && sz[i]! >= 0 && begin[i]! + sz[i]! <= x.shape[i]!, 'slice', () =>
      `axis ${i}: [${begin[i]}, ${begin[i]! + sz[i]!}) is outside ${fmtShape(x.shape)}`);
  }
  const b = x.backend;
  const y = out(b, b.slice(x.buf, x.shape, begin, sz, x.dtype), sz, x.dtype);
  record('slice', [x], [y], () => {
    const xShape = x.shape;
    return ([dy]) => [out(dy!.backend, dy!.backend.pad(dy!.buf, dy!.shape, xShape, begin, 'float32'), xShape)];
  });
  return y;
}

/** Zero-pad: `before[i]` and `after[i]` elements on each side of axis i. */
export function pad(x: Tensor, before: readonly number[], after: readonly number[]): Tensor {
  check(before.length === x.rank && after.length === x.rank && [...before, ...after].every((v) => v >= 0), 'pad', () =>
    `before ${JSON.stringify(before)} / after ${JSON.stringify(after)} must be non-negative, one per axis of ${fmtShape(x.shape)}`);
  const shape = x.shape.map((d, i) => d + before[i]! + after[i]!);
  const b = x.backend;
  const y = out(b, b.pad(x.buf, x.shape, shape, before, x.dtype), shape, x.dtype);
  record('pad', [x], [y], () => {
    const xShape = x.shape;
    return ([dy]) => [slice(dy!, before, xShape)];
  });
  return y;
}

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  check(xs.length > 0, 'concat', () => 'needs at least one tensor');
  const first = xs[0]!;
  const [a] = normAxes('concat', axis, first.rank);
  const backend = backendOf('concat', ...xs);
  xs.forEach((t, i) => {
    check(t.dtype === first.dtype, 'concat', () => `tensor ${i} is ${t.dtype}, tensor 0 is ${first.dtype}`);
    check(t.rank === first.rank && t.shape.every((d, j) => j === a || d === first.shape[j]), 'concat', () =>
      `tensor ${i} has shape ${fmtShape(t.shape)}, incompatible with ${fmtShape(first.shape)} along axis ${a}`);
  });
  const shape = [...first.shape];
  shape[a!] = xs.reduce((s, t) => s + t.shape[a!]!, 0);
  const y = out(backend, backend.concat(xs.map((t) => t.buf), xs.map((t) => t.shape), a!, first.dtype), shape, first.dtype);
  record('concat', xs, [y], () => {
    const shapes = xs.map((t) => t.shape);
    return ([dy], need) => {
      let offset = 0;
      return shapes.map((s, i) => {
        const begin = s.map((_, j) => (j === a ? offset : 0));
        offset += s[a!]!;
        return need[i] ? slice(dy!, begin, s) : null;
      });
    };
  });
  return y;
}

export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  return concat(xs.map((t) => unsqueeze(t, axis)), axis);
}

function checkIndices(op: string, indices: Tensor): void {
  expectDType(op, 'indices', indices, 'int32');
  check(indices.rank === 1, op, () => `indices: expected rank 1, got shape ${fmtShape(indices.shape)}`);
}

/**
 * index_select: rows of `x` along `axis` picked by int32 `indices` (repeats allowed). Indices are
 * range-checked when the backend reads synchronously.
 */
export function gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
  checkIndices('gather', indices);
  const [a] = normAxes('gather', axis, x.rank);
  const backend = backendOf('gather', x, indices);
  if (backend.canReadSync) {
    const idx = indices.dataSync();
    const n = x.shape[a!]!;
    for (let i = 0; i < idx.length; i++) {
      const v = idx[i]!;
      check(v >= 0 && v < n, 'gather', () => `indices[${i}] = ${v} is out of range for axis ${a} of size ${n} in ${fmtShape(x.shape)}`);
    }
  }
  const shape = [...x.shape];
  shape[a!] = indices.size;
  const y = out(backend, backend.gather(x.buf, x.shape, indices.buf, indices.size, a!, x.dtype), shape, x.dtype);
  record('gather', [x, indices], [y], (tape) => {
    const si = tape.save(indices);
    const n = x.shape[a!]!;
    return ([dy]) => [scatterAdd(dy!, si, n, a!), null];
  });
  return y;
}

/**
 * index_add into zeros: out[..., indices[i], ...] += src[..., i, ...], out's `axis` has size
 * `axisSize`. The adjoint of gather.
 */
export function scatterAdd(src: Tensor, indices: Tensor, axisSize: number, axis = 0): Tensor {
  checkIndices('scatterAdd', indices);
  expectDType('scatterAdd', 'src', src, 'float32');
  const [a] = normAxes('scatterAdd', axis, src.rank);
  check(src.shape[a!] === indices.size, 'scatterAdd', () =>
    `src axis ${a} has ${src.shape[a!]} entries but indices has ${indices.size}`);
  const backend = backendOf('scatterAdd', src, indices);
  if (backend.canReadSync) {
    const idx = indices.dataSync();
    for (let i = 0; i < idx.length; i++) {
      const v = idx[i]!;
      check(v >= 0 && v < axisSize, 'scatterAdd', () => `indices[${i}] = ${v} is out of range for an axis of size ${axisSize}`);
    }
  }
  const shape = [...src.shape];
  shape[a!] = axisSize;
  const y = out(backend, backend.scatterAdd(src.buf, src.shape, indices.buf, a!, axisSize), shape);
  record('scatterAdd', [src, indices], [y], (tape) => {
    const si = tape.save(indices);
    return ([dy]) => [gather(dy!, si, a!), null];
  });
  return y;
}

/** Broadcast to `shape` (materialised). */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  const zero = full(shape, 0, { backend: x.backend });
  const y = add(x, zero);
  zero.dispose();
  return y;
}

