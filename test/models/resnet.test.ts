// ResNet-18/50 + FPN (src/models/resnet.ts, src/detection/fpn.ts) against torchvision 0.14's
// resnet_fpn_backbone / _resnet_fpn_extractor (scripts/fixtures-torchvision-backbones.py ->
// test/fixtures/models/resnet{18,50}-fpn.json): parameter and buffer names and shapes equal to
// torchvision's state_dict (BatchNorm2d and FrozenBatchNorm2d builds), trainable_layers 0..5 equal
// to its requires_grad flags, eval-mode outputs of the body (C2..C5) and of every FPN level within
// 1e-4 (max |Δ| / max |y|) of torchvision's, and a train-mode backward whose gradients exist
// exactly for the trainable parameters, are finite and agree with torchvision's.
//
// Backends: wasm runs everything. The reference backend (plain float64 loops: 17 s for one
// ResNet-18 forward here, 57 s with backward, on a loaded 2-core machine) runs each eval case once,
// with FrozenBatchNorm2d (the same arithmetic as BatchNorm2d in eval mode, which wasm checks), and
// no backward; the op gradchecks cover its gradients. WebGPU is left out: on SwiftShader (CI's
// software GPU) ResNet-18's eval pass takes 11 s here and its backward 32 s, per case; the
// smaller MobileNetV3 eval runs there (test/models/mobilenetv3.test.ts), and
// test/detection/fpn.test.ts and the op tests cover the kernels these models are made of.
import { afterAll, describe, expect, it } from 'vitest';
import { createReferenceBackend } from '../../src/backends/reference/index.js';
import type { Backend } from '../../src/engine/backend.js';
import * as k from '../../src/engine/index.js';
import { Rng } from '../../src/engine/random.js';
import { resnetFpnBackbone, type ResNetArch } from '../../src/models/resnet.js';
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
  type BackboneFixture,
} from './torchvision-weights.js';

const fixtures = [loadBackboneFixture('resnet18-fpn.json'), loadBackboneFixture('resnet50-fpn.json')];
const NORMS = ['batch', 'frozen'] as const;
const TOL = 1e-4;

const build = (fx: BackboneFixture, norm: 'batch' | 'frozen', backend: Backend, trainableLayers = 5) =>
  resnetFpnBackbone(fx.arch as ResNetArch, new Rng(1), { norm, trainableLayers, backend });

describe('structure (reference backend: construction only)', () => {
  const backend = createReferenceBackend();
  afterAll(() => backend.dispose());

  for (const fx of fixtures) {
    it(`${fx.arch}: the weight generator agrees with the fixture script's (every tensor's sum)`, () => checkGenerator(fx));

    for (const norm of NORMS) {
      it(`${fx.arch} ${norm}: names and shapes are torchvision's state_dict (without 'backbone.'), in order; trainable_layers 0..5 freeze what torchvision freezes`, () => {
        k.setBackend(backend);
        const m = build(fx, norm, backend);
        expect(namesAndShapes(m)).toEqual(fx.names[norm]);
        for (let t = 0; t <= 5; t++) {
          m.body.setTrainableLayers(t);
          expect(trainableNames(m), `trainable_layers ${t}`).toEqual(fx.trainable[norm][String(t)]);
        }
        expect(m.body.outChannels).toEqual(fx.arch === 'resnet18' ? [64, 128, 256, 512] : [256, 512, 1024, 2048]);
        expect(() => m.body.setTrainableLayers(6)).toThrow(/\[0, 5\]/);
        m.dispose();
      });
    }
  }
});

describeEachBackend(await loadBackendsUnderTest({ exclude: ['webgpu'] }), (backend, name) => {
  const stats = () => k.memoryStats(backend);

  for (const fx of fixtures) {
    for (const c of fx.eval) {
      for (const norm of name === 'reference' ? c.norms.filter((n) => n === 'frozen') : c.norms) {
        it(`${fx.arch} ${norm} eval: body C2..C5 and FPN levels 0..3, pool within ${TOL} of torchvision`, async () => {
          k.setBackend(backend);
          const before = stats();
          const m = build(fx, norm, backend);
          m.loadStateDict(fixtureStateDict(fx, norm, backend));
          m.eval();
          const x = generated(fx.input, backend);
          const body = m.body.forward(x);
          const bodyErr = await compareMaps(body, c.body, `${fx.arch} body`, TOL);
          const fpn = m.fpn.forward(body);
          const fpnErr = await compareMaps(fpn, c.fpn, `${fx.arch} fpn`, TOL);
          logParity(`[${name}] ${fx.arch} ${norm} eval  body ${JSON.stringify(bodyErr)}  fpn ${JSON.stringify(fpnErr)}`);
          k.dispose([x, body, fpn]);
          m.dispose();
          await backend.sync();
          expect(stats()).toEqual(before);
        });
      }
    }

    for (const c of name === 'reference' ? [] : fx.train) {
      it(`${fx.arch} ${c.norm}, trainable_layers ${c.trainable_layers}, train mode: gradients on exactly torchvision's requires_grad set, finite, within ${TOL}`, async () => {
        k.setBackend(backend);
        const before = stats();
        const m = build(fx, c.norm, backend, c.trainable_layers);
        m.loadStateDict(fixtureStateDict(fx, c.norm, backend));
        const x = generated(fx.input, backend);
        const { worst, worstName, loosened, worstStrict, worstStrictName } = await checkTrainGradients(m, x, c, backend, TOL);
        logParity(`[${name}] ${fx.arch} ${c.norm} train (trainable_layers ${c.trainable_layers}): worst error ${worst.toFixed(3)} of its allowance (${worstName}); ${loosened} allowances above ${TOL}, worst error among the rest ${worstStrict.toExponential(2)} (${worstStrictName})`);
        x.dispose();
        m.dispose();
        await backend.sync();
        expect(stats()).toEqual(before);
      });
    }
  }
});
