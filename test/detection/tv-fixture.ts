/**
 * Shared by the tests of torchvision's detection pieces (scripts/fixtures-tv-heads.py ->
 * test/fixtures/detection/{multiscale-roi-align,tv-rpn,tv-box-head}.json): loading, and the
 * named tensors the script did not store but generated (weights, feature maps, upstream
 * gradients), regenerated bit for bit by test/models/torchvision-weights.ts's `generate`.
 */
import { readFileSync } from 'node:fs';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { decode, type FixtureArray } from '../helpers/fixtures.js';
import { generate, relError, type GeneratedSpec } from '../models/torchvision-weights.js';

export function loadTvFixture<T>(file: string): T {
  return JSON.parse(readFileSync(new URL(`../fixtures/detection/${file}`, import.meta.url), 'utf8')) as T;
}

export const f32 = (a: FixtureArray): Float32Array => decode(a) as Float32Array;
export const i32 = (a: FixtureArray): Int32Array => decode(a) as Int32Array;

export const fromSpec = (s: GeneratedSpec, backend: Backend): Tensor => k.tensor(generate(s.name, s.shape, s.lo, s.hi), s.shape, { backend });

/** Feature maps specified as 'features.<level>', by level name, in order. */
export function featureMaps(specs: readonly GeneratedSpec[], backend: Backend): Map<string, Tensor> {
  return new Map(specs.map((s) => [s.name.slice('features.'.length), fromSpec(s, backend)]));
}

/** Generated weights by name, without `strip` in front (a module's own names). */
export function stateDict(specs: readonly GeneratedSpec[], strip: string, backend: Backend): Map<string, Tensor> {
  return new Map(specs.map((s) => [s.name.slice(strip.length), fromSpec(s, backend)]));
}

/** max |a − b| / max |b| (0 for empty arrays), Infinity for arrays of different lengths. */
export function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  return actual.length !== expected.length ? Infinity : relError(actual, expected);
}
