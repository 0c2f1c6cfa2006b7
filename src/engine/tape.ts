import { check, fail, fmtShape } from './errors.js';
import { scope } from './scope.js';
import { full } from './ops/creation.js';
import { add } from './ops/elementwise.js';
import { Tensor, view } from './tensor.js';

/** Computes the gradients of an op's inputs from the gradients of its outputs. */
export type BackwardFn = (dys: readonly Tensor[], needed: readonly boolean[]) => readonly (Tensor | null | undefined)[];

interface TapeNode {
  op: string;
  inputs: readonly Tensor[];
  outputIds: readonly number[];
  outputShapes: readonly (readonly number[])[];
  backward: BackwardFn;
}

/**
 * The record of ops applied to watched tensors. Ops consult `recordingTape()` and, when any input
 * depends on a watched tensor, append a node with a backward closure. Tensors a closure needs are
 * saved as private views (`Tape.save`) so that a scope disposing the user's handle cannot free
 * them before backward runs.
 */
export class Tape {
  readonly nodes: TapeNode[] = [];
  private readonly saved: Tensor[] = [];

  watch(t: Tensor): void {
    t.tape = this;
  }

  needsGrad(t: Tensor): boolean {
    return t.tape === this;
  }

  save(t: Tensor): Tensor {
    const v = view(t, t.shape, false);
    this.saved.push(v);
    return v;
  }

  release(): void {
    for (const t of this.saved) t.dispose();
    this.saved.length = 0;
    this.nodes.length = 0;
  }
}

let current: Tape | null = null;
let paused = 0;

export function recordingTape(): Tape | null {
  return paused > 0 ? null : current;
}

/**
 * Called by every op after its forward: records a node when some input needs a gradient.
 * `backward` receives the output gradients (zeros where an output was unused) and returns one
 * gradient per input (null for inputs without one, e.g. indices); `needed[j]` says whether input j
 * wants one, so costly gradients (a conv's input gradient on the image) can be skipped.
 */
export function record(op: string, inputs: readonly Tensor[], outputs: readonly Tensor[], backward: (tape: Tape) => BackwardFn): void {
  const tape = recordingTape();
  if (!tape || !inputs.some((t) => tape.needsGrad(t))) return;
  for (const o of outputs) if (o.dtype === 'float32') o.tape = tape;
  tape.nodes.push({
    op,
    inputs,
    outputIds: outputs.map((o) => o.id),
    outputShapes: outputs.map((o) => o.shape),
    backward: backward(tape),
  });
}

/** Run `fn` without recording (the frozen teacher, optimiser updates, metrics). */
export function noGrad<T>(fn: () => T): T {
  paused++;
  try {
    const r = fn();
    if (r instanceof Promise) return r.finally(() => paused--) as T;
    paused--;
    return r;
  } catch (e) {
    paused--;
    throw e;
  }
}

export interface ValueAndGrads {
  value: Tensor;
  grads: Tensor[];
}

/** A loss plus named side outputs (loss parts, logits) that should outlive the tape. */
export interface LossWithAux {
  loss: Tensor;
  aux: Record<string, Tensor>;
}

/**
 * Evaluate a scalar loss and its gradients with respect to `params`. Every intermediate is
 * disposed; `value` and `grads` belong to the caller. A parameter the loss does not depend on
 * gets a zero gradient. Gradients of a tensor used several times accumulate.
 */
export function valueAndGrads(fn: () => Tensor, params: readonly Tensor[]): ValueAndGrads {
  const tape = beginTape(params);
  try {
    return scope(() => finish(tape, fn(), params));
  } finally {
    endTape(tape, params);
  }
}

/**
 * The same for a loss computed asynchronously (a detector's forward reads proposals back from a
 * GPU), which may also return named side outputs that survive (`aux`). Only one tape records at
 * a time: do not run two of these concurrently.
 */
export async function valueAndGradsAsync(
  fn: () => Promise<Tensor | LossWithAux>,
  params: readonly Tensor[],
): Promise<ValueAndGrads & { aux: Record<string, Tensor> }> {
  const tape = beginTape(params);
  try {
    return await scope(async () => {
      const r = await fn();
      const { loss, aux } = r instanceof Tensor ? { loss: r, aux: {} } : r;
      return { ...finish(tape, loss, params), aux };
    });
  } finally {
    endTape(tape, params);
  }
}

