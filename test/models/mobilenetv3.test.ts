// MobileNetV3-Large + FPN (src/models/mobilenetv3.ts, src/detection/fpn.ts) against the backbone of
// torchvision 0.14's fasterrcnn_mobilenet_v3_large_fpn, i.e. _mobilenet_extractor(fpn=True)
// (scripts/fixtures-torchvision-backbones.py -> test/fixtures/models/mobilenetv3-fpn.json):
// names and shapes equal to torchvision's state_dict (BatchNorm2d and FrozenBatchNorm2d builds),
// stage indices and returned blocks (13 and 16), trainable_layers 0..6 equal to its requires_grad
// flags, eval-mode outputs of the two returned blocks and of every FPN level within 1e-4
// (max |Δ| / max |y|) with the detection builder's eps 1e-5 and with mobilenet_v3_large()'s own
// eps 0.001, and train-mode gradients on exactly the trainable parameters, finite, matching.
//
// Backends: wasm runs everything. The reference backend (plain float64 loops: 8 s per forward,
// 37 s with backward, on a loaded 2-core machine) runs each eval case once (FrozenBatchNorm2d
// where the case has it: the same arithmetic as BatchNorm2d in eval mode, which wasm checks) and
// no backward; the op gradchecks cover its gradients. WebGPU (SwiftShader, a software GPU, in CI)
// runs the one eval case of the detection builder's default (FrozenBatchNorm2d, eps 1e-5): ~5 s
// here, where a train-mode backward takes 40 s (and ResNet-18's eval 11 s, its backward 32 s, so
// test/models/resnet.test.ts leaves WebGPU out).
import { afterAll, describe, expect, it } from 'vitest';
import { createReferenceBackend } from '../../src/backends/reference/index.js';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import { Rng } from '../../src/engine/random.js';
import { makeDivisible, mobilenetV3LargeFpnBackbone, MobileNetV3Body } from '../../src/models/mobilenetv3.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import {
  checkGenerator,
  checkTrainGradients,
  compareMaps,
  fixtureStateDict,
  generated,
  loadBackboneFixture,
  logParity,
  namesAndShapes,
  trainableNames,
} from './torchvision-weights.js';

const fx = loadBackboneFixture('mobilenetv3-fpn.json');
const NORMS = ['batch', 'frozen'] as const;
const TOL = 1e-4;

/** eps 0.001 is mobilenet_v3_large()'s own BatchNorm2d (momentum 0.01); the detection builder's is 1e-5. */
const build = (norm: 'batch' | 'frozen', backend: Backend, trainableLayers = 6, eps = 1e-5) =>
  mobilenetV3LargeFpnBackbone(new Rng(2), { norm, trainableLayers, backend, eps, momentum: eps === 1e-5 ? 0.1 : 0.01 });

describe('structure (reference backend: construction only)', () => {
  const backend = createReferenceBackend();
  afterAll(() => backend.dispose());

  it('the weight generator agrees with the fixture script\'s (every tensor\'s sum)', () => checkGenerator(fx));

  it('_make_divisible as torchvision: SE widths of the large config', () => {
    expect([16, 64, 72, 120, 240, 200, 184, 480, 672, 960].map((c) => makeDivisible(Math.floor(c / 4), 8))).toEqual([8, 16, 24, 32, 64, 48, 48, 120, 168, 240]);
  });

  for (const norm of NORMS) {
    it(`${norm}: names and shapes are torchvision's state_dict (without 'backbone.'); stage indices, returned blocks; trainable_layers 0..6 freeze what torchvision freezes`, () => {
      k.setBackend(backend);
      const m = build(norm, backend);
      expect(namesAndShapes(m)).toEqual(fx.names[norm]);
      expect(m.body.stageIndices).toEqual(fx.stage_indices);
      expect(Object.fromEntries([...m.body.returnLayers].map(([i, n]) => [String(i), n]))).toEqual(fx.return_layers);
      expect(m.body.outChannels).toEqual([160, 960]);
      for (let t = 0; t <= 6; t++) {
        m.body.setTrainableLayers(t);
        expect(trainableNames(m), `trainable_layers ${t}`).toEqual(fx.trainable[norm][String(t)]);
      }
      expect(() => m.body.setTrainableLayers(7)).toThrow(/\[0, 6\]/);
      m.dispose();
    });
  }

  it('returnedLayers drops the blocks after the last returned stage, as IntermediateLayerGetter', () => {
    k.setBackend(backend);
    const body = new MobileNetV3Body(new Rng(0), { returnedLayers: [2, 3], backend });
    expect([...body.returnLayers]).toEqual([[4, '0'], [7, '1']]);
    expect(body.outChannels).toEqual([40, 80]);
    expect(body.namedParameters().at(-1)![0]).toMatch(/^7\./);
    body.dispose();
  });
});

/** Which eval builds each backend runs (see the header). */
function evalNorms(norms: ('batch' | 'frozen')[], eps: number, backend: string): ('batch' | 'frozen')[] {
  if (backend === 'reference') return [norms.includes('frozen') ? 'frozen' : norms[0]!];
  if (backend === 'webgpu') return eps === 1e-5 && norms.includes('frozen') ? ['frozen'] : [];
  return norms;
}

describeEachBackend(await loadBackendsUnderTest(), (backend, name) => {
  const stats = () => k.memoryStats(backend);

  for (const c of fx.eval) {
    for (const norm of evalNorms(c.norms, c.eps, name)) {
      it(`${norm} eps ${c.eps} eval: blocks 13, 16 and FPN levels 0, 1, pool within ${TOL} of torchvision`, async () => {
        k.setBackend(backend);
        const before = stats();
        const m = build(norm, backend, 6, c.eps);
        m.loadStateDict(fixtureStateDict(fx, norm, backend));
        m.eval();
        const x = generated(fx.input, backend);
        const body = m.body.forward(x);
        const bodyErr = await compareMaps(body, c.body, 'body', TOL);
        const fpn = m.fpn.forward(body);
        const fpnErr = await compareMaps(fpn, c.fpn, 'fpn', TOL);
        logParity(`[${name}] mobilenet_v3_large ${norm} eps ${c.eps} eval  body ${JSON.stringify(bodyErr)}  fpn ${JSON.stringify(fpnErr)}`);
        k.dispose([x, body, fpn]);
        m.dispose();
        await backend.sync();
        expect(stats()).toEqual(before);
      });
    }
  }

  for (const c of name === 'wasm' ? fx.train : []) {
    it(`${c.norm}, trainable_layers ${c.trainable_layers}, train mode: gradients on exactly torchvision's requires_grad set, finite, within ${TOL}`, async () => {
      k.setBackend(backend);
      const before = stats();
      const m = build(c.norm, backend, c.trainable_layers);
      m.loadStateDict(fixtureStateDict(fx, c.norm, backend));
      const x = generated(fx.input, backend);
      const { worst, worstName, loosened, worstStrict, worstStrictName } = await checkTrainGradients(m, x, c, backend, TOL);
      logParity(`[${name}] mobilenet_v3_large ${c.norm} train (trainable_layers ${c.trainable_layers}): worst error ${worst.toFixed(3)} of its allowance (${worstName}); ${loosened} allowances above ${TOL}, worst error among the rest ${worstStrict.toExponential(2)} (${worstStrictName})`);
      x.dispose();
      m.dispose();
      await backend.sync();
      expect(stats()).toEqual(before);
    });
  }
});
