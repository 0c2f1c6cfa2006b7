import { expect, it } from 'vitest';
import { setBackend, tensor } from '../../src/engine/index.js';
import { Rng } from '../../src/engine/random.js';
import { Backbone } from '../../src/detection/backbone.js';
import { Linear } from '../../src/nn/layers.js';
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

it('Backbone.flops and Linear.flops count 2 FLOPs per multiply-add, by hand', () => {
  setBackend(createReferenceBackend());
  // 3→2 then pool, 2→4: 2·(3·2·9)·(10·7) + 2·(2·4·9)·(5·3) on a 10 × 7 image (pools floor 7 → 3).
  const b = new Backbone({ inChannels: 3, stages: [[2], [4]] }, new Rng(1));
  expect(b.flops(10, 7)).toBe(2 * 3 * 2 * 9 * 10 * 7 + 2 * 2 * 4 * 9 * 5 * 3);
  b.dispose();
  const fc = new Linear(5, 3, new Rng(2));
  expect(fc.flops(7)).toBe(2 * 7 * 5 * 3);
  fc.dispose();
});
