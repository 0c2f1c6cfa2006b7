"""Golden fixtures for the optimiser: torch.optim.SGD's trajectory in float32, PyTorch 1.13.

Run: /usr/bin/python3 scripts/fixtures-optim.py -> test/fixtures/nn/sgd.json
Each case: options, the initial parameter, one gradient per step, the parameter after each step.
The parameter has 103 elements (not a multiple of 4, so the SIMD kernels' tails are exercised).
"""
import json
import os

import torch

torch.manual_seed(5)
cases = []
for name, opts in [
    ('plain', dict(lr=0.1)),
    ('decay', dict(lr=0.05, weight_decay=0.01)),
    ('momentum', dict(lr=0.02, momentum=0.9)),
    ('momentum-decay', dict(lr=0.02, momentum=0.9, weight_decay=1e-4)),
    ('nesterov', dict(lr=0.03, momentum=0.8, weight_decay=0.001, nesterov=True)),
]:
    p0 = torch.randn(103, dtype=torch.float32)
    p = torch.nn.Parameter(p0.clone())
    opt = torch.optim.SGD([p], **opts)
    grads, after = [], []
    for _ in range(4):
        g = torch.randn(103, dtype=torch.float32) * 3
        p.grad = g.clone()
        opt.step()
        grads.append(g.tolist())
        after.append(p.detach().clone().tolist())
    cases.append({'name': name, 'opts': opts, 'p0': p0.tolist(), 'grads': grads, 'after': after})

out = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'nn', 'sgd.json')
with open(out, 'w') as f:
    json.dump({'torch': torch.__version__, 'cases': cases}, f)
    f.write('\n')
print(f'wrote {len(cases)} cases to {out}')
