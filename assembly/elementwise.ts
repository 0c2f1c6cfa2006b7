// Elementwise kernels: fill, cast, unary ops, clamp, broadcasting binary ops, where, oneHot.
//
// Every kernel takes a [start, end) range (of elements, or of output rows for the broadcasting
// ones) so that a future worker pool can split one call across threads; a single-threaded caller
// passes the whole range. The op of a loop is chosen by a type argument (a tag class whose
// methods inline), so each op gets its own specialised SIMD loop instead of a per-element switch.
import { expV, lane0, loadTail, logV, sigmoidV, storeTail, tanhV } from './simd-math';
import { nextRow, rowLength, rowOffset, rowStep, slot, startRows, STRIDES } from './strided';

// @ts-ignore: decorator
@inline function at(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}

// ---------------------------------------------------------------- fill / cast / oneHot

/** y[start..end) = the 32-bit pattern `bits` (a float32 or an int32 value). */
export function fill32(y: usize, bits: i32, start: i32, end: i32): void {
  const v = i32x4.splat(bits);
  let i = start;
  for (; i + 4 <= end; i += 4) v128.store(at(y, i), v);
  for (; i < end; i++) store<i32>(at(y, i), bits);
}

/**
 * float32 → int32 truncating toward zero. NaN and values outside the int32 range give INT_MIN,
 * which is what PyTorch's `.to(torch.int32)` produces on x86.
 */
export function castF32ToI32(x: usize, y: usize, start: i32, end: i32): void {
  const lo = f32x4.splat(-2147483648.0);
  const hi = f32x4.splat(2147483648.0);
  const intMin = i32x4.splat(i32.MIN_VALUE);
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const v = v128.load(at(x, i));
    const bad = v128.or(v128.or(f32x4.ne(v, v), f32x4.lt(v, lo)), f32x4.ge(v, hi));
    v128.store(at(y, i), v128.bitselect(intMin, i32x4.trunc_sat_f32x4_s(v), bad));
  }
  for (; i < end; i++) {
    const v = load<f32>(at(x, i));
    store<i32>(at(y, i), v != v || v < -2147483648.0 || v >= 2147483648.0 ? i32.MIN_VALUE : <i32>v);
  }
}

/** int32 → float32, rounding to nearest. */
export function castI32ToF32(x: usize, y: usize, start: i32, end: i32): void {
  let i = start;
  for (; i + 4 <= end; i += 4) v128.store(at(y, i), f32x4.convert_i32x4_s(v128.load(at(x, i))));
  for (; i < end; i++) store<f32>(at(y, i), <f32>load<i32>(at(x, i)));
}

/** Rows [start, end) of the one-hot matrix [n, classes]; labels outside [0, classes) give zeros. */
export function oneHot(labels: usize, y: usize, classes: i32, start: i32, end: i32): void {
  for (let r = start; r < end; r++) {
    const row = y + (<usize>r * <usize>classes << 2);
    fill32(row, 0, 0, classes);
    const label = load<i32>(at(labels, r));
    if (label >= 0 && label < classes) store<f32>(at(row, label), 1.0);
  }
}

// ---------------------------------------------------------------- unary

@final class Neg { @inline v(x: v128): v128 { return f32x4.neg(x); } }
@final class Exp { @inline v(x: v128): v128 { return expV(x); } }
@final class Log { @inline v(x: v128): v128 { return logV(x); } }
@final class Sqrt { @inline v(x: v128): v128 { return f32x4.sqrt(x); } }
@final class Abs { @inline v(x: v128): v128 { return f32x4.abs(x); } }
// x < 0 ? 0 : x, which keeps NaN and −0 as torch.relu does.
@final class Relu { @inline v(x: v128): v128 { return v128.andnot(x, f32x4.lt(x, f32x4.splat(0))); } }
@final class Sigmoid { @inline v(x: v128): v128 { return sigmoidV(x); } }
@final class Tanh { @inline v(x: v128): v128 { return tanhV(x); } }
@final class Square { @inline v(x: v128): v128 { return f32x4.mul(x, x); } }
// −1, 0 or 1; NaN gives 0 as in PyTorch 1.13.
@final class Sign {
  @inline v(x: v128): v128 {
    const one = f32x4.splat(1);
    const zero = f32x4.splat(0);
    return f32x4.sub(v128.and(f32x4.gt(x, zero), one), v128.and(f32x4.lt(x, zero), one));
  }
}
@final class Reciprocal { @inline v(x: v128): v128 { return f32x4.div(f32x4.splat(1), x); } }
@final class Step { @inline v(x: v128): v128 { return v128.and(f32x4.gt(x, f32x4.splat(0)), f32x4.splat(1)); } }

function unaryRange<Op>(x: usize, y: usize, start: i32, end: i32): void {
  const op = changetype<Op>(0);
  let i = start;
  for (; i + 4 <= end; i += 4) v128.store(at(y, i), op.v(v128.load(at(x, i))));
  for (; i < end; i++) store<f32>(at(y, i), lane0(op.v(f32x4.splat(load<f32>(at(x, i))))));
}

