/**
 * Shared by the torchvision backbone tests (scripts/fixtures-torchvision-backbones.py): the
 * fixture's shape, the by-name weight generator it shares with the script, and the checks every
 * model test runs (names, freezing, eval parity per level, train-mode gradients).
 *
 * The weights are not stored (ResNet-18 + FPN alone is 56 MB of float32): each tensor is a pure
 * function of its torchvision name and a stored range, computed bit for bit as the script does
 * (FNV-1a seed, murmur3 fmix32 over a Weyl sequence, 24-bit uniform, one rounding to float32),
 * and each tensor's stored float64 sum proves that the two generators agree.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import type { Tensor } from '../../src/engine/tensor.js';
import type { Module } from '../../src/nn/module.js';
import { decode, type FixtureArray } from '../helpers/fixtures.js';

export interface GeneratedSpec {
  name: string;
  shape: number[];
  lo: number;
  hi: number;
  /** float64 sum of the float32 values (weights only). */
  sum?: number;
}

export interface EvalCase {
  norms: ('batch' | 'frozen')[];
  eps: number;
  body: Record<string, FixtureArray>;
  fpn: Record<string, FixtureArray>;
}

export interface TrainCase {
  norm: 'batch' | 'frozen';
  trainable_layers: number;
  loss: number;
  /** Σ |out · dy|: the loss sums terms of both signs, so its error is measured against this. */
  loss_abs: number;
  dy: GeneratedSpec[];
  /** float64 gradients, with the relative error of torch's own float32 run on each. */
  grads: Record<string, { norm: number; f32_norm_err: number; data?: FixtureArray; f32_data_err?: number }>;
}

export interface BackboneFixture {
  torch: string;
  torchvision: string;
  arch: string;
  /** state_dict keys and shapes of BackboneWithFPN, per norm build. */
  names: Record<'batch' | 'frozen', [string, number[]][]>;
  /** Per norm build and trainable_layers value: the names with requires_grad. */
  trainable: Record<'batch' | 'frozen', Record<string, string[]>>;
  input: GeneratedSpec;
  tensors: GeneratedSpec[];
  eval: EvalCase[];
  train: TrainCase[];
  stage_indices?: number[];
  return_layers?: Record<string, string>;
}

export function loadBackboneFixture(file: string): BackboneFixture {
  return JSON.parse(readFileSync(new URL(`../fixtures/models/${file}`, import.meta.url), 'utf8')) as BackboneFixture;
}

const encoder = new TextEncoder();

/** The named tensor's values: the script's `generate`, bit for bit. */
export function generate(name: string, shape: readonly number[], lo: number, hi: number): Float32Array {
  let seed = 0x811c9dc5;
  for (const b of encoder.encode(name)) seed = Math.imul(seed ^ b, 0x01000193) >>> 0;
  const n = shape.reduce((p, d) => p * d, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let h = (seed + Math.imul(i, 0x9e3779b9)) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    out[i] = lo + (hi - lo) * ((h >>> 8) / 16777216);
  }
  return out;
}

export const generated = (s: GeneratedSpec, backend: Backend): Tensor => k.tensor(generate(s.name, s.shape, s.lo, s.hi), s.shape, { backend });

/** Every stored tensor regenerated here sums to what the script's did. */
export function checkGenerator(fx: BackboneFixture): void {
  for (const s of fx.tensors) {
    const v = generate(s.name, s.shape, s.lo, s.hi);
    let sum = 0;
    let abs = 0;
    for (const x of v) {
      sum += x;
      abs += Math.abs(x);
    }
    expect(Math.abs(sum - s.sum!), s.name).toBeLessThanOrEqual(1e-9 * abs);
  }
}

/**
 * The fixture's weights as a state dict under torchvision's names (FasterRCNN's `backbone.`
 * prefix left out) for the given build; num_batches_tracked, not generated, is 0.
 */
export function fixtureStateDict(fx: BackboneFixture, norm: 'batch' | 'frozen', backend: Backend): Map<string, Tensor> {
  const specs = new Map(fx.tensors.map((s) => [s.name, s]));
  const out = new Map<string, Tensor>();
  for (const [name, shape] of fx.names[norm]) {
    if (name.endsWith('num_batches_tracked')) out.set(name, k.zeros(shape, { backend }));
    else out.set(name, generated(specs.get(name)!, backend));
  }
  return out;
}

/** max |a − b| / max |b| (the plain difference when b is all zeros): the parity measure every level is held to. */
export function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    // A NaN difference must fail, not vanish in Math.max.
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

