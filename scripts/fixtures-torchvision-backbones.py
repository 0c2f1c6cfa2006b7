"""Golden fixtures for torchvision 0.14's detection backbones as kdet modules: ResNet-18/50 + FPN
(src/models/resnet.ts), MobileNetV3-Large + FPN (src/models/mobilenetv3.ts), and a small
FeaturePyramidNetwork on its own (src/detection/fpn.ts). PyTorch 1.13 / torchvision 0.14.

Run: /usr/bin/python3 scripts/fixtures-torchvision-backbones.py ->
  test/fixtures/models/resnet18-fpn.json, resnet50-fpn.json, mobilenetv3-fpn.json,
  test/fixtures/detection/fpn.json
Arrays are float32, base64 little-endian (the format test/helpers/fixtures.ts decodes). Outputs
and gradients are computed in float64 from the float32 weights and inputs (the exact answer), then
stored as float32; the same computation in float32 must agree within 1e-5 (relative to each
output's largest value), well inside the tests' 1e-4.

Why the model weights are not in the files: ResNet-18 + FPN alone holds 14 M values (56 MB as
float32), far over the few-MB budget for a fixture. Every weight, buffer and input is instead a
pure function of its torchvision name, which this script and test/models/torchvision-weights.ts
compute bit for bit alike:
  seed  = FNV-1a 32 of the name's bytes
  h_i   = fmix32(seed + i * 0x9E3779B9 mod 2^32)  (murmur3's finaliser: a splitmix32 stream)
  u_i   = (h_i >> 8) / 2^24                       (24 bits: exact in float32 and float64)
  v_i   = float32(lo + (hi - lo) * u_i)           (float64 arithmetic, then one rounding)
with [lo, hi] stored per tensor, and each tensor's float64 sum stored to prove the two agree.
Ranges: conv weights U(+-sqrt(3 / fan_in)) (variance 1 / fan_in: activations stay O(1) through
every block, so float32 rounding is not amplified; He's 2 / fan_in grew MobileNetV3's to ~1000
and its float32 error to 6e-5), biases U(+-0.1), norm weight U(0.5, 1.5), bias U(-0.2, 0.2), running_mean
U(-0.2, 0.2), running_var U(0.5, 1.5): non-trivial statistics, so a swapped or ignored buffer
shows. num_batches_tracked stays 0.

Per model:
- `names`: state_dict keys and shapes of BackboneWithFPN (without fasterrcnn's `backbone.` prefix)
  for the BatchNorm2d build (what fasterrcnn_*_fpn(weights=None) makes) and the FrozenBatchNorm2d
  build (what it makes with pretrained weights);
- `trainable`: for each trainable_layers value, the names with requires_grad after
  _resnet_fpn_extractor / _mobilenet_extractor, for both builds;
- `eval`: eval-mode outputs of the body (IntermediateLayerGetter) and of every FPN level;
- `train`: a train-mode forward and backward of L = sum over levels of sum(out * dy) (dy generated
  by name 'dy.<level>'): the gradient's L2 norm for every parameter with requires_grad, and the
  whole gradient of every 1-D parameter (norm weights and biases, conv biases), with the relative
  error of torch's own float32 run on each (`f32_norm_err`, `f32_data_err`).
"""
import base64
import json
import math
import os
from collections import OrderedDict

import numpy as np
import torch
import torchvision
from torch import nn
from torchvision.models import mobilenet_v3_large, resnet18, resnet50
from torchvision.models.detection.backbone_utils import _mobilenet_extractor, _resnet_fpn_extractor
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool
from torchvision.ops.misc import FrozenBatchNorm2d

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures')
M32 = 0xFFFFFFFF


def arr(t):
    t = t.detach().to(torch.float32).contiguous()
    return {'dtype': 'float32', 'shape': list(t.shape), 'data': base64.b64encode(t.numpy().tobytes()).decode()}


def fnv1a(name):
    h = 0x811C9DC5
    for b in name.encode():
        h = ((h ^ b) * 0x01000193) & M32
    return h


def generate(name, shape, lo, hi):
    """The named tensor's values (see the docstring); float32, as numpy."""
    n = int(np.prod(shape)) if len(shape) else 1
    with np.errstate(over='ignore'):
        h = np.uint32(fnv1a(name)) + np.arange(n, dtype=np.uint32) * np.uint32(0x9E3779B9)
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x85EBCA6B)
        h ^= h >> np.uint32(13)
        h *= np.uint32(0xC2B2AE35)
        h ^= h >> np.uint32(16)
    u = (h >> np.uint32(8)).astype(np.float64) / 16777216.0
    return (lo + (hi - lo) * u).astype(np.float32).reshape(shape)


