// The whole of torchvision 0.14's Faster R-CNN in eval mode (src/detection/tv-faster-rcnn.ts:
// kdet's ResNet-50 / MobileNetV3 + FPN, anchors, RPN, MultiScaleRoIAlign, box head, transform)
// against fasterrcnn_mobilenet_v3_large_320_fpn and fasterrcnn_resnet50_fpn with generated
// weights (scripts/fixtures-tv-faster-rcnn.py -> test/fixtures/models/tv-faster-rcnn.json): the
// names and shapes are torchvision's state_dict, and two images of different sizes (one resized)
// give torchvision's detections: the same labels in the same order, boxes and scores within 1e-4.
//
// Backends: wasm runs both. The reference backend runs the MobileNet one (ResNet-50's 41 M
// weights in float64 loops would take minutes on this 2-core machine); WebGPU is left out (the
// box head's 12544×1024 fc6 alone is seconds on SwiftShader). The pieces are tested on every
// backend by multiscale-roi-align, tv-rpn and tv-box-head.test.ts.
import { expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import { Rng } from '../../src/engine/random.js';
import type { Tensor } from '../../src/engine/tensor.js';
import { tvFasterRCNN } from '../../src/detection/tv-faster-rcnn.js';
import type { TvPresetName } from '../../src/detection/tv-presets.js';
import { assertClose } from '../helpers/assert.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import type { FixtureArray } from '../helpers/fixtures.js';
import { checkGenerator, generate, type BackboneFixture, type GeneratedSpec } from '../models/torchvision-weights.js';
import { f32, i32, relErr } from './tv-fixture.js';
import { readFileSync } from 'node:fs';

interface ModelCase {
  builder: TvPresetName;
  kwargs: { num_classes: number; min_size: number; max_size: number };
  names: [string, number[]][];
  tensors: GeneratedSpec[];
  images: GeneratedSpec[];
  image_sizes: [number, number][];
  padded: [number, number];
  num_proposals: number[];
  detections: { boxes: FixtureArray; scores: FixtureArray; labels: FixtureArray }[];
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/models/tv-faster-rcnn.json', import.meta.url), 'utf8')) as { cases: ModelCase[] };
const TOL = 1e-4;

function stateDict(c: ModelCase, backend: Backend): Map<string, Tensor> {
  const specs = new Map(c.tensors.map((s) => [s.name, s]));
  return new Map(
    c.names.map(([name, shape]) => {
      const s = specs.get(name);
      return [name, s ? k.tensor(generate(s.name, s.shape, s.lo, s.hi), s.shape, { backend }) : k.zeros(shape, { backend })];
    }),
  );
}

for (const c of fixture.cases) {
  it(`${c.builder}: the weight generator agrees with the fixture script's (every tensor's sum)`, () => {
    checkGenerator({ tensors: c.tensors } as unknown as BackboneFixture);
  });
}

describeEachBackend(await loadBackendsUnderTest({ exclude: ['webgpu'] }), (backend, name) => {
  // The ResNets take minutes on the float64 reference backend: it checks the MobileNetV3 model.
  for (const c of name === 'reference' ? fixture.cases.filter((x) => !x.builder.startsWith('fasterrcnn_resnet')) : fixture.cases) {
    it(`${c.builder}: torchvision's names; detections on two images equal torchvision's`, async () => {
      k.setBackend(backend);
      const before = k.memoryStats(backend);
      const model = tvFasterRCNN(c.builder, c.kwargs.num_classes, new Rng(4), { minSize: c.kwargs.min_size, maxSize: c.kwargs.max_size, backend });
      expect(model.namedParameters().map(([n, p]) => [n, [...p.shape]])).toEqual(c.names);
      model.loadStateDict(stateDict(c, backend));
      model.eval();
      const images = c.images.map((s) => ({ image: generate(s.name, s.shape, s.lo, s.hi), height: s.shape[1]!, width: s.shape[2]! }));
      const t = model.transform.batch(images);
      expect([t.imageSizes, t.shape.slice(2)]).toEqual([c.image_sizes, c.padded]);
      const got = await model.detect(images);
      let worst = 0;
      got.forEach((d, img) => {
        const want = c.detections[img]!;
        expect(Array.from(d.labels), `image ${img} labels`).toEqual(Array.from(i32(want.labels)));
        assertClose(d.boxes, f32(want.boxes), { rtol: TOL, what: `image ${img} boxes`, shape: want.boxes.shape });
        assertClose(d.scores, f32(want.scores), { rtol: TOL, what: `image ${img} scores` });
        worst = Math.max(worst, relErr(d.boxes, f32(want.boxes)), relErr(d.scores, f32(want.scores)));
      });
      console.log(`[${name}] ${c.builder}: detections [${got.map((d) => d.labels.length)}], max rel err ${worst.toExponential(1)}`);
      await expect(model.train().detect(images)).rejects.toThrow(/eval/);
      model.dispose();
      await backend.sync();
      expect(k.memoryStats(backend)).toEqual(before);
    });
  }
});
