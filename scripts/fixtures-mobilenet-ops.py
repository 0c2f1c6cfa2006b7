"""Golden fixtures for the MobileNetV3 / FPN layers composed from engine ops: relu6, hardsigmoid,
hardswish (src/nn/activations.ts), adaptive average pooling and nearest interpolation
(src/nn/resample.ts), PyTorch 1.13.

Run: /usr/bin/python3 scripts/fixtures-mobilenet-ops.py -> test/fixtures/nn/mobilenet-ops.json
Arrays are float32, base64 little-endian (the format test/helpers/fixtures.ts decodes). Outputs
and gradients are computed in float64 from the float32 inputs, then stored as float32; the same
computation in float32 must agree within 1e-5.

Cases:
- activations: F.relu6, F.hardsigmoid, F.hardswish on random x [2,3,5,4] (scale 4, so every
  linear piece is hit) with y and dx of sum(y * dy) for a random dy; and on the kink points
  x = -3, 0, 3, 6 (and their neighbours, -inf, +inf, NaN) with dy = 1: PyTorch's own gradient
  conventions there, in float32 (e.g. hardswish'(-3) = -0.5, hardswish'(3) = 1.5, relu6'(0) =
  relu6'(6) = 0, relu6'(NaN) = 1, hardswish(-inf) = NaN).
- adaptive: F.adaptive_avg_pool2d for input/output sizes (7x5 -> 3x2, 7x5 -> 1x1, 6x4 -> 3x2,
  5x7 -> 4x6, 3x3 -> 5x4 (bins overlap and repeat)), y and dx.
- nearest: F.interpolate(mode='nearest', size=...) for 5x3 -> 9x7, 4x4 -> 8x8 (x2),
  6x5 -> 3x2 (down), 5x3 -> 5x3 (identity), 7x7 -> 25x25, 13x11 -> 7x17, y and dx (the gradient
  sums into the source pixels); and 26x14 -> 22x46, where PyTorch's float32 index arithmetic
  (floorf(dst * (float)(in / out))) differs from the exact floor(dst * in / out): row 11 reads
  source row 12 (exact: 13), column 23 reads source column 6 (exact: 7).
"""
import base64
import json
import math
import os

import torch
import torch.nn.functional as F

torch.manual_seed(1313)


def arr(t):
    t = t.detach().to(torch.float32).contiguous()
    return {'dtype': 'float32', 'shape': list(t.shape), 'data': base64.b64encode(t.numpy().tobytes()).decode()}


def run(fn, x, dy, dtype):
    xi = x.to(dtype).clone().requires_grad_(True)
    y = fn(xi)
    (y * dy.to(dtype)).sum().backward()
    return y.detach(), xi.grad.detach()


def both(fn, x, dy, what):
    y64, dx64 = run(fn, x, dy, torch.float64)
    y32, dx32 = run(fn, x, dy, torch.float32)
    for a, b, k in [(y32, y64, 'y'), (dx32, dx64, 'dx')]:
        a, b = a.double(), b.double()
        same_nan = torch.equal(torch.isnan(a), torch.isnan(b))
        fin = torch.isfinite(b)
        err = ((a[fin] - b[fin]).abs() / (1 + b[fin].abs())).max().item() if fin.any() else 0.0
        assert same_nan and err < 1e-5, f'{what}: {k} float32 vs float64 differ by {err}'
    return y64, dx64


ACTS = {'relu6': F.relu6, 'hardsigmoid': F.hardsigmoid, 'hardswish': F.hardswish}
SHAPE = (2, 3, 5, 4)
KINKS = torch.tensor([-3.0, 0.0, 3.0, 6.0, -3.5, -2.5, -0.5, 0.5, 2.5, 3.5, 5.5, 6.5, -float('inf'), float('inf'), float('nan')],
                     dtype=torch.float32)

