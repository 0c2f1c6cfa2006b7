import { describe, expect, it } from 'vitest';
import { assertClose, assertEqualArrays } from '../helpers/assert.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { decode, type FixtureCase, loadFixtureFamilies } from '../helpers/fixtures.js';
import { evaluate, type GradInput } from '../helpers/gradcheck.js';
import { FIXTURE_OPS } from './fixture-ops.js';

/**
 * Replays every PyTorch golden case (test/fixtures/ops, from scripts/make_fixtures.py) on every
 * backend under test: the forward output and the gradients of sum(y · dy) for the fixture's random
 * dy. The fixtures are float64 evaluations of float32 inputs, so the float64 reference backend is
 * held to 1e-5 and float32 backends to 1e-4 (relative, with a floor of rtol × the tensor's largest
 * magnitude, see assertClose). A case may carry a looser rtol with its reason (`why`).
 */
const REFERENCE_RTOL = 1e-5;
const FLOAT32_RTOL = 1e-4;

const families = loadFixtureFamilies();
const loaded = await loadBackendsUnderTest();

/** Every engine op that has a PyTorch counterpart; each must have at least one golden case. */
const ENGINE_OPS = [
  'neg', 'exp', 'log', 'sqrt', 'abs', 'relu', 'sigmoid', 'tanh', 'square', 'reciprocal', 'sign', 'clamp',
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum',
  'greater', 'greaterEqual', 'less', 'lessEqual', 'equal', 'notEqual', 'where',
  'sum', 'mean', 'max', 'min', 'argmax', 'argmin',
  'reshape', 'flatten', 'unsqueeze', 'squeeze', 'transpose', 'slice', 'pad', 'concat', 'stack', 'gather', 'scatterAdd',
  'broadcastTo', 'stopGradient', 'cast', 'oneHot',
  'matmul', 'linear', 'conv2d', 'maxPool2d',
  'softmax', 'logSoftmax', 'crossEntropy', 'smoothL1', 'mse',
  'roiAlign', 'roiPool', 'boxIou', 'nms',
];

describe('PyTorch fixtures', () => {
  it('cover every engine op, and every fixture op maps to an engine call', () => {
    const inFixtures = new Set(families.flatMap((f) => f.cases.map((c) => c.op)));
    expect(ENGINE_OPS.filter((op) => !inFixtures.has(op))).toEqual([]);
    expect([...inFixtures].filter((op) => !(op in FIXTURE_OPS))).toEqual([]);
  });
});

async function replay(backend: Parameters<typeof evaluate>[0], c: FixtureCase, rtol: number): Promise<void> {
  const inputs: GradInput[] = c.inputs.map((inp) => ({ data: decode(inp), shape: inp.shape, dtype: inp.dtype, grad: inp.grad }));
  const op = FIXTURE_OPS[c.op];
  if (!op) throw new Error(`no engine mapping for fixture op '${c.op}'`);
  const dy = c.dy ? decode(c.dy) : null;
  const result = await evaluate(backend, (...xs) => op(xs, c.params), inputs, () => {
    if (!dy) throw new Error(`${c.name}: fixture has no dy`);
    return dy;
  });
  const expected = decode(c.output);
  expect(result.output.dtype).toBe(c.output.dtype);
  expect([...result.output.shape]).toEqual(c.output.shape);
  if (c.output.dtype === 'int32') assertEqualArrays(result.output.data, expected, 'output');
  else assertClose(result.output.data, expected, { rtol, what: 'output', shape: c.output.shape });
  c.inputs.forEach((inp, i) => {
    if (!inp.grad) return;
    const want = c.grads?.[inp.name];
    if (!want) throw new Error(`${c.name}: fixture lacks the gradient of ${inp.name}`);
    const got = result.grads[i];
    if (!got) throw new Error(`engine produced no gradient for ${inp.name}`);
    assertClose(got, decode(want), { rtol, what: `gradient of ${inp.name}`, shape: want.shape });
  });
}

describeEachBackend(loaded, (backend, name) => {
  const base = name === 'reference' ? REFERENCE_RTOL : FLOAT32_RTOL;
  for (const fam of families) {
    describe(fam.family, () => {
      for (const c of fam.cases) {
        const rtol = Math.max(base, c.rtol ?? 0);
        const label = c.rtol ? `${c.name} (rtol ${c.rtol}: ${c.why})` : c.name;
        it(label, () => replay(backend, c, rtol));
      }
    });
  }
});
