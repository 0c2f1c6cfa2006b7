import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { compareWithReference, gradcheck } from '../helpers/gradcheck.js';
import { Rng } from '../helpers/random.js';
import { OP_CASES } from './op-cases.js';

/**
 * 1. Every op's analytic gradient against central finite differences, in float64 on the reference
 *    backend (tolerance 1e-6 relative to max(1, |gradient|)).
 * 2. Every other backend under test against the reference: forward values and gradients for the
 *    same float32 inputs and upstream gradient, within 1e-4 unless a case says why not.
 */
/** Every differentiable engine op; each must be called somewhere in op-cases.ts. */
const DIFFERENTIABLE_OPS = [
  'neg', 'exp', 'log', 'sqrt', 'abs', 'relu', 'sigmoid', 'tanh', 'square', 'reciprocal', 'clamp', 'cast',
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'where',
  'sum', 'mean', 'max', 'min', 'softmax', 'logSoftmax',
  'reshape', 'flatten', 'unsqueeze', 'squeeze', 'transpose', 'slice', 'pad', 'concat', 'stack', 'gather', 'scatterAdd', 'broadcastTo',
  'matmul', 'linear', 'conv2d', 'maxPool2d', 'crossEntropy', 'smoothL1', 'mse', 'roiAlign', 'roiPool',
];

it('the gradient checks call every differentiable op', () => {
  const source = readFileSync(new URL('./op-cases.ts', import.meta.url), 'utf8');
  expect(DIFFERENTIABLE_OPS.filter((op) => !source.includes(`k.${op}(`))).toEqual([]);
});

describe('finite differences on the reference backend (float64)', () => {
  for (const c of OP_CASES) {
    it(c.name, () => gradcheck(c.name, c.fn, c.inputs(new Rng(`fd ${c.name}`))));
  }
});

const loaded = await loadBackendsUnderTest({ exclude: ['reference'] });

describe('analytic gradients agree with the reference backend', () => {
  if (loaded.length === 0) it.skip('no backend other than the reference is under test (KDET_TEST_BACKENDS)', () => {});
  describeEachBackend(loaded, (backend) => {
    for (const c of OP_CASES) {
      const label = c.rtol ? `${c.name} (rtol ${c.rtol}: ${c.why})` : c.name;
      it(label, () => compareWithReference(c.name, c.fn, c.inputs(new Rng(`cmp ${c.name}`)), backend, { rtol: c.rtol }));
    }
  });
});