activations = []
for name, fn in ACTS.items():
    x = (torch.randn(SHAPE) * 4).to(torch.float32)
    dy = torch.randn(SHAPE).to(torch.float32)
    y, dx = both(fn, x, dy, name)
    # The kinks in float32, the dtype kdet computes in. PyTorch 1.13's float64 kernel disagrees
    # with its float32 one at exactly one point: hardswish'(3) is 1.0 in float64, 1.5 in float32
    # (the float32 value is the documented x/3 + 1/2 branch for -3 <= x <= 3).
    ky, kdx = run(fn, KINKS, torch.ones_like(KINKS), torch.float32)
    ky64, kdx64 = run(fn, KINKS, torch.ones_like(KINKS), torch.float64)
    differ = ~torch.isclose(kdx64, kdx.double(), equal_nan=True)
    assert torch.allclose(ky64, ky.double(), equal_nan=True), name
    assert KINKS[differ].tolist() == ([3.0] if name == 'hardswish' else []), f'{name}: float64/float32 gradients differ at {KINKS[differ]}'
    activations.append({'name': name, 'x': arr(x), 'dy': arr(dy), 'y': arr(y), 'dx': arr(dx),
                        'kinks': {'x': arr(KINKS), 'y': arr(ky), 'dx': arr(kdx)}})

adaptive = []
for (h, w), (oh, ow) in [((7, 5), (3, 2)), ((7, 5), (1, 1)), ((6, 4), (3, 2)), ((5, 7), (4, 6)), ((3, 3), (5, 4))]:
    x = torch.randn(2, 3, h, w).to(torch.float32)
    dy = torch.randn(2, 3, oh, ow).to(torch.float32)
    y, dx = both(lambda t: F.adaptive_avg_pool2d(t, (oh, ow)), x, dy, f'adaptive {h}x{w}->{oh}x{ow}')
    adaptive.append({'size': [oh, ow], 'x': arr(x), 'dy': arr(dy), 'y': arr(y), 'dx': arr(dx)})


def torch_nearest_index(i, n_in, n_out):
    # PyTorch's nearest_idx: float32 scale in/out, floorf(dst * scale), clamped to n_in - 1.
    if n_in == n_out:
        return i
    if n_out == 2 * n_in:
        return i >> 1
    scale = torch.tensor(n_in / n_out, dtype=torch.float32)
    return min(int(math.floor((torch.tensor(float(i), dtype=torch.float32) * scale).item())), n_in - 1)


nearest = []
for (h, w), (oh, ow) in [((5, 3), (9, 7)), ((4, 4), (8, 8)), ((6, 5), (3, 2)), ((5, 3), (5, 3)), ((7, 7), (25, 25)), ((13, 11), (7, 17)),
                          ((26, 14), (22, 46))]:
    x = torch.randn(2, 3, h, w).to(torch.float32)
    dy = torch.randn(2, 3, oh, ow).to(torch.float32)
    # PyTorch's nearest index arithmetic is float32 for float32 tensors but float64 for float64
    # ones, so the float32 run is the reference here (y is an exact copy), checked against the
    # index rule; dx is that rule's scatter-sum of dy in float64.
    y, dx32 = run(lambda t: F.interpolate(t, size=(oh, ow), mode='nearest'), x, dy, torch.float32)
    rows = [torch_nearest_index(i, h, oh) for i in range(oh)]
    cols = [torch_nearest_index(j, w, ow) for j in range(ow)]
    assert torch.equal(y, x[:, :, rows][:, :, :, cols]), f'nearest index rule {h}x{w}->{oh}x{ow}'
    dx = torch.zeros(2, 3, h, w, dtype=torch.float64)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            dx[:, :, r, c] += dy[:, :, i, j].double()
    err = ((dx32.double() - dx).abs() / (1 + dx.abs())).max().item()
    assert err < 1e-5, f'nearest {h}x{w}->{oh}x{ow}: dx {err}'
    nearest.append({'size': [oh, ow], 'x': arr(x), 'dy': arr(dy), 'y': arr(y), 'dx': arr(dx), 'rows': rows, 'cols': cols})

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'nn', 'mobilenet-ops.json')
with open(out, 'w') as f:
    json.dump({'torch': torch.__version__, 'activations': activations, 'adaptive': adaptive, 'nearest': nearest}, f)
    f.write('\n')
print(f'wrote {len(activations)} activation, {len(adaptive)} adaptive-pool and {len(nearest)} nearest cases to {out}')
