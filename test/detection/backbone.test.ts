import { expect, it } from 'vitest';
import { setBackend, tensor } from '../../src/engine/index.js';
import { Rng } from '../../src/engine/random.js';
import { Backbone } from '../../src/detection/backbone.js';
import { createReferenceBackend } from '../../src/backends/reference/index.js';

it('Backbone.outputSize is the shape its forward gives, odd sizes floored at every pool', () => {
  setBackend(createReferenceBackend());
  const b = new Backbone({ inChannels: 3, stages: [[2], [2], [2], [4]] }, new Rng(1));
  const rng = new Rng(2);
  for (const [h, w] of [[37, 50], [16, 9], [8, 8]] as const) {
    const x = tensor(Float32Array.from({ length: 3 * h * w }, () => rng.uniform()), [1, 3, h, w]);
    const y = b.forward(x);
    expect([y.shape[2], y.shape[3]]).toEqual(b.outputSize(h, w));
    x.dispose();
    y.dispose();
  }
  expect(b.outputSize(37, 50)).toEqual([4, 6]);
  b.dispose();
});
