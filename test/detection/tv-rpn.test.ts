// torchvision 0.14's RPN pieces as kdet modules (src/detection/anchors-multilevel.ts,
// tv-rpn-head.ts, tv-proposals.ts, tv-rpn.ts, batched-nms.ts) against torchvision's
// AnchorGenerator, RPNHead and RegionProposalNetwork.filter_proposals (scripts/fixtures-tv-heads.py
// -> test/fixtures/detection/tv-rpn.json), for the fasterrcnn_resnet50_fpn configuration (five
// levels, one size each; 1768 boxes before NMS: torchvision's one-NMS-per-level path) and the
// fasterrcnn_mobilenet_v3_large_320_fpn one (three levels of 15 anchors, test top-n 150, score
// threshold 0.05; 360 boxes: the shifted-coordinates path), two images of different sizes in a
// padded batch. Anchors are equal exactly; the head's objectness and deltas within 1e-4; the
// proposals, test and train top-n, are the same boxes in the same order (within 1e-4) with the
// same scores. Every backend under test (the head is a 16-channel conv on maps of at most 24×32).
import { expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import { Rng } from '../../src/engine/random.js';
import { MultiLevelAnchorGenerator, generateCellAnchors } from '../../src/detection/anchors-multilevel.js';
import { batchedNms } from '../../src/detection/batched-nms.js';
import { TvRegionProposalNetwork } from '../../src/detection/tv-rpn.js';
import { TvRPNHead, concatBoxPredictionLayers } from '../../src/detection/tv-rpn-head.js';
import { TV_PRESETS, type TvPresetName } from '../../src/detection/tv-presets.js';
import { createReferenceBackend } from '../../src/backends/reference/index.js';
import { assertClose } from '../helpers/assert.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import type { FixtureArray } from '../helpers/fixtures.js';
import type { GeneratedSpec } from '../models/torchvision-weights.js';
import { f32, featureMaps, loadTvFixture, relErr, stateDict } from './tv-fixture.js';

interface ProposalSet {
  boxes: FixtureArray[];
  scores: FixtureArray[];
}
interface RpnCase {
  preset: TvPresetName;
  channels: number;
  sizes: number[][];
  aspect_ratios: number[][];
  pre_nms_top_n: { training: number; testing: number };
  post_nms_top_n: { training: number; testing: number };
  score_thresh: number;
  nms_thresh: number;
  image_sizes: [number, number][];
  padded: [number, number];
  features: GeneratedSpec[];
  head: GeneratedSpec[];
  names: [string, number[]][];
  cell_anchors: FixtureArray[];
  anchors: FixtureArray;
  num_anchors_per_level: number[];
  objectness: FixtureArray[];
  deltas: FixtureArray[];
  proposals: Record<'testing' | 'training', ProposalSet>;
}
const fixture = loadTvFixture<{ cases: RpnCase[] }>('tv-rpn.json');
const TOL = 1e-4;

const generatorFor = (c: RpnCase) => new MultiLevelAnchorGenerator(TV_PRESETS[c.preset].anchorSizes, TV_PRESETS[c.preset].aspectRatios);

function buildRpn(c: RpnCase, backend: Backend): TvRegionProposalNetwork {
  const gen = generatorFor(c);
  const head = new TvRPNHead(c.channels, gen.numAnchorsPerLocation()[0]!, new Rng(5), { backend });
  const rpn = new TvRegionProposalNetwork(gen, head, TV_PRESETS[c.preset].rpn);
  rpn.loadStateDict(stateDict(c.head, 'rpn.', backend));
  return rpn;
}

for (const c of fixture.cases) {
  it(`${c.preset}: the preset's anchors and RPN settings are the builder's; anchors equal torchvision's exactly, in order`, () => {
    const p = TV_PRESETS[c.preset];
    expect(p.anchorSizes).toEqual(c.sizes);
    expect(p.aspectRatios).toEqual(c.aspect_ratios);
    expect([p.rpn.preNmsTopN, p.rpn.postNmsTopN, p.rpn.scoreThresh, p.rpn.nmsThresh]).toEqual([c.pre_nms_top_n, c.post_nms_top_n, c.score_thresh, c.nms_thresh]);
    const gen = generatorFor(c);
    gen.cellAnchors.forEach((a, i) => expect(Array.from(a), `cell anchors ${i}`).toEqual(Array.from(f32(c.cell_anchors[i]!))));
    const grids = c.objectness.map((o) => [o.shape[2]!, o.shape[3]!] as const);
    const { boxes, numAnchorsPerLevel } = gen.anchors(c.padded, grids);
    expect(numAnchorsPerLevel).toEqual(c.num_anchors_per_level);
    expect(Array.from(boxes)).toEqual(Array.from(f32(c.anchors)));
    expect(gen.anchors(c.padded, grids).boxes).toBe(boxes); // cached
  });
}

it('cell anchors: ratio-major, rounded half to even as torch.round', () => {
  // ratio 1, size 5: ±2.5 → ±2 (half to even); ratio 0.5, size 32: w = 32·√2 → ±22.63 → ±23.
  expect(Array.from(generateCellAnchors([5, 32], [1, 0.5]))).toEqual([-2, -2, 2, 2, -16, -16, 16, 16, -4, -2, 4, 2, -23, -11, 23, 11]);
  expect(() => new MultiLevelAnchorGenerator([[32]], [[1], [2]])).toThrow(/levels/);
  expect(() => new MultiLevelAnchorGenerator([[32]], [[1]]).anchors([64, 64], [[8, 8], [4, 4]])).toThrow(/2 feature maps for 1 anchor levels/);
});

it('batchedNms: groups never suppress each other, on both of torchvision\'s paths; order by score', async () => {
  const backend = createReferenceBackend();
  // Two identical boxes in two groups, and in group 0 a better one overlapping the first (IoU 0.81).
  const boxes = Float32Array.of(0, 0, 10, 10, 0, 0, 10, 10, 1, 1, 10, 10);
  const scores = Float32Array.of(0.5, 0.9, 0.7);
  expect(Array.from(await batchedNms(boxes, scores, [0, 1, 0], 0.5, backend))).toEqual([1, 2]);
  // Over 1000 boxes: one NMS per group. The same answer, padded with far-away singletons.
  const n = 1100;
  const big = new Float32Array(n * 4);
  const bigScores = new Float32Array(n);
  big.set(boxes);
  bigScores.set(scores);
  for (let i = 3; i < n; i++) {
    big.set([i * 20, 0, i * 20 + 5, 5], i * 4);
    bigScores[i] = 0.1;
  }
  const kept = await batchedNms(big, bigScores, Array.from({ length: n }, (_, i) => (i < 3 ? [0, 1, 0][i]! : 2)), 0.5, backend);
  expect(Array.from(kept.subarray(0, 3))).toEqual([1, 2, 3]);
  expect(kept.length).toBe(n - 1);
  backend.dispose();
});

describeEachBackend(await loadBackendsUnderTest(), (backend, name) => {
  for (const c of fixture.cases) {
    it(`${c.preset}: names are torchvision's (rpn.head.conv.0.0.weight, …); objectness and deltas per level match`, async () => {
      k.setBackend(backend);
      const before = k.memoryStats(backend);
      const rpn = buildRpn(c, backend);
      expect(rpn.namedParameters('rpn.').map(([n, p]) => [n, [...p.shape]])).toEqual(c.names);
      const feats = featureMaps(c.features, backend);
      const { logits, bboxReg } = k.noGrad(() => rpn.head.forward([...feats.values()]));
      const errs: number[] = [];
      for (let i = 0; i < logits.length; i++) {
        expect(logits[i]!.shape).toEqual(c.objectness[i]!.shape);
        expect(bboxReg[i]!.shape).toEqual(c.deltas[i]!.shape);
        const [o, d] = [await logits[i]!.data(), await bboxReg[i]!.data()];
        assertClose(o, f32(c.objectness[i]!), { rtol: TOL, what: `objectness level ${i}` });
        assertClose(d, f32(c.deltas[i]!), { rtol: TOL, what: `deltas level ${i}` });
        errs.push(relErr(o, f32(c.objectness[i]!)), relErr(d, f32(c.deltas[i]!)));
      }
      console.log(`[${name}] ${c.preset} RPN head: max rel err ${Math.max(...errs).toExponential(1)}`);
      k.dispose([logits, bboxReg, [...feats.values()]]);
      rpn.dispose();
      await backend.sync();
      expect(k.memoryStats(backend)).toEqual(before);
    });

    for (const mode of ['testing', 'training'] as const) {
      it(`${c.preset}: ${mode} proposals are torchvision's, box for box, in order, with its scores`, async () => {
        k.setBackend(backend);
        const before = k.memoryStats(backend);
        const rpn = buildRpn(c, backend);
        rpn.train(mode === 'training');
        const feats = featureMaps(c.features, backend);
        const got = await rpn.propose(feats, c.padded, c.image_sizes);
        const want = c.proposals[mode];
        const errs: number[] = [];
        got.boxes.forEach((b, img) => {
          expect(b.length / 4, `image ${img}: proposal count`).toBe(want.boxes[img]!.shape[0]);
          assertClose(b, f32(want.boxes[img]!), { rtol: TOL, what: `${mode} image ${img} boxes`, shape: want.boxes[img]!.shape });
          assertClose(got.scores[img]!, f32(want.scores[img]!), { rtol: TOL, what: `${mode} image ${img} scores` });
          errs.push(relErr(b, f32(want.boxes[img]!)), relErr(got.scores[img]!, f32(want.scores[img]!)));
        });
        console.log(`[${name}] ${c.preset} ${mode} proposals [${got.boxes.map((b) => b.length / 4)}]: max rel err ${Math.max(...errs).toExponential(1)}`);
        k.dispose([...feats.values()]);
        rpn.dispose();
        await backend.sync();
        expect(k.memoryStats(backend)).toEqual(before);
      });
    }
  }

  it('the outputs stay on the tape: d sum(objectness) / d cls_logits.bias = anchors per cell anchor', async () => {
    k.setBackend(backend);
    const c = fixture.cases[1]!;
    const rpn = buildRpn(c, backend);
    const feats = featureMaps(c.features, backend);
    const bias = rpn.head.clsLogits.bias!.value;
    const { value, grads } = k.valueAndGrads(() => {
      const { logits, bboxReg } = rpn.head.forward([...feats.values()]);
      const { objectness, deltas } = concatBoxPredictionLayers(logits, bboxReg);
      expect(objectness.shape).toEqual([2 * 3330, 1]);
      expect(deltas.shape).toEqual([2 * 3330, 4]);
      return k.sum(objectness);
    }, [bias]);
    const cells = c.objectness.reduce((s, o) => s + o.shape[0]! * o.shape[2]! * o.shape[3]!, 0);
    expect(Array.from(await grads[0]!.data())).toEqual(new Array(15).fill(cells));
    k.dispose([value, ...grads, [...feats.values()]]);
    rpn.dispose();
  });

  it('no leak over repeated proposals', async () => {
    k.setBackend(backend);
    const c = fixture.cases[1]!;
    const rpn = buildRpn(c, backend).eval();
    const feats = featureMaps(c.features, backend);
    // helpers/memory.ts's expectMemoryFlat takes a synchronous step; proposals are asynchronous.
    await rpn.propose(feats, c.padded, c.image_sizes);
    await backend.sync();
    const before = k.memoryStats(backend);
    for (let i = 0; i < 3; i++) await rpn.propose(feats, c.padded, c.image_sizes);
    await backend.sync();
    expect(k.memoryStats(backend)).toEqual(before);
    k.dispose([...feats.values()]);
    rpn.dispose();
  });
});
