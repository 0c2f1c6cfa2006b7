"""Golden fixtures for depthwise convolution (conv2d with groups = input channels; the dedicated
kernels of assembly/depthwise*.ts, shaders/depthwise.wgsl), PyTorch 1.13.

Run: /usr/bin/python3 scripts/fixtures-depthwise.py -> test/fixtures/nn/depthwise.json
Arrays are float32, base64 little-endian (the format test/helpers/fixtures.ts decodes). y and the
gradients of sum(y * dy) for a random dy are computed in float64 from the float32 inputs (the
exact answer), then stored as float32; the same computation in float32 must agree within 1e-5.
Inputs are fresh standard normals nudged away from zero, so no gradient is trivially zero.

Cases, MobileNetV3-like layers at small odd sizes, batch 2: 3×3 and 5×5 kernels, stride 1 and 2,
padding k // 2, with and without bias; a dilation-2 layer (padding 2, as torchvision's dilated
MobileNetV3 tail); a channel multiplier of 2 (cOut = 2 · cIn); a row wider than 32 outputs (the
wasm kernels' widest block) and a stride-2 layer with padding 1 on even and odd sizes.
"""
import base64
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20241207)

# name, channels in, multiplier, (h, w), kernel, stride, padding, dilation, bias
CASES = [
    ('3x3 stride 1, bias', 6, 1, (11, 13), 3, 1, 1, 1, True),
    ('3x3 stride 2, no bias', 6, 1, (13, 11), 3, 2, 1, 1, False),
    ('5x5 stride 1, bias', 4, 1, (9, 11), 5, 1, 2, 1, True),
    ('5x5 stride 2, no bias', 4, 1, (15, 13), 5, 2, 2, 1, False),
    ('3x3 dilation 2 padding 2, bias', 4, 1, (11, 9), 3, 1, 2, 2, True),
    ('3x3 stride 2, multiplier 2, bias', 3, 2, (9, 10), 3, 2, 1, 1, True),
    ('5x5 stride 1, 37 wide, bias', 2, 1, (7, 37), 5, 1, 2, 1, True),
    ('3x3 stride 2, 8x7 (even and odd), no bias', 5, 1, (8, 7), 3, 2, 1, 1, False),
]


def arr(t):
    t = t.detach().to(torch.float32).contiguous()
    return {'dtype': 'float32', 'shape': list(t.shape), 'data': base64.b64encode(t.numpy().tobytes()).decode()}


def randn(*shape):
    x = torch.randn(shape)
    return torch.where(x.abs() < 1e-3, torch.full_like(x, 1e-3) * torch.sign(x + 1e-9), x).to(torch.float32)


def run(dtype, x, w, b, dy, params):
    xi = x.to(dtype).clone().requires_grad_(True)
    wi = w.to(dtype).clone().requires_grad_(True)
    bi = b.to(dtype).clone().requires_grad_(True) if b is not None else None
    y = F.conv2d(xi, wi, bi, **params)
    (y * dy.to(dtype)).sum().backward()
    return {'y': y.detach(), 'dx': xi.grad, 'dw': wi.grad, **({'db': bi.grad} if bi is not None else {})}


cases = []
for name, c, mult, (h, w), k, stride, pad, dil, bias in CASES:
    params = {'stride': stride, 'padding': pad, 'dilation': dil, 'groups': c}
    x = randn(2, c, h, w)
    wt = randn(c * mult, 1, k, k) * 0.5
    b = randn(c * mult) if bias else None
    y32 = F.conv2d(x, wt, b, **params)
    dy = randn(*y32.shape)
    exact = run(torch.float64, x, wt, b, dy, params)
    single = run(torch.float32, x, wt, b, dy, params)
    for key, e in exact.items():
        err = ((single[key].double() - e).abs() / (1 + e.abs())).max().item()
        assert err < 1e-5, f'{name}: {key} float32 vs float64 differ by {err}'
    cases.append({'name': name, 'params': params, 'x': arr(x), 'w': arr(wt), **({'b': arr(b)} if bias else {}), 'dy': arr(dy),
                  'expected': {key: arr(v) for key, v in exact.items()}})

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'nn', 'depthwise.json')
with open(out, 'w') as f:
    json.dump({'torch': torch.__version__, 'cases': cases}, f)
    f.write('\n')
print(f'wrote {len(cases)} depthwise cases to {os.path.normpath(out)} ({os.path.getsize(out) // 1024} KiB)')