/** Op codes match src/backends/wasm/opcodes.ts. */
export function unary(op: i32, x: usize, y: usize, start: i32, end: i32): void {
  switch (op) {
    case 0: unaryRange<Neg>(x, y, start, end); break;
    case 1: unaryRange<Exp>(x, y, start, end); break;
    case 2: unaryRange<Log>(x, y, start, end); break;
    case 3: unaryRange<Sqrt>(x, y, start, end); break;
    case 4: unaryRange<Abs>(x, y, start, end); break;
    case 5: unaryRange<Relu>(x, y, start, end); break;
    case 6: unaryRange<Sigmoid>(x, y, start, end); break;
    case 7: unaryRange<Tanh>(x, y, start, end); break;
    case 8: unaryRange<Square>(x, y, start, end); break;
    case 9: unaryRange<Sign>(x, y, start, end); break;
    case 10: unaryRange<Reciprocal>(x, y, start, end); break;
    case 11: unaryRange<Step>(x, y, start, end); break;
    default: unreachable();
  }
}

/** min(max(x, lo), hi); NaN stays NaN. */
export function clamp(x: usize, y: usize, lo: f32, hi: f32, start: i32, end: i32): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  let i = start;
  for (; i + 4 <= end; i += 4) v128.store(at(y, i), f32x4.min(f32x4.max(v128.load(at(x, i)), vlo), vhi));
  for (; i < end; i++) {
    store<f32>(at(y, i), lane0(f32x4.min(f32x4.max(f32x4.splat(load<f32>(at(x, i))), vlo), vhi)));
  }
}

// ---------------------------------------------------------------- binary

/** C's powf semantics (PyTorch's): pow(1, y) = 1 and pow(−1, ±inf) = 1 even where JS says NaN. */
function powScalar(a: f32, b: f32): f32 {
  if (a == 1 || b == 0) return 1;
  if (a == -1 && Mathf.abs(b) == Infinity) return 1;
  return <f32>Math.pow(<f64>a, <f64>b);
}

const ONE = f32x4.splat(1);

@final class Add { @inline v(a: v128, b: v128): v128 { return f32x4.add(a, b); } }
@final class Sub { @inline v(a: v128, b: v128): v128 { return f32x4.sub(a, b); } }
@final class Mul { @inline v(a: v128, b: v128): v128 { return f32x4.mul(a, b); } }
@final class Div { @inline v(a: v128, b: v128): v128 { return f32x4.div(a, b); } }
@final class Max { @inline v(a: v128, b: v128): v128 { return f32x4.max(a, b); } }
@final class Min { @inline v(a: v128, b: v128): v128 { return f32x4.min(a, b); } }
@final class Pow {
  @inline v(a: v128, b: v128): v128 {
    let r = f32x4.splat(powScalar(f32x4.extract_lane(a, 0), f32x4.extract_lane(b, 0)));
    r = f32x4.replace_lane(r, 1, powScalar(f32x4.extract_lane(a, 1), f32x4.extract_lane(b, 1)));
    r = f32x4.replace_lane(r, 2, powScalar(f32x4.extract_lane(a, 2), f32x4.extract_lane(b, 2)));
    return f32x4.replace_lane(r, 3, powScalar(f32x4.extract_lane(a, 3), f32x4.extract_lane(b, 3)));
  }
}
@final class Gt { @inline v(a: v128, b: v128): v128 { return v128.and(f32x4.gt(a, b), ONE); } }
@final class Ge { @inline v(a: v128, b: v128): v128 { return v128.and(f32x4.ge(a, b), ONE); } }
@final class Lt { @inline v(a: v128, b: v128): v128 { return v128.and(f32x4.lt(a, b), ONE); } }
@final class Le { @inline v(a: v128, b: v128): v128 { return v128.and(f32x4.le(a, b), ONE); } }
@final class Eq { @inline v(a: v128, b: v128): v128 { return v128.and(f32x4.eq(a, b), ONE); } }
@final class Ne { @inline v(a: v128, b: v128): v128 { return v128.and(f32x4.ne(a, b), ONE); } }

/** One output row: y[i] = a[i·aStep] op b[i·bStep], steps 1 or 0 (not both 0). */
// @ts-ignore: decorator
@inline function binaryRow<Op>(op: Op, pa: usize, pb: usize, py: usize, inner: i32, aStep: i32, bStep: i32): void {
  const body = inner & ~3;
  const tail = inner - body;
  const zero = f32x4.splat(0);
  if (aStep == 1 && bStep == 1) {
    for (let i = 0; i < body; i += 4) v128.store(at(py, i), op.v(v128.load(at(pa, i)), v128.load(at(pb, i))));
    if (tail > 0) storeTail(at(py, body), tail, op.v(loadTail(at(pa, body), tail, zero), loadTail(at(pb, body), tail, zero)));
  } else if (aStep == 1) {
    const vb = f32x4.splat(load<f32>(pb));
    for (let i = 0; i < body; i += 4) v128.store(at(py, i), op.v(v128.load(at(pa, i)), vb));
    if (tail > 0) storeTail(at(py, body), tail, op.v(loadTail(at(pa, body), tail, zero), vb));
  } else {
    const va = f32x4.splat(load<f32>(pa));
    for (let i = 0; i < body; i += 4) v128.store(at(py, i), op.v(va, v128.load(at(pb, i))));
    if (tail > 0) storeTail(at(py, body), tail, op.v(va, loadTail(at(pb, body), tail, zero)));
  }
}