function beginTape(params: readonly Tensor[]): Tape {
  check(current === null, 'valueAndGrads', () => 'nested or concurrent gradient tapes are not supported');
  const tape = new Tape();
  for (const p of params) {
    check(p.dtype === 'float32', 'valueAndGrads', () => `params: parameter #${p.id} is ${p.dtype}; only float32 tensors have gradients`);
    tape.watch(p);
  }
  current = tape;
  return tape;
}

function finish(tape: Tape, value: Tensor, params: readonly Tensor[]): ValueAndGrads {
  check(value instanceof Tensor, 'valueAndGrads', () => 'the loss function must return a Tensor');
  check(value.size === 1, 'valueAndGrads', () => `the loss must be a scalar, got shape ${fmtShape(value.shape)}`);
  current = null;
  return { value, grads: backward(tape, value, params) };
}

function endTape(tape: Tape, params: readonly Tensor[]): void {
  if (current === tape) current = null;
  tape.release();
  for (const p of params) if (p.tape === tape) p.tape = null;
}

/** JAX-style: grad(f)(...xs) returns df/dx for each argument. */
export function grad(fn: (...xs: Tensor[]) => Tensor): (...xs: Tensor[]) => Tensor[] {
  return (...xs) => {
    const { value, grads } = valueAndGrads(() => fn(...xs), xs);
    value.dispose();
    return grads;
  };
}

export function valueAndGrad(fn: (...xs: Tensor[]) => Tensor): (...xs: Tensor[]) => ValueAndGrads {
  return (...xs) => valueAndGrads(() => fn(...xs), xs);
}

/**
 * Reverse-mode sweep over the tape in reverse recording order (a topological order). Output
 * gradients are freed as soon as their node is done, so peak memory is the live frontier.
 */
function backward(tape: Tape, loss: Tensor, params: readonly Tensor[]): Tensor[] {
  const ops = opsForBackward();
  const grads = new Map<number, Tensor>();
  const held = () => new Set<Tensor>(grads.values());
  if (tape.needsGrad(loss)) grads.set(loss.id, ops.fill(loss.shape, 1, loss));
  noGradDepth(() => {
    for (let i = tape.nodes.length - 1; i >= 0; i--) {
      const node = tape.nodes[i]!;
      if (!node.outputIds.some((id) => grads.has(id))) continue;
      const dys = node.outputIds.map((id, j) => grads.get(id) ?? ops.fill(node.outputShapes[j]!, 0, loss));
      for (const id of node.outputIds) grads.delete(id);
      const dxs = node.backward(dys, node.inputs.map((x) => tape.needsGrad(x)));
      const pending = new Set<Tensor>();
      node.inputs.forEach((x, j) => {
        const dx = dxs[j];
        if (!dx) return;
        if (!tape.needsGrad(x)) {
          pending.add(dx);
          return;
        }
        if (dx.shape.length !== x.shape.length || dx.shape.some((d, k) => d !== x.shape[k])) {
          fail(node.op, `backward produced a gradient of shape ${fmtShape(dx.shape)} for input ${j} of shape ${fmtShape(x.shape)}`);
        }
        const prev = grads.get(x.id);
        if (prev) {
          grads.set(x.id, ops.add(prev, dx));
          pending.add(prev);
          pending.add(dx);
        } else {
          grads.set(x.id, dx);
        }
      });
      // Free what no gradient slot holds any more (a dx may be a dy passed through unchanged).
      const live = held();
      for (const t of [...dys, ...pending]) if (!live.has(t)) t.dispose();
    }
  });
  return params.map((p) => grads.get(p.id) ?? ops.fill(p.shape, 0, p));
}

function noGradDepth(fn: () => void): void {
  paused++;
  try {
    fn();
  } finally {
    paused--;
  }
}

/**
 * The sweep needs `full` and `add`; the ops import this module too, which ES modules allow
 * because neither side uses the other while loading.
 */
function opsForBackward(): { fill(shape: readonly number[], value: number, like: Tensor): Tensor; add(a: Tensor, b: Tensor): Tensor } {
  return { fill: (shape, value, like) => full(shape, value, { backend: like.backend }), add };
}

