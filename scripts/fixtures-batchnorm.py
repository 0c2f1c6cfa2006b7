"""Golden fixtures for BatchNorm2d and FrozenBatchNorm2d (src/nn/batchnorm.ts), PyTorch 1.13 /
torchvision 0.14.

Run: /usr/bin/python3 scripts/fixtures-batchnorm.py -> test/fixtures/nn/batchnorm.json
Arrays are float32, base64 little-endian (the format test/helpers/fixtures.ts decodes). Outputs
and gradients are computed in float64 from the float32 inputs (the exact answer), then stored as
float32; the same computation in float32 must agree within 1e-5, so no case sits on an edge.

Cases:
- train: BatchNorm2d in training mode on x [2,3,5,4] with random weight, bias, running stats;
  y, the running stats and num_batches_tracked after the step, and dx, dweight, dbias of
  sum(y * dy) for a random dy. A second training step (x2) checks the running-stat recursion.
- train-noaffine / train-momentum-none: affine=False; momentum=None (cumulative average).
- eval: the same module in eval mode (running stats) with input and parameter gradients.
- frozen: torchvision.ops.misc.FrozenBatchNorm2d forward (eps 1e-5 and 1e-3).
"""
import base64
import json
import os

import torch
import torchvision
from torchvision.ops.misc import FrozenBatchNorm2d

torch.manual_seed(2024)
SHAPE = (2, 3, 5, 4)
C = SHAPE[1]


def arr(t):
    t = t.detach().to(torch.float32).contiguous()
    return {'dtype': 'float32', 'shape': list(t.shape), 'data': base64.b64encode(t.numpy().tobytes()).decode()}


def rand_state(c):
    return {
        'weight': (torch.rand(c) * 1.5 + 0.25),
        'bias': torch.randn(c) * 0.5,
        'running_mean': torch.randn(c) * 0.3,
        'running_var': torch.rand(c) * 2 + 0.5,
    }


def run_bn(dtype, x, x2, dy, state, affine, momentum, training):
    bn = torch.nn.BatchNorm2d(C, eps=1e-5, momentum=momentum, affine=affine).to(dtype)
    with torch.no_grad():
        for k, v in state.items():
            if hasattr(bn, k) and getattr(bn, k) is not None:
                getattr(bn, k).copy_(v.to(dtype))
    bn.train(training)
    xi = x.to(dtype).clone().requires_grad_(True)
    y = bn(xi)
    (y * dy.to(dtype)).sum().backward()
    out = {'y': y, 'dx': xi.grad, 'running_mean': bn.running_mean.clone(), 'running_var': bn.running_var.clone(),
           'num_batches_tracked': bn.num_batches_tracked.clone()}
    if affine:
        out['dweight'] = bn.weight.grad
        out['dbias'] = bn.bias.grad
    if training:
        with torch.no_grad():
            out['y2'] = bn(x2.to(dtype))
        out['running_mean2'] = bn.running_mean.clone()
        out['running_var2'] = bn.running_var.clone()
    return out


def check(a, b, what):
    for k in a:
        if k == 'num_batches_tracked':
            continue
        err = ((a[k].double() - b[k].double()).abs() / (1 + b[k].double().abs())).max().item()
        assert err < 1e-5, f'{what}: {k} float32 vs float64 differ by {err}'


cases = []
for name, affine, momentum, training in [
    ('train', True, 0.1, True),
    ('train-noaffine', False, 0.1, True),
    ('train-momentum-none', True, None, True),
    ('eval', True, 0.1, False),
]:
    x = (torch.randn(SHAPE) * 2 + 0.7).to(torch.float32)
    x2 = (torch.randn(SHAPE) * 0.5 - 0.3).to(torch.float32)
    dy = torch.randn(SHAPE).to(torch.float32)
    state = rand_state(C)
    r64 = run_bn(torch.float64, x, x2, dy, state, affine, momentum, training)
    r32 = run_bn(torch.float32, x, x2, dy, state, affine, momentum, training)
    check(r32, r64, name)
    case = {'name': name, 'affine': affine, 'momentum': momentum, 'training': training, 'eps': 1e-5,
            'x': arr(x), 'dy': arr(dy), 'state': {k: arr(v) for k, v in state.items()},
            'expected': {k: arr(v) for k, v in r64.items() if k != 'num_batches_tracked'},
            'num_batches_tracked': int(r64['num_batches_tracked'].item())}
    if training:
        case['x2'] = arr(x2)
    cases.append(case)

frozen = []
for eps in [1e-5, 1e-3]:
    x = (torch.randn(SHAPE) * 1.5 - 0.2).to(torch.float32)
    state = rand_state(C)
    outs = {}
    for dtype in (torch.float64, torch.float32):
        m = FrozenBatchNorm2d(C, eps=eps).to(dtype)
        for k, v in state.items():
            getattr(m, k).copy_(v.to(dtype))
        outs[dtype] = m(x.to(dtype))
    err = ((outs[torch.float32].double() - outs[torch.float64]).abs() / (1 + outs[torch.float64].abs())).max().item()
    assert err < 1e-5, f'frozen eps {eps}: {err}'
    frozen.append({'eps': eps, 'x': arr(x), 'state': {k: arr(v) for k, v in state.items()}, 'y': arr(outs[torch.float64])})

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'nn', 'batchnorm.json')
with open(out, 'w') as f:
    json.dump({'torch': torch.__version__, 'torchvision': torchvision.__version__, 'shape': list(SHAPE),
               'batchnorm': cases, 'frozen': frozen}, f)
    f.write('\n')
print(f'wrote {len(cases)} BatchNorm2d and {len(frozen)} FrozenBatchNorm2d cases to {out}')