function binaryRows<Op>(a: usize, b: usize, y: usize, params: usize, rowStart: i32, rowEnd: i32): void {
  const op = changetype<Op>(0);
  const inner = rowLength(params);
  const aStep = rowStep(params, 0);
  const bStep = rowStep(params, 1);
  if (slot(params, 0) <= 2) {
    // One outer axis (the common bias / column / same-shape cases): offsets without the counter.
    const aRow = slot(params, STRIDES), bRow = slot(params, STRIDES + 6);
    for (let r = rowStart; r < rowEnd; r++) {
      binaryRow<Op>(op, at(a, r * aRow), at(b, r * bRow), y + (<usize>r * <usize>inner << 2), inner, aStep, bStep);
    }
    return;
  }
  startRows(params, rowStart);
  for (let r = rowStart; r < rowEnd; r++) {
    const py = y + (<usize>r * <usize>inner << 2);
    binaryRow<Op>(op, at(a, rowOffset(params, 0)), at(b, rowOffset(params, 1)), py, inner, aStep, bStep);
    nextRow(params);
  }
}

/**
 * y = a op b over output rows [rowStart, rowEnd) of the collapsed broadcast described by
 * `params` (see strided.ts; operands 0 and 1 are a and b, y is contiguous). Shapes are collapsed so
 * that along the last axis each operand has stride 1 or 0, never both 0. Op codes match src/backends/wasm/opcodes.ts.
 */
export function binary(op: i32, a: usize, b: usize, y: usize, params: usize, rowStart: i32, rowEnd: i32): void {
  switch (op) {
    case 0: binaryRows<Add>(a, b, y, params, rowStart, rowEnd); break;
    case 1: binaryRows<Sub>(a, b, y, params, rowStart, rowEnd); break;
    case 2: binaryRows<Mul>(a, b, y, params, rowStart, rowEnd); break;
    case 3: binaryRows<Div>(a, b, y, params, rowStart, rowEnd); break;
    case 4: binaryRows<Max>(a, b, y, params, rowStart, rowEnd); break;
    case 5: binaryRows<Min>(a, b, y, params, rowStart, rowEnd); break;
    case 6: binaryRows<Pow>(a, b, y, params, rowStart, rowEnd); break;
    case 7: binaryRows<Gt>(a, b, y, params, rowStart, rowEnd); break;
    case 8: binaryRows<Ge>(a, b, y, params, rowStart, rowEnd); break;
    case 9: binaryRows<Lt>(a, b, y, params, rowStart, rowEnd); break;
    case 10: binaryRows<Le>(a, b, y, params, rowStart, rowEnd); break;
    case 11: binaryRows<Eq>(a, b, y, params, rowStart, rowEnd); break;
    case 12: binaryRows<Ne>(a, b, y, params, rowStart, rowEnd); break;
    default: unreachable();
  }
}

/**
 * y = cond != 0 ? a : b (NaN counts as true) over output rows [rowStart, rowEnd); operands 0, 1, 2
 * of `params` are cond, a, b. Vectorised when all three are contiguous along the last axis.
 */
export function where(cond: usize, a: usize, b: usize, y: usize, params: usize, rowStart: i32, rowEnd: i32): void {
  const inner = rowLength(params);
  const cStep = rowStep(params, 0);
  const aStep = rowStep(params, 1);
  const bStep = rowStep(params, 2);
  const zero = f32x4.splat(0);
  startRows(params, rowStart);
  for (let r = rowStart; r < rowEnd; r++) {
    const pc = at(cond, rowOffset(params, 0));
    const pa = at(a, rowOffset(params, 1));
    const pb = at(b, rowOffset(params, 2));
    const py = y + (<usize>r * <usize>inner << 2);
    let i = 0;
    if (cStep == 1 && aStep == 1 && bStep == 1) {
      for (; i + 4 <= inner; i += 4) {
        const mask = f32x4.ne(v128.load(at(pc, i)), zero);
        v128.store(at(py, i), v128.bitselect(v128.load(at(pa, i)), v128.load(at(pb, i)), mask));
      }
    }
    for (; i < inner; i++) {
      const c = load<f32>(at(pc, i * cStep));
      store<f32>(at(py, i), c != 0 ? load<f32>(at(pa, i * aStep)) : load<f32>(at(pb, i * bStep)));
    }
    nextRow(params);
  }
}
