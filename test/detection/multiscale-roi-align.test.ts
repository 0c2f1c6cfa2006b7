// MultiScaleRoIAlign and LevelMapper (src/detection/multiscale-roi-align.ts) against torchvision
// 0.14's ops.MultiScaleRoIAlign (scripts/fixtures-tv-heads.py ->
// test/fixtures/detection/multiscale-roi-align.json), on every backend under test (WebGPU
// included: a few roi_align calls on small maps). Three cases: four FPN levels plus an unpooled
// 'pool' with boxes of every scale (sqrt(area) exactly 56, 112, 224, 448 where the mapper's eps
// decides, a zero-width box, boxes outside the image); two levels named out of the maps' order
// with a non-square output; one level (no mapper). Scales, k_min/k_max, each box's level, the
// output and the gradient of sum(y · dy) with respect to every feature map (zero for the unpooled
// ones) agree with torchvision's within 1e-4 relative; finite differences on the reference backend.
import { expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { LevelMapper, MultiScaleRoIAlign, inferScale, setupScales } from '../../src/detection/multiscale-roi-align.js';
import { assertClose } from '../helpers/assert.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import type { FixtureArray } from '../helpers/fixtures.js';
import { gradcheck } from '../helpers/gradcheck.js';
import { expectMemoryFlat } from '../helpers/memory.js';
import type { GeneratedSpec } from '../models/torchvision-weights.js';
import { f32, featureMaps, fromSpec, i32, loadTvFixture, relErr } from './tv-fixture.js';

interface MsraCase {
  label: string;
  featmap_names: string[];
  output_size: [number, number];
  sampling_ratio: number;
  image_sizes: [number, number][];
  features: GeneratedSpec[];
  boxes: FixtureArray[];
  scales: number[];
  k_min: number | null;
  k_max: number | null;
  levels: FixtureArray;
  output: FixtureArray;
  dy: GeneratedSpec;
  grads: Record<string, FixtureArray>;
}
const fixture = loadTvFixture<{ cases: MsraCase[] }>('multiscale-roi-align.json');
const TOL = 1e-4;

const build = (c: MsraCase) => new MultiScaleRoIAlign(c.featmap_names, c.output_size, c.sampling_ratio);

describeEachBackend(await loadBackendsUnderTest(), (backend, name) => {
  for (const c of fixture.cases) {
    it(`${c.label}: scales, levels, output and feature gradients are torchvision's`, async () => {
      k.setBackend(backend);
      const before = k.memoryStats(backend);
      const feats = featureMaps(c.features, backend);
      const boxes = c.boxes.map(f32);
      const pool = build(c);
      const dy = fromSpec(c.dy, backend);
      let y: Tensor | null = null;
      const { value, grads } = k.valueAndGrads(() => {
        y = k.keep(pool.forward(feats, boxes, c.image_sizes));
        return k.sum(k.mul(y, dy));
      }, [...feats.values()]);
      expect(pool.scales).toEqual(c.scales);
      if (c.k_min !== null) expect([pool.mapper!.kMin, pool.mapper!.kMax]).toEqual([c.k_min, c.k_max]);
      if (c.scales.length > 1) expect(Array.from(pool.mapper!.levels(boxes))).toEqual(Array.from(i32(c.levels)));
      expect(y!.shape).toEqual(c.output.shape);
      const out = await y!.data();
      assertClose(out, f32(c.output), { rtol: TOL, what: `${c.label} output`, shape: y!.shape });
      const errs = [relErr(out, f32(c.output))];
      let i = 0;
      for (const [level] of feats) {
        const g = await grads[i++]!.data();
        const want = c.grads[level];
        if (want) {
          assertClose(g, f32(want), { rtol: TOL, what: `${c.label} d/d'${level}'` });
          errs.push(relErr(g, f32(want)));
        } else {
          expect(g.every((v) => v === 0), `'${level}' is not pooled: zero gradient`).toBe(true);
        }
      }
      console.log(`[${name}] MultiScaleRoIAlign ${c.label}: max rel err ${Math.max(...errs).toExponential(1)}`);
      k.dispose([value, ...grads, y!, dy, [...feats.values()]]);
      await backend.sync();
      expect(k.memoryStats(backend)).toEqual(before);
    });
  }

  it('no boxes: [0, C, h, w]; a box of negative area (no level) gets a zero row, as in torchvision', async () => {
    k.setBackend(backend);
    const c = fixture.cases[0]!;
    const feats = featureMaps(c.features, backend);
    const pool = build(c);
    const empty = pool.forward(feats, [new Float32Array(0), new Float32Array(0)], c.image_sizes);
    expect(empty.shape).toEqual([0, 4, 7, 7]);
    const boxes = [Float32Array.of(10, 10, 60, 50, 40, 10, 20, 30), Float32Array.of(0, 0, 300, 300)];
    const y = pool.forward(feats, boxes, c.image_sizes);
    expect(y.shape).toEqual([3, 4, 7, 7]);
    const data = await y.data();
    const row = 4 * 49;
    expect(data.subarray(row, 2 * row).every((v) => v === 0)).toBe(true);
    expect(data.subarray(0, row).some((v) => v !== 0) && data.subarray(2 * row).some((v) => v !== 0)).toBe(true);
    k.dispose([empty, y, [...feats.values()]]);
  });

  it('rejects feature maps none of which is pooled', () => {
    k.setBackend(backend);
    const x = k.zeros([1, 2, 4, 4], { backend });
    expect(() => new MultiScaleRoIAlign(['0'], 7, 2).forward(new Map([['a', x]]), [new Float32Array(4)], [[16, 16]])).toThrow(/featmap_names/);
    x.dispose();
  });

  it('no leak over repeated forward/backward', async () => {
    k.setBackend(backend);
    const c = fixture.cases[0]!;
    const feats = featureMaps(c.features, backend);
    const boxes = c.boxes.map(f32);
    const pool = build(c);
    await expectMemoryFlat(backend, () => {
      const { value, grads } = k.valueAndGrads(() => k.sum(k.square(pool.forward(feats, boxes, c.image_sizes))), [...feats.values()]);
      k.dispose([value, ...grads]);
      k.dispose(k.noGrad(() => pool.forward(feats, boxes, c.image_sizes)));
    }, 3);
    k.dispose([...feats.values()]);
  });
});

it('LevelMapper and the scale inference follow torchvision on the boundaries', () => {
  // sqrt(area) = 224 · 2^j lands on level 4 + j exactly (eps), just below drops a level.
  const m = new LevelMapper(2, 5);
  expect(Array.from(m.levels([Float32Array.of(0, 0, 224, 224, 0, 0, 112, 112, 0, 0, 111.9, 112, 0, 0, 448, 448, 0, 0, 1e4, 1e4, 0, 0, 0, 5)]))).toEqual([
    2, 1, 0, 3, 3, 0,
  ]);
  expect(inferScale(58, 230)).toBe(0.25); // 0.252 → 2^-2
  expect(inferScale(16, 100)).toBe(0.125); // 0.16 → 2^-2.64 → 2^-3
  const { scales, mapper } = setupScales([56, 28, 14, 7], [[224, 250], [200, 256]]);
  expect(scales).toEqual([0.25, 0.125, 0.0625, 0.03125]);
  expect([mapper.kMin, mapper.kMax]).toEqual([2, 5]);
  expect(() => setupScales([8], [])).toThrow(/empty/);
});

it('finite differences: gradients reach both levels through roi_align and the reordering (reference backend)', () => {
  // Boxes alternate between the two levels, so the gather back into box order is exercised.
  const boxes = [Float32Array.of(2, 3, 20, 25, 0, 0, 120, 120, 5, 1, 14, 9), Float32Array.of(-10, 4, 130, 125)];
  const pool = new MultiScaleRoIAlign(['0', '1'], 2, 2);
  const rand = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.8);
  gradcheck(
    'MultiScaleRoIAlign',
    (a, b) => pool.forward(new Map([['0', a!], ['1', b!]]), boxes, [[32, 32], [30, 28]]),
    [
      { data: rand(2 * 2 * 8 * 8, 1), shape: [2, 2, 8, 8] },
      { data: rand(2 * 2 * 4 * 4, 2), shape: [2, 2, 4, 4] },
    ],
    { eps: 1e-4, rtol: 1e-6 },
  );
  expect(Array.from(pool.mapper!.levels(boxes))).toEqual([0, 1, 0, 1]);
});
