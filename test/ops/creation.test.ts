import { expect, it } from 'vitest';
import * as k from '../../src/engine/index.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';

/** The creation ops (no PyTorch fixture needed: their values are given), on every backend. */
const loaded = await loadBackendsUnderTest();

describeEachBackend(loaded, (backend) => {
  const read = async (t: k.Tensor) => {
    const v = Array.from(await t.data());
    t.dispose();
    return v;
  };

  it('tensor: nested arrays infer the shape; typed arrays keep their dtype', async () => {
    k.setBackend(backend);
    const t = k.tensor([[1.5, -2], [3, 4.25], [5, 6]]);
    expect(t.shape).toEqual([3, 2]);
    expect(t.dtype).toBe('float32');
    expect(await read(t)).toEqual([1.5, -2, 3, 4.25, 5, 6]);
    const i = k.tensor(Int32Array.from([7, -1]), [2, 1]);
    expect(i.dtype).toBe('int32');
    expect(await read(i)).toEqual([7, -1]);
    expect(() => k.tensor([1, 2, 3], [2, 2])).toThrow(/kdet\.tensor: shape \[2, 2\] needs 4 values, got 3/);
  });

  it('full / zeros / ones / scalar / zerosLike / onesLike / arange', async () => {
    k.setBackend(backend);
    expect(await read(k.full([2, 2], -0.5))).toEqual([-0.5, -0.5, -0.5, -0.5]);
    expect(await read(k.zeros([3]))).toEqual([0, 0, 0]);
    expect(await read(k.ones([1, 2]))).toEqual([1, 1]);
    const s = k.scalar(2.5);
    expect(s.shape).toEqual([]);
    expect(await s.itemAsync()).toBe(2.5);
    const like = k.tensor(Int32Array.from([1, 2, 3]), [3]);
    const z = k.zerosLike(like);
    const o = k.onesLike(like);
    expect([z.dtype, o.dtype]).toEqual(['int32', 'int32']);
    expect([await read(z), await read(o)]).toEqual([[0, 0, 0], [1, 1, 1]]);
    const r = k.arange(4);
    expect(r.dtype).toBe('int32');
    expect(await read(r)).toEqual([0, 1, 2, 3]);
    expect(await read(k.arange(3, { dtype: 'float32' }))).toEqual([0, 1, 2]);
    expect(() => k.full([2, -1], 0)).toThrow(/kdet\.full: shape: invalid shape \[2, -1\]/);
    k.dispose([s, like]);
  });

  it('empty tensors flow through ops', async () => {
    k.setBackend(backend);
    const e = k.zeros([0, 3]);
    const y = k.exp(e);
    expect(y.shape).toEqual([0, 3]);
    expect(await read(k.sum(e, 0))).toEqual([0, 0, 0]);
    k.dispose([e, y]);
  });
});