def value_range(name, shape):
    leaf = name.rsplit('.', 1)[-1]
    if leaf == 'num_batches_tracked':
        return None
    if len(shape) == 4:
        fan_in = shape[1] * shape[2] * shape[3]
        b = math.sqrt(3 / fan_in)
        return -b, b
    if leaf == 'running_mean':
        return -0.2, 0.2
    if leaf == 'running_var':
        return 0.5, 1.5
    return None  # 1-D weight / bias: decided by the owning module


def norm_module_names(model):
    return {n for n, m in model.named_modules() if isinstance(m, (nn.BatchNorm2d, FrozenBatchNorm2d))}


def fill(model):
    """Writes the generated values into every tensor of model's state_dict; returns the specs."""
    norms = norm_module_names(model)
    specs = []
    sd = model.state_dict()
    with torch.no_grad():
        for name, t in sd.items():
            owner, leaf = name.rsplit('.', 1)
            r = value_range(name, list(t.shape))
            if r is None and leaf in ('weight', 'bias') and t.dim() == 1:
                if owner in norms:
                    r = (0.5, 1.5) if leaf == 'weight' else (-0.2, 0.2)
                else:
                    r = (-0.1, 0.1)
            if r is None:
                assert leaf == 'num_batches_tracked', name
                t.zero_()
                continue
            v = torch.from_numpy(generate(name, list(t.shape), r[0], r[1]))
            t.copy_(v.to(t.dtype))
            specs.append({'name': name, 'shape': list(t.shape), 'lo': r[0], 'hi': r[1], 'sum': float(v.double().sum())})
    return specs


def names_of(model):
    return [[n, list(t.shape)] for n, t in model.state_dict().items()]


def trainable_of(model):
    return [n for n, p in model.named_parameters() if p.requires_grad]


def rel(a, b):
    a, b = a.double(), b.double()
    return ((a - b).abs().max() / b.abs().max()).item()


def eval_outputs(model, x):
    """Body and FPN outputs in float64, checked against the float32 run."""
    outs = {}
    for dtype in (torch.float64, torch.float32):
        m = model.to(dtype).eval()
        with torch.no_grad():
            body = m.body(x.to(dtype))
            fpn = m.fpn(OrderedDict(body))
        outs[dtype] = (body, fpn)
    model.to(torch.float32)
    b64, f64 = outs[torch.float64]
    b32, f32 = outs[torch.float32]
    for k in b64:
        assert rel(b32[k], b64[k]) < 1e-5, f'body {k}: {rel(b32[k], b64[k])}'
    for k in f64:
        assert rel(f32[k], f64[k]) < 1e-5, f'fpn {k}: {rel(f32[k], f64[k])}'
    print('   float32 vs float64', {k: f'{rel(f32[k], f64[k]):.1e}' for k in f64})
    mags = {k: round(v.abs().max().item(), 3) for k, v in f64.items()}
    print('   levels', {k: list(v.shape) for k, v in f64.items()}, 'max |y|', mags)
    return {'body': {k: arr(v) for k, v in b64.items()}, 'fpn': {k: arr(v) for k, v in f64.items()}}


def train_grads(model, x, trainable_layers):
    """Train-mode forward/backward: gradient norms and the 1-D gradients (float64), with how far
    torch's own float32 run is from them."""
    runs = {}
    for dtype in (torch.float64, torch.float32):
        m = model.to(dtype).train()
        m.zero_grad(set_to_none=True)
        out = m(x.to(dtype))
        dys = []
        loss = 0
        loss_abs = 0
        for k, v in out.items():
            spec = {'name': f'dy.{k}', 'shape': list(v.shape), 'lo': -1.0, 'hi': 1.0}
            dys.append(spec)
            terms = v * torch.from_numpy(generate(spec['name'], spec['shape'], -1.0, 1.0)).to(dtype)
            loss = loss + terms.sum()
            loss_abs += terms.abs().sum().item()
        loss.backward()
        for n, p in m.named_parameters():
            assert p.requires_grad or p.grad is None, n
        runs[dtype] = ((loss.item(), loss_abs), dys, {n: p.grad.clone() for n, p in m.named_parameters() if p.requires_grad})
    model.to(torch.float32)
    loss, dys, g64 = runs[torch.float64]
    g32 = runs[torch.float32][2]
    grads = {}
    loose = []
    for n, g in g64.items():
        # A bias whose only way to the loss is linear layers into a training-mode BatchNorm2d has a
        # gradient that is exactly zero in exact arithmetic (the batch mean removes any per-channel
        # constant): float32 gives rounding noise there, far from the float64 ~0. `f32` records
        # how far torch's float32 run is, so a test can allow that much to a float32 backend.
        norm_err = abs(g32[n].double().norm().item() - g.norm().item()) / g.norm().item()
        entry = {'norm': g.norm().item(), 'f32_norm_err': norm_err}
        if g.dim() == 1:
            entry['data'] = arr(g)
            entry['f32_data_err'] = rel(g32[n], g)
        if max(norm_err, entry.get('f32_data_err', 0)) > 1e-5:
            loose.append(f'{n} {max(norm_err, entry.get("f32_data_err", 0)):.1e}')
        grads[n] = entry
    if loose:
        print(f'   float32 gradients off by > 1e-5: {", ".join(loose)}')
    # The loss is a sum of terms of both signs: its error is measured against sum |terms| (loss_abs).
    return {'trainable_layers': trainable_layers, 'loss': loss[0], 'loss_abs': loss[1], 'dy': dys, 'grads': grads}


