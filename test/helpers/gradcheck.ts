import { createReferenceBackend, type ReferenceBackend } from '../../src/backends/reference/index.js';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import { type Tensor, wrap } from '../../src/engine/tensor.js';
import { assertClose, assertEqualArrays, assertFinite } from './assert.js';
import { randn, Rng } from './random.js';

/** One argument of the function under test. */
export interface GradInput {
  data: ArrayLike<number>;
  shape: readonly number[];
  dtype?: 'float32' | 'int32';
  /** Differentiate with respect to it (default: true for float32). */
  grad?: boolean;
}

export type OpFn = (...xs: Tensor[]) => Tensor | Promise<Tensor>;

let shared: ReferenceBackend | null = null;

/** The reference backend the helpers compute ground truth on (one per test file). */
export function referenceBackend(): ReferenceBackend {
  shared ??= createReferenceBackend();
  return shared;
}

function isDiff(inp: GradInput): boolean {
  return (inp.dtype ?? 'float32') === 'float32' && inp.grad !== false;
}

function hasReadF64(b: Backend): b is ReferenceBackend {
  return typeof (b as Partial<ReferenceBackend>).readF64 === 'function';
}

/** A tensor's values as float64 (exact float64 on the reference backend). */
export async function readValues(t: Tensor): Promise<Float64Array> {
  const b = t.backend;
  return hasReadF64(b) ? b.readF64(t.buf) : Float64Array.from(await t.data());
}

/** The upstream gradient used for an output of `shape`: random, deterministic per seed. */
export function upstream(seed: string, shape: readonly number[]): Float64Array {
  return randn(new Rng(`dy ${seed}`), shape.reduce((p, d) => p * d, 1));
}

export interface Evaluation {
  output: { data: Float64Array; shape: readonly number[]; dtype: 'float32' | 'int32' };
  /** Gradient of sum(y · dy) per input; null for non-differentiable inputs or integer outputs. */
  grads: (Float64Array | null)[];
}

/**
 * Evaluate `fn` on `backend`: the output and, for a float output, the gradients of sum(y · dy)
 * through valueAndGrads. Inputs are uploaded as float32 (int32 where typed so), `dy(shape)` gives
 * the upstream gradient. Afterwards the engine's live tensors and the backend's bytes must be
 * back where they were: every op is leak-checked by every test that evaluates it.
 */
