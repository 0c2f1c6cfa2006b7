import { expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { assertClose } from '../helpers/assert.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { randn, Rng } from '../helpers/random.js';

/**
 * Memory discipline on every backend: scopes free what they do not return, a training step frees
 * everything but the loss and the gradients, and the tape's bookkeeping (accumulation, noGrad)
 * holds. Byte counts come from the backend (Backend.memory), tensor counts from the engine.
 */
const loaded = await loadBackendsUnderTest();

describeEachBackend(loaded, (backend) => {
  const rng = new Rng('memory');
  const t = (shape: number[], scale = 1) =>
    k.tensor(Float32Array.from(randn(rng, shape.reduce((p, d) => p * d, 1), scale)), shape, { backend });
  const stats = () => k.memoryStats(backend);
  const bytesOf = (...ts: Tensor[]) => ts.reduce((s, x) => s + x.size * 4, 0);
  const values = async (x: Tensor) => Array.from(await x.data());

  it('scope frees every intermediate and hands the result to the caller', async () => {
    k.setBackend(backend);
    const x = t([4, 5]);
    const before = stats();
    const y = k.scope(() => k.sum(k.mul(k.exp(x), k.tanh(x)), 1));
    await backend.sync();
    expect(stats()).toEqual({ tensors: before.tensors + 1, bytes: before.bytes + bytesOf(y), buffers: before.buffers + 1 });
    k.dispose([x, y]);
    expect(stats().tensors).toBe(before.tensors - 1);
  });

  it('keep() survives its scope; nested scopes pass results outward; a throwing scope still frees', () => {
    k.setBackend(backend);
    const before = stats();
    let kept: Tensor | null = null;
    const outer = k.scope(() => {
      const inner = k.scope(() => {
        kept = k.keep(k.neg(t([3])));
        return { y: k.exp(t([2])) };
      });
      return [inner.y, k.square(inner.y)];
    });
    expect(stats().tensors).toBe(before.tensors + 3);
    expect(() => k.scope(() => {
      k.exp(t([100]));
      throw new Error('boom');
    })).toThrow('boom');
    expect(stats().tensors).toBe(before.tensors + 3);
    k.dispose([outer, kept]);
    expect(stats()).toEqual(before);
  });

  it('valueAndGrads of a small conv net loss leaks nothing, step after step', async () => {
    k.setBackend(backend);
    const params = [t([4, 2, 3, 3], 0.4), t([4], 0.1), t([3, 4 * 3 * 3], 0.2), t([3], 0.1)];
    const x = t([2, 2, 6, 6]);
    const labels = k.tensor(Int32Array.from([2, 0]), [2], { dtype: 'int32', backend });
    const loss = () => {
      const h = k.maxPool2d(k.relu(k.conv2d(x, params[0]!, params[1]!, { padding: 1 })), 2);
      return k.crossEntropy(k.linear(k.flatten(h, 1), params[2]!, params[3]!), labels);
    };
    const before = stats();
    for (let step = 0; step < 3; step++) {
      const { value, grads } = k.valueAndGrads(loss, params);
      expect(Number.isFinite(await value.itemAsync())).toBe(true);
      expect(grads.map((g) => g.shape)).toEqual(params.map((p) => p.shape));
      k.dispose([value, grads]);
      await backend.sync();
      expect(stats(), `after step ${step}`).toEqual(before);
    }
    k.dispose([params, x, labels]);
  });

  it('gradients of a tensor used several times accumulate', async () => {
    k.setBackend(backend);
    const x = t([5]);
    const w = t([5]);
    // f = Σ x·x + Σ x·w + Σ x  ⇒  df/dx = 2x + w + 1, df/dw = x.
    const { value, grads } = k.valueAndGrads(() => k.add(k.add(k.sum(k.mul(x, x)), k.sum(k.mul(x, w))), k.sum(x)), [x, w]);
    const xs = await values(x);
    const ws = await values(w);
    assertClose(await values(grads[0]!), xs.map((v, i) => 2 * v + ws[i]! + 1), { rtol: 1e-5, what: 'df/dx' });
    assertClose(await values(grads[1]!), xs, { rtol: 1e-5, what: 'df/dw' });
    // The same tensor passed twice as one op's two inputs.
    const twice = k.valueAndGrads(() => k.sum(k.add(x, x)), [x]);
    assertClose(await values(twice.grads[0]!), xs.map(() => 2), { rtol: 1e-6, what: 'd(x+x)/dx' });
    k.dispose([value, grads, twice, x, w]);
  });

  it('a parameter the loss ignores gets a zero gradient', async () => {
    k.setBackend(backend);
    const x = t([3]);
    const unused = t([2, 2]);
    const { value, grads } = k.valueAndGrads(() => k.sum(k.exp(x)), [x, unused]);
    expect(await values(grads[1]!)).toEqual([0, 0, 0, 0]);
    k.dispose([value, grads, x, unused]);
  });

  it('noGrad records nothing: no tape on its outputs, no gradient through it', async () => {
    k.setBackend(backend);
    const x = t([4]);
    const before = stats();
    const { value, grads } = k.valueAndGrads(() => {
      const frozen = k.noGrad(() => k.square(x));
      expect(frozen.tape).toBeNull();
      // d/dx [Σ x³ (frozen x² treated as a constant) ] = x², not 3x².
      return k.sum(k.mul(frozen, x));
    }, [x]);
    const xs = await values(x);
    assertClose(await values(grads[0]!), xs.map((v) => v * v), { rtol: 1e-5, what: 'gradient through noGrad' });
    k.dispose([value, grads]);
    await backend.sync();
    expect(stats()).toEqual(before);
    // Outside any tape nothing is recorded either.
    const y = k.exp(x);
    expect(y.tape).toBeNull();
    k.dispose([x, y]);
  });

  it('stopGradient passes values but no gradient', async () => {
    k.setBackend(backend);
    const x = t([4]);
    // d/dx Σ stop(x)·x = stop(x) = x (the stopped factor is a constant).
    const { value, grads } = k.valueAndGrads(() => k.sum(k.mul(k.stopGradient(x), x)), [x]);
    const xs = await values(x);
    assertClose(await values(grads[0]!), xs, { rtol: 1e-5, what: 'gradient through stopGradient' });
    k.dispose([value, grads, x]);
  });

  it('a reshape shares storage: freeing one view keeps the buffer for the other', async () => {
    k.setBackend(backend);
    const before = stats();
    const x = t([2, 3]);
    const v = k.reshape(x, [3, 2]);
    expect(stats().buffers).toBe(before.buffers + 1);
    x.dispose();
    expect((await values(v)).length).toBe(6);
    v.dispose();
    expect(stats()).toEqual(before);
  });

  it('freeing a buffer twice is an error, not silent corruption', () => {
    if (!isReference(backend)) return;
    const buf = backend.upload(Float32Array.from([1, 2]));
    backend.free(buf);
    expect(() => backend.free(buf)).toThrow(/already freed/);
    expect(() => backend.free({})).toThrow(/not a reference-backend buffer/);
  });
});

function isReference(b: Backend): boolean {
  return b.name === 'reference';
}
