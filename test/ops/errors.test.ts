import { expect, it } from 'vitest';
import * as k from '../../src/engine/index.js';
import { KdetError } from '../../src/engine/index.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { randn, Rng } from '../helpers/random.js';

/**
 * Bad input must fail loudly with a KdetError that names the op, the argument and the shapes,
 * never compute garbage. Checks that need a synchronous read (index ranges, roi batch indices) are
 * asserted only where the backend can read synchronously: on WebGPU the engine cannot see the data.
 */
const loaded = await loadBackendsUnderTest();

/** Expect `fn` to throw a KdetError whose message contains every fragment. */
function expectKdetError(fn: () => unknown, ...fragments: (string | RegExp)[]): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected a KdetError').toBeInstanceOf(KdetError);
  const msg = (thrown as Error).message;
  for (const f of fragments) expect(msg).toMatch(typeof f === 'string' ? new RegExp(escape(f)) : f);
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describeEachBackend(loaded, (backend) => {
  const rng = new Rng('errors');
  const t = (shape: number[]) => k.tensor(Float32Array.from(randn(rng, shape.reduce((p, d) => p * d, 1))), shape, { backend });
  const idx = (values: number[]) => k.tensor(Int32Array.from(values), [values.length], { dtype: 'int32', backend });
  const run = (fn: () => void | Promise<void>) => () => {
    k.setBackend(backend);
    return k.scope(fn);
  };

  it('add: shapes that do not broadcast', run(() => {
    expectKdetError(() => k.add(t([2, 3]), t([4])), 'kdet.add', '[2, 3]', '[4]', 'cannot be broadcast');
  }));

  it('matmul: inner dimensions and batch shapes', run(() => {
    expectKdetError(() => k.matmul(t([2, 3]), t([4, 5])), 'kdet.matmul', '[2, 3]', '[4, 5]', 'inner dimensions');
    expectKdetError(() => k.matmul(t([2, 3, 4]), t([3, 4, 5])), 'kdet.matmul', 'batch shapes', '[2]', '[3]');
    expectKdetError(() => k.matmul(t([3]), t([3, 2])), 'kdet.matmul', 'rank ≥ 2', '[3]');
  }));

  it('conv2d: channels, rank, groups, kernel larger than the input', run(() => {
    expectKdetError(() => k.conv2d(t([1, 3, 5, 5]), t([4, 2, 3, 3])), 'kdet.conv2d', '[4, 2, 3, 3]', '[1, 3, 5, 5]', 'input channels');
    expectKdetError(() => k.conv2d(t([3, 5, 5]), t([4, 3, 3, 3])), 'kdet.conv2d', 'input', 'rank 4', '[3, 5, 5]');
    expectKdetError(() => k.conv2d(t([1, 4, 5, 5]), t([3, 2, 3, 3]), null, { groups: 2 }), 'kdet.conv2d', 'groups 2', 'output channels 3');
    expectKdetError(() => k.conv2d(t([1, 1, 2, 2]), t([1, 1, 3, 3])), 'kdet.conv2d', 'does not fit', '[1, 1, 2, 2]');
    expectKdetError(() => k.conv2d(t([1, 1, 4, 4]), t([2, 1, 3, 3]), t([3])), 'kdet.conv2d', 'bias', '[3]');
    expectKdetError(() => k.conv2d(t([1, 1, 4, 4]), t([1, 1, 3, 3]), null, { stride: 0 }), 'kdet.conv2d', 'stride');
  }));

  it('maxPool2d: kernel larger than the input, padding over half the kernel', run(() => {
    expectKdetError(() => k.maxPool2d(t([1, 1, 2, 2]), 3), 'kdet.maxPool2d', '[1, 1, 2, 2]');
    expectKdetError(() => k.maxPool2d(t([1, 1, 6, 6]), 2, { padding: 2 }), 'kdet.maxPool2d', 'padding');
  }));

  it('wrong dtype names the op, the argument and the dtypes', run(() => {
    const labels = idx([0, 1]);
    expectKdetError(() => k.exp(labels), 'kdet.exp', 'x', 'float32', 'int32', '[2]');
    expectKdetError(() => k.matmul(t([2, 2]), k.reshape(idx([1, 2, 3, 4]), [2, 2])), 'kdet.matmul', 'b', 'int32');
    expectKdetError(() => k.gather(t([3, 2]), t([2])), 'kdet.gather', 'indices', 'int32', 'float32');
    expectKdetError(() => k.oneHot(t([2]), 3), 'kdet.oneHot', 'labels', 'int32');
    expectKdetError(() => k.valueAndGrads(() => k.sum(t([2])), [labels]), 'kdet.valueAndGrads', 'int32', 'only float32');
  }));

  it('a disposed tensor cannot be used again', run(async () => {
    const x = t([2, 3]);
    x.dispose();
    expectKdetError(() => k.exp(x), 'used after dispose', '[2, 3]');
    expectKdetError(() => k.add(t([2, 3]), x), 'used after dispose', '[2, 3]');
    await expect(x.data()).rejects.toThrow(/used after dispose/);
  }));

  it('reshape, slice, pad, concat, transpose: impossible layouts', run(() => {
    expectKdetError(() => k.reshape(t([2, 3]), [4, 2]), 'kdet.reshape', '[2, 3]', '[4, 2]');
    expectKdetError(() => k.slice(t([2, 3]), [1, 2], [2, 1]), 'kdet.slice', 'axis 0', '[2, 3]');
    expectKdetError(() => k.pad(t([2, 3]), [-1, 0], [0, 0]), 'kdet.pad', 'non-negative');
    expectKdetError(() => k.concat([t([2, 3]), t([2, 4])], 0), 'kdet.concat', '[2, 4]', '[2, 3]', 'axis 0');
    expectKdetError(() => k.transpose(t([2, 3]), [0, 0]), 'kdet.transpose', 'permutation');
    expectKdetError(() => k.sum(t([2, 3]), 2), 'kdet.sum', 'axis 2', 'rank 2');
  }));

  it('gather / scatterAdd: out-of-range indices', run(() => {
    if (!backend.canReadSync) return;
    expectKdetError(() => k.gather(t([3, 2]), idx([0, 7])), 'kdet.gather', 'indices[1] = 7', 'out of range', '[3, 2]');
    expectKdetError(() => k.gather(t([3, 2]), idx([-1]), 1), 'kdet.gather', 'indices[0] = -1');
    expectKdetError(() => k.scatterAdd(t([2, 2]), idx([0, 4]), 4), 'kdet.scatterAdd', 'indices[1] = 4', 'size 4');
    expectKdetError(() => k.scatterAdd(t([3, 2]), idx([0, 1]), 4), 'kdet.scatterAdd', 'has 3 entries', 'indices has 2');
  }));

  it('roiAlign / roiPool: bad batch index, bad roi shape, non-finite coordinates', run(() => {
    const x = t([2, 1, 4, 4]);
    const rois = (row: number[]) => k.tensor(Float32Array.from(row), [row.length / 5, 5], { backend });
    expectKdetError(() => k.roiAlign(x, k.tensor(Float32Array.from([0, 0, 0, 1]), [1, 4], { backend }), { outputSize: 2 }),
      'kdet.roiAlign', 'rois', '[K, 5]', '[1, 4]');
    if (!backend.canReadSync) return;
    expectKdetError(() => k.roiAlign(x, rois([2, 0, 0, 3, 3]), { outputSize: 2 }), 'kdet.roiAlign', 'rois[0]', 'batch index 2', '[0, 2)');
    expectKdetError(() => k.roiPool(x, rois([0, 0, 0, 3, 3, 0.5, 0, 0, 3, 3]), { outputSize: 2 }), 'kdet.roiPool', 'rois[1]', 'batch index 0.5');
    expectKdetError(() => k.roiAlign(x, rois([0, 0, NaN, 3, 3]), { outputSize: 2 }), 'kdet.roiAlign', 'rois[0]', 'non-finite');
    expectKdetError(() => k.roiPool(x, rois([0, 0, 0, Infinity, 3]), { outputSize: 2 }), 'kdet.roiPool', 'non-finite');
    expectKdetError(() => k.roiAlign(x, rois([0, 0, 0, 3, 3]), { outputSize: 0 }), 'kdet.roiAlign', 'outputSize');
  }));

  it('losses: shape mismatches and labels that are not classes', run(() => {
    expectKdetError(() => k.crossEntropy(t([3, 4]), idx([0, 1])), 'kdet.crossEntropy', 'target', '[3]', '[2]');
    expectKdetError(() => k.crossEntropy(t([3, 4]), t([3, 5])), 'kdet.crossEntropy', 'soft targets', '[3, 4]', '[3, 5]');
    expectKdetError(() => k.crossEntropy(t([2, 4]), idx([0, 1]), { weight: t([3]) }), 'kdet.crossEntropy', 'weight', '[4]', '[3]');
    if (backend.canReadSync) {
      expectKdetError(() => k.crossEntropy(t([2, 4]), idx([0, 4])), 'kdet.crossEntropy', 'target[1] = 4', '[0, 4)');
    }
    expectKdetError(() => k.smoothL1(t([2, 3]), t([3, 2])), 'kdet.smoothL1', '[2, 3]', '[3, 2]');
    expectKdetError(() => k.smoothL1(t([2]), t([2]), { beta: -1 }), 'kdet.smoothL1', 'beta');
    expectKdetError(() => k.mse(t([2, 3]), t([2])), 'kdet.mse', '[2, 3]', '[2]');
  }));

  it('valueAndGrads: the loss must be a scalar tensor; tapes do not nest', run(() => {
    const x = t([2, 2]);
    expectKdetError(() => k.valueAndGrads(() => k.exp(x), [x]), 'kdet.valueAndGrads', 'scalar', '[2, 2]');
    expectKdetError(() => k.valueAndGrads(() => k.valueAndGrads(() => k.sum(x), [x]).value, [x]), 'kdet.valueAndGrads', 'nested');
  }));

  it('boxIou / nms: box shapes', run(() => {
    expectKdetError(() => k.boxIou(t([2, 4]), t([2, 3])), 'kdet.boxIou', 'b', '[N, 4]', '[2, 3]');
    return expect(k.nms(t([3, 4]), t([2]), 0.5)).rejects.toThrow(/kdet\.nms: scores: expected \[3\], got \[2\]/);
  }));

  /**
   * The engine has no global NaN-loss check (the trainer checks the loss value); what the ops must
   * guarantee is that a NaN is never silently replaced by a number on its way to the loss and the
   * gradients, as PyTorch propagates it through relu, max, max-pool, softmax and cross-entropy.
   */
  it('a NaN input propagates to the loss and the gradients (never silently dropped)', run(async () => {
    const x = k.tensor(Float32Array.from([0.5, NaN, -1, 2, 0.25, -0.5, 1, 3]), [1, 2, 2, 2], { backend });
    const { value, grads } = k.valueAndGrads(() => {
      const h = k.maxPool2d(k.relu(x), 2);
      return k.crossEntropy(k.reshape(h, [1, 2]), idx([0]));
    }, [x]);
    expect(await value.itemAsync()).toBeNaN();
    expect(Array.from(await grads[0]!.data()).some(Number.isNaN)).toBe(true);
    expect(await k.max(x).itemAsync()).toBeNaN();
    expect(Array.from(await k.softmax(k.reshape(x, [2, 4])).data()).slice(0, 4).every(Number.isNaN)).toBe(true);
    expect(await k.mse(x, k.zerosLike(x)).itemAsync()).toBeNaN();
  }));
});