export async function evaluate(
  backend: Backend,
  fn: OpFn,
  inputs: readonly GradInput[],
  dy: (shape: readonly number[]) => ArrayLike<number>,
): Promise<Evaluation> {
  k.setBackend(backend);
  const before = k.memoryStats(backend);
  const xs = inputs.map((inp) =>
    inp.dtype === 'int32'
      ? k.tensor(Int32Array.from(inp.data), inp.shape, { dtype: 'int32', backend })
      : k.tensor(Float32Array.from(inp.data), inp.shape, { backend }),
  );
  const diff = xs.filter((_, i) => isDiff(inputs[i]!));
  let result: Evaluation;
  try {
    result = await evaluateTensors(fn, xs, inputs, diff, dy);
  } finally {
    k.dispose(xs);
  }
  await backend.sync();
  const after = k.memoryStats(backend);
  if (after.tensors !== before.tensors || after.bytes !== before.bytes || after.buffers !== before.buffers) {
    throw new Error(`leak on backend '${backend.name}': before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
  }
  return result;
}

async function evaluateTensors(
  fn: OpFn,
  xs: Tensor[],
  inputs: readonly GradInput[],
  diff: Tensor[],
  dy: (shape: readonly number[]) => ArrayLike<number>,
): Promise<Evaluation> {
  // Without differentiable inputs (or for async ops such as nms) there is no gradient to take.
  const probe = diff.length === 0 ? await k.noGrad(() => k.scope(() => fn(...xs))) : null;
  if (probe) return { output: await takeOutput(probe), grads: inputs.map(() => null) };

  let y = null as Tensor | null;
  const { value, grads } = k.valueAndGrads(() => {
    const out = fn(...xs);
    if (out instanceof Promise) throw new Error('an async op cannot be differentiated');
    y = k.keep(out);
    if (out.dtype !== 'float32') return k.zeros([]);
    const dyT = k.tensor(Float32Array.from(dy(out.shape)), out.shape, { backend: out.backend });
    return k.sum(k.mul(out, dyT));
  }, diff);
  try {
    const output = await takeOutput(y!);
    const floatOut = output.dtype === 'float32';
    const gs: (Float64Array | null)[] = inputs.map(() => null);
    let j = 0;
    for (let i = 0; i < inputs.length; i++) {
      if (!isDiff(inputs[i]!)) continue;
      const g = grads[j++]!;
      if (floatOut) gs[i] = await readValues(g);
    }
    return { output, grads: gs };
  } finally {
    k.dispose([value, ...grads]);
  }
}

/** Read a tensor's values and shape, then dispose it. */
async function takeOutput(t: Tensor): Promise<Evaluation['output']> {
  try {
    return { data: await readValues(t), shape: t.shape, dtype: t.dtype };
  } finally {
    t.dispose();
  }
}

export interface GradcheckOptions {
  /** Finite-difference step relative to max(1, |x|). */
  eps?: number;
  /** Tolerance between analytic and numeric gradients. */
  rtol?: number;
  /** Allow NaN/Inf in the forward output (default: fail). */
  allowNonFinite?: boolean;
}

/**
 * Central finite differences in float64 on the reference backend against the engine's analytic
 * gradients (valueAndGrads), for the scalar sum(fn(xs) · dy) with a random dy. Inputs are held in
 * float64 unrounded (`uploadF64`), so only the analytic formula and the kernels are tested, not
 * float32 rounding.
 */
export function gradcheck(what: string, fn: (...xs: Tensor[]) => Tensor, inputs: readonly GradInput[], opts: GradcheckOptions = {}): void {
  const ref = referenceBackend();
  k.setBackend(ref);
  const eps = opts.eps ?? 1e-6;
  const rtol = opts.rtol ?? 1e-6;
  const before = k.memoryStats(ref);
  const make = (inp: GradInput, data: ArrayLike<number>): Tensor =>
    inp.dtype === 'int32'
      ? k.tensor(Int32Array.from(data), inp.shape, { dtype: 'int32', backend: ref })
      : wrap(ref, ref.uploadF64(Float64Array.from(data)), inp.shape, 'float32');
  const xs = inputs.map((inp) => make(inp, inp.data));
  const diffIdx = inputs.map((inp, i) => (isDiff(inp) ? i : -1)).filter((i) => i >= 0);
  if (diffIdx.length === 0) throw new Error(`${what}: no differentiable input`);

  const y0 = k.noGrad(() => k.scope(() => fn(...xs)));
  const yData = ref.readF64(y0.buf);
  const yShape = y0.shape;
  y0.dispose();
  if (!opts.allowNonFinite) assertFinite(yData, `${what}: forward output`);
  const dy = wrap(ref, ref.uploadF64(upstream(what, yShape)), yShape, 'float32');
  const loss = (args: Tensor[]) => k.sum(k.mul(fn(...args), dy));
  const lossAt = (args: Tensor[]) => k.noGrad(() => k.scope(() => ref.readF64(loss(args).buf)[0]!));

  const { value, grads } = k.valueAndGrads(() => loss(xs), diffIdx.map((i) => xs[i]!));
  const analytic = grads.map((g) => ref.readF64(g.buf));
  k.dispose([value, ...grads]);

  diffIdx.forEach((i, j) => {
    const base = Float64Array.from(inputs[i]!.data);
    const numeric = new Float64Array(base.length);
    for (let e = 0; e < base.length; e++) {
      const h = eps * Math.max(1, Math.abs(base[e]!));
      const at = (delta: number): number => {
        const data = base.slice();
        data[e] = base[e]! + delta;
        const xi = make(inputs[i]!, data);
        const args = xs.slice();
        args[i] = xi;
        try {
          return lossAt(args);
        } finally {
          xi.dispose();
        }
      };
      numeric[e] = (at(h) - at(-h)) / (2 * h);
    }
    assertFinite(analytic[j]!, `${what}: analytic gradient of input ${i}`);
    const scale = Math.max(1, ...Array.from(numeric, Math.abs));
    assertClose(analytic[j]!, numeric, { rtol, atol: rtol * scale, what: `${what}: d/dinput${i} analytic vs finite differences`, shape: inputs[i]!.shape });
  });
  k.dispose([...xs, dy]);
  const after = k.memoryStats(ref);
  if (after.tensors !== before.tensors || after.bytes !== before.bytes) {
    throw new Error(`${what}: leak: before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
  }
}

export interface CompareOptions {
  /** Relative tolerance (default 1e-4); loosen only where a kernel reorders long sums. */
  rtol?: number;
}

/**
 * Run `fn` on `other` and on the reference with the same float32 inputs and upstream gradient;
 * outputs and gradients must agree within rtol (integer outputs exactly).
 */
export async function compareWithReference(
  what: string,
  fn: OpFn,
  inputs: readonly GradInput[],
  other: Backend,
  opts: CompareOptions = {},
): Promise<void> {
  const rtol = opts.rtol ?? 1e-4;
  const dy = (shape: readonly number[]) => upstream(what, shape);
  const expected = await evaluate(referenceBackend(), fn, inputs, dy);
  const actual = await evaluate(other, fn, inputs, dy);
  assertSameEvaluation(what, actual, expected, rtol);
}

export function assertSameEvaluation(what: string, actual: Evaluation, expected: Evaluation, rtol: number): void {
  const a = actual.output;
  const e = expected.output;
  if (a.dtype !== e.dtype || a.shape.join() !== e.shape.join()) {
    throw new Error(`${what}: output is ${a.dtype} [${a.shape}], expected ${e.dtype} [${e.shape}]`);
  }
  if (e.dtype === 'int32') assertEqualArrays(a.data, e.data, `${what}: output`);
  else assertClose(a.data, e.data, { rtol, what: `${what}: output`, shape: e.shape });
  expected.grads.forEach((g, i) => {
    if (!g) return;
    const got = actual.grads[i];
    if (!got) throw new Error(`${what}: no gradient for input ${i}`);
    assertClose(got, g, { rtol, what: `${what}: gradient of input ${i}` });
  });
}