def write(path, doc):
    path = os.path.join(ROOT, path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(doc, f)
        f.write('\n')
    print(f'wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)')


def resnet_fixture(arch, ctor, input_shape, train_cases):
    print(arch)
    build = {
        'batch': lambda k: _resnet_fpn_extractor(ctor(weights=None, norm_layer=nn.BatchNorm2d), k),
        'frozen': lambda k: _resnet_fpn_extractor(ctor(weights=None, norm_layer=FrozenBatchNorm2d), k),
    }
    doc = {'torch': torch.__version__, 'torchvision': torchvision.__version__, 'arch': arch,
           'names': {}, 'trainable': {}, 'eval': [], 'train': []}
    for norm, make in build.items():
        doc['names'][norm] = names_of(make(3))
        doc['trainable'][norm] = {str(k): trainable_of(make(k)) for k in range(6)}
    x_spec = {'name': 'input', 'shape': input_shape, 'lo': -1.0, 'hi': 1.0}
    doc['input'] = x_spec
    x = torch.from_numpy(generate('input', input_shape, -1.0, 1.0))
    model = build['batch'](5)
    doc['tensors'] = fill(model)
    # FrozenBatchNorm2d computes what BatchNorm2d does in eval mode, with the same eps (1e-5).
    frozen = build['frozen'](5)
    frozen.load_state_dict({k: v for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')})
    case = {'norms': ['batch', 'frozen'], 'eps': 1e-5, **eval_outputs(model, x)}
    with torch.no_grad():
        alt = frozen.double().eval()(x.double())
        ref = model.double().eval()(x.double())
        assert all(rel(alt[k], ref[k]) < 1e-12 for k in ref)
    model.float()
    frozen.float()
    doc['eval'].append(case)
    for norm, k in train_cases:
        m = build[norm](k)
        m.load_state_dict({n: v for n, v in model.state_dict().items() if norm == 'batch' or not n.endswith('num_batches_tracked')})
        doc['train'].append({'norm': norm, **train_grads(m, x, k)})
        print(f'   train {norm} trainable_layers {k}: {len(doc["train"][-1]["grads"])} gradients')
    return doc


def mobilenet_fixture(input_shape):
    print('mobilenet_v3_large')
    # fasterrcnn_mobilenet_v3_large_fpn passes norm_layer explicitly: nn.BatchNorm2d (eps 1e-5,
    # momentum 0.1) without pretrained weights, FrozenBatchNorm2d (eps 1e-5) with them. Only
    # mobilenet_v3_large() with norm_layer=None uses BatchNorm2d(eps=0.001, momentum=0.01).
    build = {
        'batch': lambda k: _mobilenet_extractor(mobilenet_v3_large(weights=None, norm_layer=nn.BatchNorm2d), True, k),
        'frozen': lambda k: _mobilenet_extractor(mobilenet_v3_large(weights=None, norm_layer=FrozenBatchNorm2d), True, k),
        'classification': lambda k: _mobilenet_extractor(mobilenet_v3_large(weights=None), True, k),
    }
    doc = {'torch': torch.__version__, 'torchvision': torchvision.__version__, 'arch': 'mobilenet_v3_large',
           'names': {}, 'trainable': {}, 'eval': [], 'train': []}
    for norm in ('batch', 'frozen'):
        doc['names'][norm] = names_of(build[norm](3))
        doc['trainable'][norm] = {str(k): trainable_of(build[norm](k)) for k in range(7)}
    probe = build['batch'](6)
    doc['return_layers'] = probe.body.return_layers
    doc['stage_indices'] = [0] + [i for i, b in enumerate(probe.body.values()) if getattr(b, '_is_cn', False)] + [len(probe.body) - 1]
    x_spec = {'name': 'input', 'shape': input_shape, 'lo': -1.0, 'hi': 1.0}
    doc['input'] = x_spec
    x = torch.from_numpy(generate('input', input_shape, -1.0, 1.0))
    model = build['batch'](6)
    doc['tensors'] = fill(model)
    sd = model.state_dict()
    doc['eval'].append({'norms': ['batch', 'frozen'], 'eps': 1e-5, **eval_outputs(model, x)})
    cls = build['classification'](6)
    cls.load_state_dict(sd)
    bn = [m for m in cls.modules() if isinstance(m, nn.BatchNorm2d)][0]
    assert (bn.eps, bn.momentum) == (0.001, 0.01)
    doc['eval'].append({'norms': ['batch'], 'eps': 0.001, **eval_outputs(cls, x)})
    for norm, k in (('batch', 6), ('frozen', 3)):
        m = build[norm](k)
        m.load_state_dict({n: v for n, v in sd.items() if norm == 'batch' or not n.endswith('num_batches_tracked')})
        doc['train'].append({'norm': norm, **train_grads(m, x, k)})
        print(f'   train {norm} trainable_layers {k}: {len(doc["train"][-1]["grads"])} gradients')
    return doc


def fpn_fixture():
    """A small FPN on its own, every gradient in full: odd sizes, so the top-down nearest
    upsampling has non-integer ratios (4x3 -> 7x6 -> 13x11)."""
    torch.manual_seed(14)
    cases = []
    for extra in (True, False):
        in_channels = [5, 8, 12]
        sizes = [(13, 11), (7, 6), (4, 3)]
        fpn = FeaturePyramidNetwork(in_channels, 6, extra_blocks=LastLevelMaxPool() if extra else None)
        with torch.no_grad():
            for p in fpn.parameters():
                p.copy_(torch.rand_like(p) * 1.2 - 0.6)
        xs = OrderedDict((f'feat{i}', torch.randn(2, c, h, w)) for i, (c, (h, w)) in enumerate(zip(in_channels, sizes)))
        res = {}
        for dtype in (torch.float64, torch.float32):
            m = fpn.to(dtype)
            m.zero_grad(set_to_none=True)
            xi = OrderedDict((k, v.to(dtype).clone().requires_grad_(True)) for k, v in xs.items())
            out = m(xi)
            if dtype == torch.float64:
                dys = {k: torch.randn(v.shape) for k, v in out.items()}
            sum((v * dys[k].to(dtype)).sum() for k, v in out.items()).backward()
            res[dtype] = (out, {k: v.grad for k, v in xi.items()}, {n: p.grad for n, p in m.named_parameters()})
        fpn.float()
        for a, b in zip(res[torch.float32], res[torch.float64]):
            for k in b:
                assert rel(a[k], b[k]) < 1e-5, k
        out, dx, dw = res[torch.float64]
        cases.append({
            'extra_blocks': 'maxpool' if extra else None, 'in_channels': in_channels, 'out_channels': 6,
            'names': names_of(fpn),
            'weights': {n: arr(t) for n, t in fpn.state_dict().items()},
            'inputs': {k: arr(v) for k, v in xs.items()},
            'outputs': {k: arr(v) for k, v in out.items()},
            'dy': {k: arr(v) for k, v in dys.items()},
            'dx': {k: arr(v) for k, v in dx.items()},
            'dw': {k: arr(v) for k, v in dw.items()},
        })
    return {'torch': torch.__version__, 'torchvision': torchvision.__version__, 'cases': cases}


if __name__ == '__main__':
    torch.manual_seed(0)
    torch.set_num_threads(1)
    write('detection/fpn.json', fpn_fixture())
    # Inputs with non-square sides, so that the top-down upsampling meets non-integer ratios
    # (resnet18: 2x2 -> 3x4; resnet50: 2x2 -> 3x4 -> 5x7 -> 10x14).
    write('models/resnet18-fpn.json', resnet_fixture('resnet18', resnet18, [2, 3, 48, 64], [('batch', 5), ('frozen', 3)]))
    write('models/resnet50-fpn.json', resnet_fixture('resnet50', resnet50, [1, 3, 40, 56], [('frozen', 3)]))
    write('models/mobilenetv3-fpn.json', mobilenet_fixture([2, 3, 96, 112]))
