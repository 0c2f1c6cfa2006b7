"""Golden fixtures for the distillation losses, computed with PyTorch 1.13 from the paper's formulas.

Run: /usr/bin/python3 scripts/fixtures-distill.py -> test/fixtures/distillation/losses.json
Each case stores inputs, the loss value and d(loss)/d(student inputs).
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(11)
cases = []


def t(x):
    return x.detach().flatten().tolist()


def classification_case(kind, n, c, temp, mu, wbg, factor):
    """μ·hard CE + (1 − μ)·factor·weighted soft CE on fresh random logits (factor: 1, or T²)."""
    zs = torch.randn(n, c, dtype=torch.float64, requires_grad=True)
    zt = torch.randn(n, c, dtype=torch.float64) * 2
    y = torch.randint(0, c, (n,))
    w = torch.ones(c, dtype=torch.float64)
    w[0] = wbg
    pt = F.softmax(zt / temp, 1)
    log_ps = F.log_softmax(zs / temp, 1)
    soft = -(w * pt * log_ps).sum(1).mean() * factor
    hard = F.cross_entropy(zs, y)
    total = mu * hard + (1 - mu) * soft
    g, = torch.autograd.grad(total, zs)
    cases.append({"kind": kind, "n": n, "c": c, "temperature": temp, "mu": mu, "wbg": wbg,
                  "zs": t(zs), "zt": t(zt), "labels": y.tolist(), "soft": soft.item(), "hard": hard.item(),
                  "total": total.item(), "grad": t(g)})


# Weighted soft CE + hard CE, several temperatures, mu values and class counts.
for n, c, temp, mu, wbg in [(7, 2, 1.0, 0.5, 1.5), (9, 5, 2.0, 0.3, 1.5), (6, 4, 1.0, 1.0, 1.0), (5, 3, 0.5, 0.0, 2.0)]:
    classification_case("classification", n, c, temp, mu, wbg, 1.0)

# Bounded regression: some boxes above the teacher's error, some below, some within the margin.
for p, margin, nu, normaliser in [(8, 0.0, 0.5, 20), (10, 0.5, 0.5, 32), (6, 0.0, 1.0, 6)]:
    y = torch.randn(p, 4, dtype=torch.float64)
    rt = y + torch.randn(p, 4, dtype=torch.float64) * 0.5
    rs = (y + torch.randn(p, 4, dtype=torch.float64) * 0.5).requires_grad_(True)
    es = ((rs - y) ** 2).sum(1)
    et = ((rt - y) ** 2).sum(1)
    lb = torch.where(es + margin > et, es, torch.zeros_like(es))
    sl1 = F.smooth_l1_loss(rs, y, beta=1 / 9, reduction="sum") / normaliser
    bounded = lb.sum() / normaliser
    total = sl1 + nu * bounded
    g, = torch.autograd.grad(total, rs)
    cases.append({"kind": "regression", "p": p, "margin": margin, "nu": nu, "normaliser": normaliser,
                  "rs": t(rs), "rt": t(rt), "y": t(y), "active": (es + margin > et).int().tolist(),
                  "smoothL1": sl1.item(), "bounded": bounded.item(), "total": total.item(), "grad": t(g)})

# Hint loss through a 1x1 adaptation conv: L2 mean, L2 sum-per-image, L1 mean, fine-grained mask.
for norm, reduction, masked in [("l2", "mean", False), ("l2", "sum-per-image", False), ("l1", "mean", False), ("l2", "mean", True)]:
    v = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    w = (torch.randn(6, 3, 1, 1, dtype=torch.float64) * 0.5).requires_grad_(True)
    z = torch.randn(2, 6, 4, 5, dtype=torch.float64)
    a = F.conv2d(v, w)
    d = a - z
    e = d.abs() if norm == "l1" else d ** 2
    mask = (torch.rand(2, 1, 4, 5) > 0.6).double()
    if masked:
        loss = (e * mask).sum() / (2 * (mask.sum() + 1e-6))
    elif reduction == "mean":
        loss = e.mean()
    else:
        loss = e.sum() / 2
    gv, gw = torch.autograd.grad(loss, [v, w])
    cases.append({"kind": "hint", "norm": norm, "reduction": reduction, "masked": masked, "v": t(v), "w": t(w), "z": t(z),
                  "mask": t(mask), "loss": loss.item(), "gradV": t(gv), "gradW": t(gw)})

# Beyond the paper: both teacher regression terms with a smooth-L1 distance (beta 1/9, summed over
# the 4 coordinates) in place of the squared L2. Errors are drawn at two scales so that coordinates
# fall on both sides of beta. Appended last so the cases above keep their random draws.
for mode, p, margin, nu, normaliser in [("bounded", 10, 0.0, 0.5, 24), ("bounded", 8, 0.3, 1.0, 8), ("l2", 7, 0.0, 0.5, 16)]:
    y = torch.randn(p, 4, dtype=torch.float64)
    scale = torch.where(torch.rand(p, 4) > 0.5, 0.5, 0.05).double()
    rt = y + torch.randn(p, 4, dtype=torch.float64) * scale
    rs = (y + torch.randn(p, 4, dtype=torch.float64) * scale.flip(0)).requires_grad_(True)
    beta = 1 / 9
    sl1 = F.smooth_l1_loss(rs, y, beta=beta, reduction="sum") / normaliser
    if mode == "bounded":
        es = F.smooth_l1_loss(rs, y, beta=beta, reduction="none").sum(1)
        et = F.smooth_l1_loss(rt, y, beta=beta, reduction="none").sum(1)
        active = es + margin > et
        per_box = torch.where(active, es, torch.zeros_like(es))
    else:
        per_box = F.smooth_l1_loss(rs, rt, beta=beta, reduction="none").sum(1)
        active = torch.ones(p, dtype=torch.bool)
    bounded = per_box.sum() / normaliser
    total = sl1 + nu * bounded
    g, = torch.autograd.grad(total, rs)
    cases.append({"kind": "regression-smooth-l1", "mode": mode, "p": p, "margin": margin, "nu": nu, "normaliser": normaliser,
                  "rs": t(rs), "rt": t(rt), "y": t(y), "active": active.int().tolist(),
                  "smoothL1": sl1.item(), "bounded": bounded.item(), "total": total.item(), "grad": t(g)})

# Hinton et al.'s T² factor on the soft term (beyond the paper): appended, so the cases above
# keep their random draws. At T = 1 the factor is 1.
for n, c, temp, mu, wbg in [(8, 5, 2.0, 0.5, 1.5), (6, 11, 4.0, 0.5, 1.5), (5, 3, 1.0, 0.5, 1.5)]:
    classification_case("classification-t2", n, c, temp, mu, wbg, temp ** 2)

path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "distillation", "losses.json")
with open(path, "w") as f:
    json.dump({"cases": cases}, f)
print("wrote", path, len(cases), "cases")
