"""Golden fixtures for the feature-distillation losses PKD and CWD (src/distillation/feature-losses.ts),
PyTorch 1.13.

Run: /usr/bin/python3 scripts/fixtures-feature-kd.py -> test/fixtures/distillation/feature-losses.json
Arrays are float32, base64 little-endian (the format test/helpers/fixtures.ts decodes). Loss values
and gradients are computed in float64 from the float32 inputs (the exact answer), then stored as
float32; the same computation in float32 must agree within 1e-5, so no case sits on an edge.

The formulas are those of mmrazor's losses, written out here:
- PKD (Cao et al. 2022, mmrazor PKDLoss with loss_weight 1): each channel of the student map S and
  the teacher map T, both [N, C, H, W], standardised over N, H, W as (x - mean) / (std + 1e-6),
  std unbiased (torch.std's default); loss = mse_loss(norm(S), norm(T)) / 2.
- CWD (Shu et al. 2021, mmrazor ChannelWiseDivergence with loss_weight 1): per (n, c) a softmax over
  the H*W positions at temperature tau; loss = tau^2 * sum(p_T * (log p_T - log p_S)) / (N * C).

Each case stores S, T, the loss and d(loss)/dS; the teacher is a constant (no gradient). Inputs are
fresh random values (never zeros), with the teacher on another scale and offset than the student,
in several shapes with N = 2, C >= 3 and H != W; CWD at tau 1 and tau 2. One PKD case has a
constant channel on each side: PyTorch's std backward masks a zero std, so the student's gradient
there is finite (and large).
"""
import base64
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(2025)

SHAPES = [(2, 3, 5, 4), (2, 6, 3, 7), (3, 4, 6, 5), (1, 5, 4, 3)]


def arr(t):
    t = t.detach().to(torch.float32).contiguous()
    return {'dtype': 'float32', 'shape': list(t.shape), 'data': base64.b64encode(t.numpy().tobytes()).decode()}


def pkd_norm(x):
    n, c, h, w = x.shape
    x = x.permute(1, 0, 2, 3).reshape(c, -1)
    mean = x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, keepdim=True)  # unbiased
    x = (x - mean) / (std + 1e-6)
    return x.reshape(c, n, h, w).permute(1, 0, 2, 3)


def pkd(s, t):
    return F.mse_loss(pkd_norm(s), pkd_norm(t)) / 2


def cwd(s, t, tau):
    n, c, h, w = s.shape
    p_t = F.softmax(t.reshape(-1, h * w) / tau, dim=1)
    log_p_t = F.log_softmax(t.reshape(-1, h * w) / tau, dim=1)
    log_p_s = F.log_softmax(s.reshape(-1, h * w) / tau, dim=1)
    return torch.sum(p_t * log_p_t - p_t * log_p_s) * tau ** 2 / (n * c)


def run(fn, dtype, s, t):
    si = s.to(dtype).clone().requires_grad_(True)
    ti = t.to(dtype).clone().requires_grad_(True)
    loss = fn(si, ti.detach())
    g, = torch.autograd.grad(loss, si)
    return loss, g


def fresh(shape, scale, offset):
    x = torch.randn(shape) * scale + offset
    # Never exactly zero (a float32 draw hardly ever is, but the fixture says so).
    return torch.where(x == 0, torch.full_like(x, 0.25), x).to(torch.float32)


def make(kind, fn, shape, tau=None, constant=False):
    s = fresh(shape, 1.3, 0.4)
    t = fresh(shape, 2.5, -0.8)
    if constant:
        # A constant student channel (as a dead ReLU channel reaching the loss unadapted) and a
        # constant teacher channel; 0.5 keeps every sum exact in float32, so the std is exactly 0.
        s[:, 1] = 0.5
        t[:, 2] = 0.5
    loss64, g64 = run(fn, torch.float64, s, t)
    loss32, g32 = run(fn, torch.float32, s, t)
    err_l = abs(loss32.item() - loss64.item()) / (1 + abs(loss64.item()))
    err_g = ((g32.double() - g64).abs() / (g64.abs().max() + 1e-12)).max().item()
    assert err_l < 1e-5 and err_g < 1e-5, f'{kind} {shape}: float32 vs float64 differ by {err_l}, {err_g}'
    assert loss64.item() > 0
    name = f"{kind} {'x'.join(map(str, shape))}" + (f' tau {tau}' if tau is not None else '') + (' constant channels' if constant else '')
    case = {'name': name, 'shape': list(shape), 'student': arr(s), 'teacher': arr(t),
            'loss': loss64.item(), 'grad': arr(g64)}
    if tau is not None:
        case['tau'] = tau
    return case


pkd_cases = [make('pkd', pkd, shape) for shape in SHAPES] + [make('pkd', pkd, (2, 4, 5, 3), constant=True)]
cwd_cases = [make('cwd', lambda s, t, tau=tau: cwd(s, t, tau), shape, tau) for shape in SHAPES for tau in (1.0, 2.0)]

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'distillation', 'feature-losses.json')
with open(out, 'w') as f:
    json.dump({'torch': torch.__version__, 'pkd': pkd_cases, 'cwd': cwd_cases}, f)
    f.write('\n')
print(f'wrote {len(pkd_cases)} PKD and {len(cwd_cases)} CWD cases to {out}')