export const namesAndShapes = (m: Module): [string, number[]][] => m.namedParameters().map(([n, p]) => [n, [...p.shape]]);

export const trainableNames = (m: Module): string[] => m.namedParameters().filter(([, p]) => p.trainable).map(([n]) => n);

/** Compares every map of `got` with the fixture's, by name and shape; returns the relative errors. */
export async function compareMaps(got: Map<string, Tensor>, want: Record<string, FixtureArray>, what: string, tol: number): Promise<Record<string, number>> {
  expect([...got.keys()], what).toEqual(Object.keys(want));
  const errs: Record<string, number> = {};
  for (const [name, t] of got) {
    expect([...t.shape], `${what} ${name}`).toEqual(want[name]!.shape);
    errs[name] = relError(await t.data(), decode(want[name]!));
    expect(errs[name], `${what} '${name}': max |Δ| / max |y|`).toBeLessThanOrEqual(tol);
  }
  return errs;
}

/**
 * A train-mode forward and backward of L = Σ_levels Σ out · dy with respect to every trainable
 * parameter: the trainable set is torchvision's requires_grad set, every gradient is finite, and
 * its norm (and, for 1-D parameters, every element, as max |Δ| / max |g|) agrees with
 * torchvision's float64 gradient within `tol`, or within 10× the error of torch's own float32 run
 * where that is larger. That allowance is for the ill-conditioned ones: training-mode batch norm
 * on a 2×2 map (ResNet's torch float32 is off by up to 1e-2 there), and biases whose gradient is
 * exactly zero in exact arithmetic (linear layers into a training-mode BatchNorm2d, whose batch
 * mean removes any per-channel constant), where every float32 result is rounding noise.
 * Returns the worst error as a fraction of what was allowed, how many allowances were loosened,
 * and the worst error among those held to `tol`.
 */
export async function checkTrainGradients(
  model: Module & { forward(x: Tensor): Map<string, Tensor> },
  x: Tensor,
  c: TrainCase,
  backend: Backend,
  tol: number,
): Promise<{ worst: number; worstName: string; loosened: number; worstStrict: number; worstStrictName: string }> {
  const named = model.namedParameters().filter(([, p]) => p.trainable);
  expect(named.map(([n]) => n)).toEqual(Object.keys(c.grads));
  const dys = c.dy.map((s) => generated(s, backend));
  model.train();
  const { value, grads } = k.valueAndGrads(() => {
    const out = model.forward(x);
    expect([...out.keys()]).toEqual(c.dy.map((s) => s.name.slice(3)));
    return k.scope(() => [...out.values()].map((t, i) => k.sum(k.mul(t, dys[i]!))).reduce((a, b) => k.add(a, b)));
  }, named.map(([, p]) => p.value));
  model.eval();
  const loss = (await value.data())[0]!;
  const lossErr = Math.abs(loss - c.loss) / c.loss_abs;
  expect(lossErr, 'loss').toBeLessThanOrEqual(tol);
  let worst = lossErr / tol;
  let worstName = 'loss';
  let loosened = 0;
  let worstStrict = lossErr;
  let worstStrictName = 'loss';
  const note = (err: number, allowed: number, what: string) => {
    expect(err, `${what} (allowed ${allowed.toExponential(1)})`).toBeLessThanOrEqual(allowed);
    if (allowed > tol) loosened++;
    else if (err > worstStrict) [worstStrict, worstStrictName] = [err, what];
    if (err / allowed > worst) [worst, worstName] = [err / allowed, what];
  };
  for (let i = 0; i < named.length; i++) {
    const [name] = named[i]!;
    const g = Float64Array.from(await grads[i]!.data());
    const want = c.grads[name]!;
    let sq = 0;
    let nonFinite = 0;
    for (const v of g) {
      if (!Number.isFinite(v)) nonFinite++;
      sq += v * v;
    }
    expect(nonFinite, `non-finite elements in the gradient of ${name}`).toBe(0);
    note(Math.abs(Math.sqrt(sq) - want.norm) / want.norm, Math.max(tol, 10 * want.f32_norm_err), `|grad ${name}|`);
    if (want.data) note(relError(g, decode(want.data)), Math.max(tol, 10 * want.f32_data_err!), `grad ${name}`);
  }
  k.dispose([value, ...grads, ...dys]);
  return { worst, worstName, loosened, worstStrict, worstStrictName };
}

/** One line of measured parity per case when KDET_PARITY_LOG=1 (the numbers quoted in reviews). */
export function logParity(line: string): void {
  if (process.env.KDET_PARITY_LOG === '1') process.stdout.write(`${line}\n`);
}
