import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/engine/random.js';
import { AnchorGenerator } from '../../src/detection/anchors.js';
import { BoxCoder } from '../../src/detection/box-coder.js';
import { iouMatrix, topK } from '../../src/detection/boxes.js';
import { match } from '../../src/detection/matcher.js';
import { sampleBalanced } from '../../src/detection/sampler.js';

// Written by torchvision 0.14: scripts/fixtures-detection.py.
const fx = JSON.parse(readFileSync(new URL('../fixtures/detection/parts.json', import.meta.url), 'utf8'));

function expectClose(actual: ArrayLike<number>, expected: number[], rtol = 1e-5, atol = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) throw new Error(`element ${i}: ${a} vs ${e}`);
  }
}

describe('AnchorGenerator', () => {
  it('matches torchvision anchors and order', () => {
    const a = fx.anchors;
    const gen = new AnchorGenerator({ sizes: a.sizes, aspectRatios: a.ratios, stride: a.stride });
    expectClose(gen.anchors(a.fh, a.fw), a.boxes, 0, 0);
  });
});

describe('BoxCoder', () => {
  for (const c of fx.boxCoder) {
    it(`encodes and decodes as torchvision with weights ${c.weights}`, () => {
      const coder = new BoxCoder(c.weights);
      expectClose(coder.encode(Float32Array.from(c.reference), Float32Array.from(c.target)), c.encoded);
      expectClose(coder.decode(Float32Array.from(c.reference), Float32Array.from(c.deltas), 2), c.decoded, 1e-5, 1e-3);
    });
  }
  it('round-trips', () => {
    const rng = new Rng(3);
    const ref = Float32Array.from({ length: 40 }, (_, i) => (i % 4 < 2 ? rng.range(0, 50) : rng.range(60, 120)));
    const tgt = Float32Array.from({ length: 40 }, (_, i) => (i % 4 < 2 ? rng.range(0, 50) : rng.range(60, 120)));
    const coder = new BoxCoder([10, 10, 5, 5]);
    expectClose(coder.decode(ref, coder.encode(ref, tgt)), Array.from(tgt), 1e-5, 1e-3);
  });
});

describe('Matcher', () => {
  for (const c of fx.matcher) {
    it(`matches torchvision (high ${c.high}, low ${c.low}, lowQuality ${c.allow})`, () => {
      const m = match(Float32Array.from(c.iou), c.gt, c.pred, { highThreshold: c.high, lowThreshold: c.low, allowLowQualityMatches: c.allow });
      expect(Array.from(m)).toEqual(c.matches);
    });
  }
  it('leaves every prediction unmatched without ground truth', () => {
    const m = match(new Float32Array(0), 0, 5, { highThreshold: 0.7, lowThreshold: 0.3, allowLowQualityMatches: true });
    expect(Array.from(m)).toEqual([-1, -1, -1, -1, -1]);
  });
});

describe('sampler', () => {
  it('takes at most the positive fraction and fills with negatives, deterministically', () => {
    const labels = Int32Array.from({ length: 1000 }, (_, i) => (i % 50 === 0 ? 1 : i % 7 === 0 ? -1 : 0));
    const a = sampleBalanced(labels, { batchSizePerImage: 256, positiveFraction: 0.5 }, new Rng(1));
    const b = sampleBalanced(labels, { batchSizePerImage: 256, positiveFraction: 0.5 }, new Rng(1));
    expect(a).toEqual(b);
    expect(a.positive.length).toBe(20);
    expect(a.negative.length).toBe(236);
    expect(a.positive.every((i) => labels[i] === 1)).toBe(true);
    expect(a.negative.every((i) => labels[i] === 0)).toBe(true);
    expect(new Set(a.negative).size).toBe(236);
  });
});

describe('boxes', () => {
  it('computes IoU with the no-+1 convention', () => {
    const iou = iouMatrix(Float32Array.from([0, 0, 10, 10]), Float32Array.from([5, 5, 15, 15, 20, 20, 30, 30]));
    expectClose(iou, [25 / 175, 0]);
  });
  it('topK is stable for ties', () => {
    expect(topK([1, 3, 3, 2], 3)).toEqual([1, 2, 3]);
  });
});
