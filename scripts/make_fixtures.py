#!/usr/bin/env python3
"""PyTorch golden fixtures for kdet's ops: writes test/fixtures/ops/<family>.json.

Run with PyTorch 1.13 / torchvision 0.14 (`npm run fixtures`). Each case holds float32 inputs,
the op's output, a random upstream gradient `dy` and the gradient of sum(y * dy) with respect to
every differentiable input. Float32 arrays are stored as base64 little-endian bytes.

The reference values are computed in float64 from the float32 inputs (the exact answer to the
precision kdet's tests can resolve) and every case is recomputed in float32: the two must agree
within CROSS_PRECISION_RTOL, so no fixture sits on a knife edge where float32 rounding flips a
discrete decision (a roi_align sampling grid, an NMS threshold, a max-pool argmax).
test/ops/torch-fixtures.test.ts replays every case on each backend.
"""
import os
import sys


def _reexec_with_torch():
    """`python3` may be a pyenv interpreter without torch; Debian's /usr/bin/python3 has it."""
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError:
        debian = '/usr/bin/python3'
        if os.path.realpath(sys.executable) != os.path.realpath(debian) and os.path.exists(debian):
            os.execv(debian, [debian, *sys.argv])
        sys.exit('make_fixtures.py needs torch and torchvision: apt-get install python3-torch python3-torchvision')


_reexec_with_torch()

import base64  # noqa: E402
import json  # noqa: E402
import zlib  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402
from torchvision.ops import box_iou, nms, roi_align, roi_pool  # noqa: E402

OUT_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'ops'))
CROSS_PRECISION_RTOL = 2e-5


class Inp:
    """One positional input of an op. `grad`: whether gradients are recorded for it."""

    def __init__(self, name, value, grad=True):
        self.name = name
        self.value = value
        self.grad = grad and value.dtype == torch.float32


class Case:
    def __init__(self, op, name, fn, inputs, params=None, rtol=None, why=None):
        self.op = op
        self.name = name
        self.fn = fn
        self.inputs = inputs
        self.params = params or {}
        self.rtol = rtol
        self.why = why


# ---------------------------------------------------------------- random inputs (seeded per case)

class Gen:
    def __init__(self, name):
        self.g = torch.Generator().manual_seed(zlib.crc32(name.encode()))

    def randn(self, *shape):
        x = torch.randn(shape, generator=self.g)
        # Never exact zeros: nudge any |x| < 1e-3 away (kinks and divisions stay clear).
        return torch.where(x.abs() < 1e-3, torch.full_like(x, 1e-3) * torch.sign(x + 1e-9), x)

    def uniform(self, lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(shape, generator=self.g)

    def away(self, lo, hi, *shape):
        """|x| in [lo, hi] with a random sign: clear of kinks at 0."""
        sign = torch.where(torch.rand(shape, generator=self.g) < 0.5, -1.0, 1.0)
        return sign * self.uniform(lo, hi, *shape)

    def distinct(self, *shape, spacing=0.05):
        """Distinct values at least `spacing` apart in random order: no ties for max/argmax."""
        n = int(np.prod(shape))
        perm = torch.randperm(n, generator=self.g).to(torch.float32)
        return ((perm - n / 2) * spacing + 0.013).reshape(shape)

    def ints(self, lo, hi, *shape):
        return torch.randint(lo, hi, shape, generator=self.g, dtype=torch.int32)

    def choice01(self, *shape):
        return (torch.rand(shape, generator=self.g) < 0.5).to(torch.float32)

    def probs(self, n, c):
        return torch.softmax(self.randn(n, c) * 2, dim=1)


# ---------------------------------------------------------------- cases


def unary_cases():
    cases = []
    specs = {
        'neg': (torch.neg, lambda g: g.randn(3, 5)),
        'exp': (torch.exp, lambda g: g.randn(3, 5)),
        'log': (torch.log, lambda g: g.uniform(0.1, 4, 3, 5)),
        'sqrt': (torch.sqrt, lambda g: g.uniform(0.1, 4, 3, 5)),
        'abs': (torch.abs, lambda g: g.away(0.05, 2, 3, 5)),
        'relu': (torch.relu, lambda g: g.away(0.05, 2, 3, 5)),
        'sigmoid': (torch.sigmoid, lambda g: g.randn(3, 5) * 3),
        'tanh': (torch.tanh, lambda g: g.randn(3, 5) * 2),
        'square': (torch.square, lambda g: g.randn(3, 5)),
        'reciprocal': (torch.reciprocal, lambda g: g.away(0.2, 3, 3, 5)),
        'sign': (torch.sign, lambda g: g.randn(3, 5)),
    }
    for op, (fn, make) in specs.items():
        name = f'{op} [3,5]'
        cases.append(Case(op, name, fn, [Inp('x', make(Gen(name)))]))
    # Exact kinks: PyTorch's choices there are the spec (relu'(0) = 0, abs'(0) = sgn(0) = 0).
    kinks = torch.tensor([-1.5, -0.0, 0.0, 0.75, 0.0, 2.0])
    cases.append(Case('relu', 'relu at exact zeros', torch.relu, [Inp('x', kinks.clone())]))
    cases.append(Case('abs', 'abs at exact zeros', torch.abs, [Inp('x', kinks.clone())]))
    cases.append(Case('sign', 'sign at exact zeros', torch.sign, [Inp('x', kinks.clone())]))
    cases.append(Case('exp', 'exp scalar tensor', torch.exp, [Inp('x', Gen('exp0').randn())]))

    name = 'clamp [4,6]'
    cases.append(Case('clamp', name, lambda x: torch.clamp(x, -0.5, 0.75), [Inp('x', Gen(name).randn(4, 6))],
                      {'lo': -0.5, 'hi': 0.75}))
    # Values exactly on the bounds: the gradient passes there (lo <= x <= hi), as PyTorch.
    on_bounds = torch.tensor([-0.5, 0.75, -0.5001, 0.7501, 0.1, -2.0])
    cases.append(Case('clamp', 'clamp with x on the bounds', lambda x: torch.clamp(x, -0.5, 0.75),
                      [Inp('x', on_bounds)], {'lo': -0.5, 'hi': 0.75}))
    name = 'clamp lower bound only'
    cases.append(Case('clamp', name, lambda x: torch.clamp(x, min=0.1), [Inp('x', Gen(name).randn(2, 7))],
                      {'lo': 0.1, 'hi': None}))
    return cases


BINARY = {
    'add': torch.add, 'sub': torch.sub, 'mul': torch.mul, 'div': torch.div,
    'pow': torch.pow, 'maximum': torch.maximum, 'minimum': torch.minimum,
}


def binary_cases():
    cases = []
    shapes = [([3, 1, 4], [2, 4]), ([2, 3], []), ([4], [3, 1]), ([2, 3], [2, 3]), ([1, 5], [3, 1])]
    for op, fn in BINARY.items():
        for sa, sb in shapes:
            name = f'{op} {sa}x{sb}'
            g = Gen(name)
            if op == 'pow':
                a, b = g.uniform(0.3, 2.5, *sa), g.uniform(-1.5, 2.5, *sb)
            elif op == 'div':
                a, b = g.randn(*sa), g.away(0.3, 2.5, *sb)
            else:
                a, b = g.randn(*sa), g.randn(*sb)
            cases.append(Case(op, name, fn, [Inp('a', a), Inp('b', b)]))
        name = f'{op} tensor-number'
        g = Gen(name)
        a = g.uniform(0.3, 2, 3, 4) if op == 'pow' else g.randn(3, 4)
        cases.append(Case(op, name, lambda a, op=op: BINARY[op](a, torch.tensor(1.75, dtype=a.dtype)),
                          [Inp('a', a)], {'number': 'b', 'value': 1.75}))
        name = f'{op} number-tensor'
        g = Gen(name)
        b = g.away(0.3, 2, 3, 4)
        cases.append(Case(op, name, lambda b, op=op: BINARY[op](torch.tensor(1.25, dtype=b.dtype), b),
                          [Inp('b', b)], {'number': 'a', 'value': 1.25}))
    # Ties: torch.maximum / minimum give each side half the gradient.
    a = torch.tensor([[1.0, 2.0, -3.0], [0.5, 0.5, 4.0]])
    b = torch.tensor([1.0, -2.0, -3.0])
    cases.append(Case('maximum', 'maximum with ties (broadcast)', torch.maximum, [Inp('a', a), Inp('b', b)]))
    cases.append(Case('minimum', 'minimum with ties (broadcast)', torch.minimum, [Inp('a', a.clone()), Inp('b', b.clone())]))
    # Negative base with an integer exponent: defined, and d/da = b·a^(b−1).
    name = 'pow negative base, integer exponent'
    cases.append(Case('pow', name, lambda a: torch.pow(a, torch.tensor(3.0, dtype=a.dtype)),
                      [Inp('a', Gen(name).randn(2, 5))], {'number': 'b', 'value': 3.0}))
    # A zero base: PyTorch defines d/db = 0 where a == 0 and b >= 0, and d/da = 0 where b == 0.
    a0 = torch.tensor([0.0, 0.0, 0.0, 1.5, 2.0])
    b0 = torch.tensor([2.0, 1.0, 0.0, 0.0, 0.5])
    cases.append(Case('pow', 'pow with zero base', torch.pow, [Inp('a', a0), Inp('b', b0)]))

    for op, fn in {'greater': torch.gt, 'greaterEqual': torch.ge, 'less': torch.lt, 'lessEqual': torch.le,
                   'equal': torch.eq, 'notEqual': torch.ne}.items():
        name = f'{op} with ties'
        g = Gen(name)
        a = torch.round(g.randn(3, 4) * 2) / 2
        b = torch.round(g.randn(4) * 2) / 2
        cases.append(Case(op, name, lambda a, b, fn=fn: fn(a, b).to(a.dtype), [Inp('a', a, False), Inp('b', b, False)]))

    name = 'where broadcast'
    g = Gen(name)
    cases.append(Case('where', name, lambda c, a, b: torch.where(c != 0, a, b),
                      [Inp('cond', g.choice01(3, 1), False), Inp('a', g.randn(3, 4)), Inp('b', g.randn(4))]))
    name = 'where same shape'
    g = Gen(name)
    cases.append(Case('where', name, lambda c, a, b: torch.where(c != 0, a, b),
                      [Inp('cond', g.choice01(2, 5), False), Inp('a', g.randn(2, 5)), Inp('b', g.randn(2, 5))]))
    return cases


def reduce_cases():
    cases = []
    x_shape = (3, 4, 5)
    fns = {'sum': torch.sum, 'mean': torch.mean, 'max': torch.amax, 'min': torch.amin}
    for op, fn in fns.items():
        for axes, keep in [(None, False), (0, False), (-1, True), ([0, 2], False), ([0, 2], True), ([1, 2], False)]:
            name = f'{op} axes={axes} keepDims={keep}'
            g = Gen(name)
            x = g.distinct(*x_shape) if op in ('max', 'min') else g.randn(*x_shape)

            def f(x, fn=fn, axes=axes, keep=keep):
                if axes is None:
                    return fn(x) if not keep else fn(x, dim=(0, 1, 2), keepdim=True)
                return fn(x, dim=axes, keepdim=keep)
            cases.append(Case(op, name, f, [Inp('x', x)], {'axes': axes, 'keepDims': keep}))
    # Ties: amax / amin share the gradient evenly among the tied elements.
    tied = torch.tensor([[1.0, 3.0, 3.0, -2.0], [0.5, 0.5, 0.5, 0.25], [-1.0, -4.0, -4.0, -1.0]])
    cases.append(Case('max', 'max with ties', lambda x: torch.amax(x, dim=1), [Inp('x', tied)], {'axes': 1, 'keepDims': False}))
    cases.append(Case('min', 'min with ties', lambda x: torch.amin(x, dim=1), [Inp('x', tied.clone())], {'axes': 1, 'keepDims': False}))
    cases.append(Case('max', 'max of all with ties', torch.amax, [Inp('x', tied.clone())], {'axes': None, 'keepDims': False}))
    for op, fn in {'argmax': torch.argmax, 'argmin': torch.argmin}.items():
        for axis in (0, 1, -1):
            name = f'{op} axis={axis}'
            cases.append(Case(op, name, lambda x, fn=fn, axis=axis: fn(x, dim=axis).to(torch.int32),
                              [Inp('x', Gen(name).distinct(3, 4, 5), False)], {'axis': axis}))
        # First extreme wins a tie.
        cases.append(Case(op, f'{op} with ties', lambda x, fn=fn: fn(x, dim=1).to(torch.int32),
                          [Inp('x', tied.clone(), False)], {'axis': 1}))
    return cases


def layout_cases():
    cases = []

    def add(op, name, fn, inputs, params):
        cases.append(Case(op, name, fn, inputs, params))

    g = Gen('layout')
    add('reshape', 'reshape [2,3,4] -> [4,-1]', lambda x: x.reshape(4, -1), [Inp('x', g.randn(2, 3, 4))], {'shape': [4, -1]})
    add('flatten', 'flatten from axis 1', lambda x: torch.flatten(x, 1), [Inp('x', g.randn(2, 3, 2, 2))], {'startAxis': 1})
    add('unsqueeze', 'unsqueeze axis -1', lambda x: x.unsqueeze(-1), [Inp('x', g.randn(3, 2))], {'axis': -1})
    add('squeeze', 'squeeze axis 1', lambda x: x.squeeze(1), [Inp('x', g.randn(3, 1, 2))], {'axis': 1})
    add('transpose', 'transpose perm [2,0,1]', lambda x: x.permute(2, 0, 1), [Inp('x', g.randn(2, 3, 4))], {'perm': [2, 0, 1]})
    add('transpose', 'transpose 2-D', lambda x: x.permute(1, 0), [Inp('x', g.randn(3, 5))], {'perm': [1, 0]})
    add('transpose', 'transpose rank 4 [0,2,3,1]', lambda x: x.permute(0, 2, 3, 1), [Inp('x', g.randn(2, 3, 2, 4))],
        {'perm': [0, 2, 3, 1]})
    add('slice', 'slice middle', lambda x: x[0:2, 1:3, 2:5], [Inp('x', g.randn(3, 4, 5))],
        {'begin': [0, 1, 2], 'size': [2, 2, 3]})
    add('slice', 'slice to the end (-1)', lambda x: x[1:, :, 3:], [Inp('x', g.randn(3, 4, 5))],
        {'begin': [1, 0, 3], 'size': [-1, -1, -1]})
    add('pad', 'pad before/after', lambda x: F.pad(x, (2, 0, 1, 3)), [Inp('x', g.randn(2, 3, 4))],
        {'before': [0, 1, 2], 'after': [0, 3, 0]})
    add('concat', 'concat 3 tensors axis 1', lambda a, b, c: torch.cat([a, b, c], 1),
        [Inp('x0', g.randn(2, 1, 3)), Inp('x1', g.randn(2, 4, 3)), Inp('x2', g.randn(2, 2, 3))], {'axis': 1})
    add('concat', 'concat axis 0', lambda a, b: torch.cat([a, b], 0), [Inp('x0', g.randn(2, 3)), Inp('x1', g.randn(1, 3))],
        {'axis': 0})
    add('stack', 'stack axis 0', lambda a, b: torch.stack([a, b], 0), [Inp('x0', g.randn(3, 2)), Inp('x1', g.randn(3, 2))],
        {'axis': 0})
    add('stack', 'stack axis -1', lambda a, b, c: torch.stack([a, b, c], -1),
        [Inp('x0', g.randn(2, 3)), Inp('x1', g.randn(2, 3)), Inp('x2', g.randn(2, 3))], {'axis': -1})
    idx = torch.tensor([3, 0, 3, 1, 3], dtype=torch.int32)
    add('gather', 'gather (index_select) axis 0, repeats', lambda x, i: torch.index_select(x, 0, i.long()),
        [Inp('x', g.randn(4, 3)), Inp('indices', idx)], {'axis': 0})
    add('gather', 'gather (index_select) axis 1', lambda x, i: torch.index_select(x, 1, i.long()),
        [Inp('x', g.randn(2, 5, 3)), Inp('indices', torch.tensor([4, 4, 0], dtype=torch.int32))], {'axis': 1})
    add('scatterAdd', 'scatterAdd (index_add) axis 0, repeats',
        lambda s, i: torch.zeros(6, 3, dtype=s.dtype).index_add(0, i.long(), s),
        [Inp('src', g.randn(5, 3)), Inp('indices', idx)], {'axis': 0, 'axisSize': 6})
    add('scatterAdd', 'scatterAdd (index_add) axis 1',
        lambda s, i: torch.zeros(2, 4, 3, dtype=s.dtype).index_add(1, i.long(), s),
        [Inp('src', g.randn(2, 3, 3)), Inp('indices', torch.tensor([2, 0, 2], dtype=torch.int32))], {'axis': 1, 'axisSize': 4})
    add('broadcastTo', 'broadcastTo [3,1,4] -> [2,3,5,4]', lambda x: x.expand(2, 3, 5, 4).contiguous(),
        [Inp('x', g.randn(3, 1, 4))], {'shape': [2, 3, 5, 4]})
    add('stopGradient', 'stopGradient passes values, blocks gradients', lambda x: x.detach(), [Inp('x', g.randn(2, 3))], {})
    add('cast', 'cast float32 -> int32 truncates', lambda x: x.to(torch.int32), [Inp('x', g.randn(3, 4) * 5, False)],
        {'dtype': 'int32'})
    add('oneHot', 'oneHot 4 classes', lambda l: F.one_hot(l.long(), 4).to(torch.float32),
        [Inp('labels', torch.tensor([3, 0, 1, 3, 2], dtype=torch.int32))], {'classes': 4})
    return cases


def linalg_cases():
    cases = []
    specs = [
        ('2-D', (3, 4), (4, 5), False, False),
        ('transA', (4, 3), (4, 5), True, False),
        ('transB', (3, 4), (5, 4), False, True),
        ('transA transB', (4, 3), (5, 4), True, True),
        ('batched', (2, 3, 4), (2, 4, 5), False, False),
        ('batched transB', (2, 3, 4), (2, 5, 4), False, True),
        ('broadcast rank-2 b', (2, 3, 3, 4), (4, 2), False, False),
        ('broadcast batch 1 a', (1, 3, 4), (2, 4, 5), False, False),
        ('broadcast rank-2 a transA', (4, 3), (2, 2, 4, 5), True, False),
    ]
    for name, sa, sb, ta, tb in specs:
        g = Gen(name)

        def f(a, b, ta=ta, tb=tb):
            return torch.matmul(a.transpose(-1, -2) if ta else a, b.transpose(-1, -2) if tb else b)
        cases.append(Case('matmul', f'matmul {name}', f, [Inp('a', g.randn(*sa)), Inp('b', g.randn(*sb))],
                          {'transA': ta, 'transB': tb}))
    g = Gen('linear')
    cases.append(Case('linear', 'linear 3-D input with bias', F.linear,
                      [Inp('x', g.randn(2, 3, 4)), Inp('w', g.randn(5, 4)), Inp('bias', g.randn(5))]))
    cases.append(Case('linear', 'linear 2-D input without bias', F.linear, [Inp('x', g.randn(3, 4)), Inp('w', g.randn(2, 4))]))
    return cases


def conv_cases():
    cases = []
    specs = [
        ('3x3 stride 1 pad 1, bias', (2, 3, 7, 9), (4, 3, 3, 3), True, dict(stride=1, padding=1)),
        ('3x3 stride 2 pad 0, no bias', (1, 3, 8, 7), (5, 3, 3, 3), False, dict(stride=2, padding=0)),
        ('3x3 pad 2 dilation 2', (1, 2, 7, 9), (3, 2, 3, 3), True, dict(padding=2, dilation=2)),
        ('groups 2', (2, 4, 6, 5), (6, 2, 3, 3), True, dict(padding=1, groups=2)),
        ('depthwise stride 2 pad 1', (1, 3, 7, 7), (3, 1, 3, 3), True, dict(stride=2, padding=1, groups=3)),
        ('1x1 stride 2', (2, 4, 5, 6), (3, 4, 1, 1), False, dict(stride=2)),
        ('2x3 kernel, stride (2,1), pad (1,0)', (1, 2, 6, 7), (3, 2, 2, 3), True, dict(stride=(2, 1), padding=(1, 0))),
        ('5x5 pad 2 odd 7x9', (1, 2, 7, 9), (2, 2, 5, 5), True, dict(padding=2)),
    ]
    for name, sx, sw, bias, opts in specs:
        g = Gen(name)
        inputs = [Inp('x', g.randn(*sx)), Inp('w', g.randn(*sw) * 0.5)]
        if bias:
            inputs.append(Inp('bias', g.randn(sw[0])))
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in opts.items()}
        cases.append(Case('conv2d', f'conv2d {name}', lambda *a, opts=opts: F.conv2d(*a, **opts), inputs, params))

    pools = [
        ('2x2/2', (2, 3, 8, 8), dict(kernel_size=2, stride=2)),
        ('2x2/2 odd 7x9 (floor)', (1, 2, 7, 9), dict(kernel_size=2, stride=2)),
        ('3x3/2 pad 1', (1, 2, 7, 9), dict(kernel_size=3, stride=2, padding=1)),
        ('3x3/1 5x6', (1, 1, 5, 6), dict(kernel_size=3, stride=1)),
        ('3x2 stride (1,2) pad (1,1)', (1, 2, 6, 7), dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 1))),
    ]
    for name, sx, opts in pools:
        g = Gen(name)
        params = {'kernel': opts['kernel_size'], 'stride': opts.get('stride'), 'padding': opts.get('padding', 0)}
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}
        cases.append(Case('maxPool2d', f'maxPool2d {name}', lambda x, opts=opts: F.max_pool2d(x, **opts),
                          [Inp('x', g.distinct(*sx, spacing=0.01))], params))
    # Ties inside windows: PyTorch's CPU kernel keeps the first maximum (row-major), which decides
    # where the gradient goes.
    g = Gen('pool ties')
    tied = torch.round(g.uniform(0, 2, 1, 2, 6, 6))
    cases.append(Case('maxPool2d', 'maxPool2d with ties (first max wins)', lambda x: F.max_pool2d(x, 3, 2, 1),
                      [Inp('x', tied)], {'kernel': 3, 'stride': 2, 'padding': 1}))
    return cases


def nn_cases():
    cases = []
    for op, fn in {'softmax': torch.softmax, 'logSoftmax': torch.log_softmax}.items():
        for axis in (0, 1, -1):
            name = f'{op} axis={axis}'
            cases.append(Case(op, name, lambda x, fn=fn, axis=axis: fn(x, axis), [Inp('x', Gen(name).randn(3, 4, 5) * 2)],
                              {'axis': axis}))
        name = f'{op} large logits'
        cases.append(Case(op, name, lambda x, fn=fn: fn(x, -1), [Inp('x', Gen(name).randn(2, 6) * 40)], {'axis': -1}))

    n, c = 6, 4
    for reduction in ('mean', 'sum', 'none'):
        name = f'crossEntropy hard labels {reduction}'
        g = Gen(name)
        labels = torch.tensor([0, 3, 1, 1, 2, 3], dtype=torch.int32)
        cases.append(Case('crossEntropy', name, lambda x, t, r=reduction: F.cross_entropy(x, t.long(), reduction=r),
                          [Inp('logits', g.randn(n, c)), Inp('target', labels)], {'reduction': reduction}))
        name = f'crossEntropy weights + ignoreIndex {reduction}'
        g = Gen(name)
        labels = torch.tensor([0, -100, 1, 3, -100, 2], dtype=torch.int32)
        cases.append(Case('crossEntropy', name,
                          lambda x, t, w, r=reduction: F.cross_entropy(x, t.long(), weight=w, reduction=r),
                          [Inp('logits', g.randn(n, c)), Inp('target', labels), Inp('weight', g.uniform(0.2, 2, c), False)],
                          {'reduction': reduction}))
        name = f'crossEntropy soft targets + weights {reduction}'
        g = Gen(name)
        cases.append(Case('crossEntropy', name,
                          lambda x, t, w, r=reduction: F.cross_entropy(x, t, weight=w, reduction=r),
                          [Inp('logits', g.randn(n, c)), Inp('target', g.probs(n, c)), Inp('weight', g.uniform(0.2, 2, c), False)],
                          {'reduction': reduction}))
    name = 'crossEntropy soft targets mean'
    g = Gen(name)
    cases.append(Case('crossEntropy', name, lambda x, t: F.cross_entropy(x, t),
                      [Inp('logits', g.randn(n, c)), Inp('target', g.probs(n, c))], {'reduction': 'mean'}))
    # ignore_index may name a real class: those rows must drop out of the loss and of the mean.
    name = 'crossEntropy ignoreIndex inside the class range'
    g = Gen(name)
    labels = torch.tensor([0, 1, 2, 1, 3, 1], dtype=torch.int32)
    cases.append(Case('crossEntropy', name, lambda x, t: F.cross_entropy(x, t.long(), ignore_index=1),
                      [Inp('logits', g.randn(n, c)), Inp('target', labels)], {'reduction': 'mean', 'ignoreIndex': 1}))

    for beta in (1.0, 1 / 9, 0.0):
        for reduction in ('mean', 'sum', 'none'):
            name = f'smoothL1 beta={beta:.4g} {reduction}'
            g = Gen(name)
            pred = g.randn(4, 5)
            # Differences spread over both branches, none within 1e-3 of |d| = beta.
            d = g.away(0.001, 2.0, 4, 5)
            d = torch.where((d.abs() - beta).abs() < 1e-3, d * 1.1, d)
            cases.append(Case('smoothL1', name, lambda p, t, b=beta, r=reduction: F.smooth_l1_loss(p, t, beta=b, reduction=r),
                              [Inp('pred', pred), Inp('target', pred - d)], {'beta': beta, 'reduction': reduction}))
    for reduction in ('mean', 'sum', 'none'):
        name = f'mse {reduction}'
        g = Gen(name)
        cases.append(Case('mse', name, lambda p, t, r=reduction: F.mse_loss(p, t, reduction=r),
                          [Inp('pred', g.randn(3, 4)), Inp('target', g.randn(3, 4))], {'reduction': reduction}))
    return cases


def detection_cases():
    cases = []
    g = Gen('roi')
    # Image-space boxes for a [2, 3, 10, 12] feature map at stride 4 (image 40×48): inside, partly
    # outside on every side, tiny (< 1 feature pixel), a malformed one (x2 < x1), both batches.
    rois = torch.tensor([
        [0, 3.3, 5.1, 30.7, 22.9],
        [1, -9.6, -6.2, 14.4, 18.1],
        [1, 30.2, 20.6, 57.9, 47.3],
        [0, 11.0, 13.0, 12.1, 13.7],
        [1, 20.5, 2.25, 21.0, 39.0],
        [0, 26.0, 8.0, 22.0, 30.0],
    ])
    x = g.randn(2, 3, 10, 12)
    variants = [
        ('scale 0.25 sampling -1 aligned False', 0.25, -1, False, (3, 3)),
        ('scale 0.25 sampling 2 aligned True', 0.25, 2, True, (2, 3)),
        ('scale 0.25 sampling 0 aligned True', 0.25, 0, True, (3, 2)),
        ('scale 0.25 sampling 2 aligned False', 0.25, 2, False, (4, 4)),
    ]
    for name, scale, sampling, aligned, out in variants:
        cases.append(Case('roiAlign', f'roiAlign {name}',
                          lambda x, r, s=scale, sr=sampling, a=aligned, o=out: roi_align(x, r, o, s, sr, a),
                          [Inp('x', x.clone()), Inp('rois', rois.clone(), False)],
                          {'outputSize': list(out), 'spatialScale': scale, 'samplingRatio': sampling, 'aligned': aligned}))
    rois1 = rois.clone()
    rois1[:, 1:] /= 4
    cases.append(Case('roiAlign', 'roiAlign scale 1 sampling -1 aligned True',
                      lambda x, r: roi_align(x, r, (3, 3), 1.0, -1, True),
                      [Inp('x', x.clone()), Inp('rois', rois1, False)],
                      {'outputSize': [3, 3], 'spatialScale': 1.0, 'samplingRatio': -1, 'aligned': True}))
    rois16 = rois.clone()
    rois16[:, 1:] *= 4
    cases.append(Case('roiAlign', 'roiAlign scale 1/16 sampling -1 aligned False',
                      lambda x, r: roi_align(x, r, (2, 2), 0.0625, -1, False),
                      [Inp('x', x.clone()), Inp('rois', rois16, False)],
                      {'outputSize': [2, 2], 'spatialScale': 0.0625, 'samplingRatio': -1, 'aligned': False}))
    cases.append(Case('roiAlign', 'roiAlign K=0 (no rois)', lambda x, r: roi_align(x, r, (2, 2), 0.25, 2, True),
                      [Inp('x', x.clone()), Inp('rois', torch.zeros(0, 5), False)],
                      {'outputSize': [2, 2], 'spatialScale': 0.25, 'samplingRatio': 2, 'aligned': True}))

    # Random boxes anywhere over and around the 40×48 image, both batch images.
    gr = Gen('roi random')
    corners = gr.uniform(-12, 56, 16, 2)
    sizes = gr.uniform(0.5, 30, 16, 2)
    random_rois = torch.cat([gr.ints(0, 2, 16, 1).to(torch.float32), corners, corners + sizes], 1)
    for name, sampling, aligned in [('sampling -1 not aligned', -1, False), ('sampling 3 aligned', 3, True)]:
        cases.append(Case('roiAlign', f'roiAlign random boxes {name}',
                          lambda x, r, sr=sampling, a=aligned: roi_align(x, r, (2, 2), 0.25, sr, a),
                          [Inp('x', x.clone()), Inp('rois', random_rois.clone(), False)],
                          {'outputSize': [2, 2], 'spatialScale': 0.25, 'samplingRatio': sampling, 'aligned': aligned}))

    xd = g.distinct(2, 3, 10, 12, spacing=0.01)
    cases.append(Case('roiPool', 'roiPool random boxes', lambda x, r: roi_pool(x, r, (3, 2), 0.25),
                      [Inp('x', xd.clone()), Inp('rois', random_rois.clone(), False)], {'outputSize': [3, 2], 'spatialScale': 0.25}))
    for name, scale, r, out in [('scale 0.25', 0.25, rois, (3, 3)), ('scale 1', 1.0, rois1, (2, 4)),
                                ('scale 1/16', 0.0625, rois16, (4, 3))]:
        cases.append(Case('roiPool', f'roiPool {name}', lambda x, rr, s=scale, o=out: roi_pool(x, rr, o, s),
                          [Inp('x', xd.clone()), Inp('rois', r.clone(), False)], {'outputSize': list(out), 'spatialScale': scale}))
    # Corners that round half away from zero (−2.5 → −3), a box wholly outside (empty bins), ties.
    odd = torch.tensor([[0, -10.0, -10.0, 18.0, 6.0], [1, 50.0, 50.0, 60.0, 60.0], [0, 2.0, 2.0, 6.0, 30.0]])
    cases.append(Case('roiPool', 'roiPool half-pixel corners and empty bins', lambda x, r: roi_pool(x, r, (3, 2), 0.25),
                      [Inp('x', xd.clone()), Inp('rois', odd, False)], {'outputSize': [3, 2], 'spatialScale': 0.25}))
    tied = torch.round(g.uniform(0, 2, 1, 2, 6, 6))
    cases.append(Case('roiPool', 'roiPool with ties (first max wins)', lambda x, r: roi_pool(x, r, (2, 2), 1.0),
                      [Inp('x', tied), Inp('rois', torch.tensor([[0, 0.0, 0.0, 5.0, 5.0], [0, 1.0, 2.0, 4.0, 3.0]]), False)],
                      {'outputSize': [2, 2], 'spatialScale': 1.0}))
    cases.append(Case('roiPool', 'roiPool K=0 (no rois)', lambda x, r: roi_pool(x, r, (2, 2), 1.0),
                      [Inp('x', xd.clone()), Inp('rois', torch.zeros(0, 5), False)], {'outputSize': [2, 2], 'spatialScale': 1.0}))

    def boxes(gen, n, spread=8):
        # Crowded into a small area so that many pairs overlap.
        xy = gen.uniform(0, spread, n, 2)
        wh = gen.uniform(3, 10, n, 2)
        return torch.cat([xy, xy + wh], 1)
    g = Gen('box_iou')
    a = torch.cat([boxes(g, 5), torch.tensor([[0.0, 0, 4, 4], [10, 10, 12, 12]])])
    b = torch.cat([boxes(g, 4), torch.tensor([[0.0, 0, 4, 4], [4, 0, 8, 4], [30, 30, 31, 31]])])
    cases.append(Case('boxIou', 'boxIou identical, touching, disjoint and random', box_iou, [Inp('a', a, False), Inp('b', b, False)]))

    g = Gen('nms')
    nb = boxes(g, 12, spread=4)
    scores = torch.round(g.uniform(0, 1, 12) * 8) / 8  # many exact ties
    cases.append(Case('nms', 'nms random boxes, tied scores, 0.5', lambda b, s: nms(b, s, 0.5).to(torch.int32),
                      [Inp('boxes', nb, False), Inp('scores', scores, False)], {'iouThreshold': 0.5}))
    # IoU exactly 0.5 (kept: suppression needs IoU > threshold), just above (suppressed), just below.
    edge = torch.tensor([
        [0.0, 0, 4, 1], [0, 0, 2, 1], [10, 0, 14, 1], [10, 0, 12.01, 1], [20, 0, 24, 1], [20, 0, 21.99, 1],
        [0, 0, 4, 1],
    ])
    edge_scores = torch.tensor([0.9, 0.8, 0.9, 0.8, 0.9, 0.8, 0.9])
    cases.append(Case('nms', 'nms IoU at, above and below the threshold; equal boxes and scores',
                      lambda b, s: nms(b, s, 0.5).to(torch.int32), [Inp('boxes', edge, False), Inp('scores', edge_scores, False)],
                      {'iouThreshold': 0.5}))
    cases.append(Case('nms', 'nms threshold 0.3', lambda b, s: nms(b, s, 0.3).to(torch.int32),
                      [Inp('boxes', nb.clone(), False), Inp('scores', g.uniform(0, 1, 12), False)], {'iouThreshold': 0.3}))
    return cases


FAMILIES = {
    'unary': unary_cases,
    'binary': binary_cases,
    'reduce': reduce_cases,
    'layout': layout_cases,
    'linalg': linalg_cases,
    'conv': conv_cases,
    'nn': nn_cases,
    'detection': detection_cases,
}

# ---------------------------------------------------------------- evaluation and encoding


def b64(t):
    a = t.detach().cpu().numpy()
    a = a.astype('<i4') if a.dtype.kind in 'iu' else a.astype('<f4')
    return base64.b64encode(a.tobytes()).decode('ascii')


def evaluate(case, dtype, dy=None):
    """Output and gradients of sum(y * dy) with the float inputs cast to `dtype`."""
    tensors = []
    for inp in case.inputs:
        v = inp.value
        if v.dtype == torch.float32:
            v = v.to(dtype).detach().requires_grad_(inp.grad)
        tensors.append(v)
    y = case.fn(*tensors)
    grads = {}
    if y.dtype.is_floating_point and any(i.grad for i in case.inputs):
        if dy is None:
            dy = Gen('dy ' + case.name).randn(*y.shape)
        # A detached output (stopGradient) has no graph: every gradient is zero.
        if y.numel() > 0 and y.requires_grad:
            (y * dy.to(dtype)).sum().backward()
        for inp, t in zip(case.inputs, tensors):
            if inp.grad:
                grads[inp.name] = t.grad if t.grad is not None else torch.zeros_like(t)
    return y.detach(), dy, grads


def assert_close(name, what, a, b, rtol):
    a = a.double()
    b = b.double()
    if a.shape != b.shape:
        raise AssertionError(f'{name}: {what}: shapes {tuple(a.shape)} vs {tuple(b.shape)}')
    if a.numel() == 0:
        return
    if not torch.equal(torch.isnan(a), torch.isnan(b)):
        raise AssertionError(f'{name}: {what}: NaN positions differ between float32 and float64')
    fin = ~torch.isnan(a)
    scale = b[fin].abs().max().item() if fin.any() else 0.0
    err = (a[fin] - b[fin]).abs() - rtol * (b[fin].abs() + scale)
    if fin.any() and err.max().item() > 0:
        raise AssertionError(f'{name}: {what}: float32 and float64 disagree (worst excess {err.max().item():.3g}); '
                             'move the case off the knife edge')


def encode(case):
    y64, dy, g64 = evaluate(case, torch.float64)
    y32, _, g32 = evaluate(case, torch.float32, dy)
    if y64.dtype.is_floating_point:
        assert_close(case.name, 'output', y32, y64, CROSS_PRECISION_RTOL)
    elif not torch.equal(y32, y64):
        raise AssertionError(f'{case.name}: integer output differs between float32 and float64')
    for k in g64:
        assert_close(case.name, f'grad {k}', g32[k], g64[k], CROSS_PRECISION_RTOL)
    if y64.dtype.is_floating_point and not torch.isfinite(y64).all():
        raise AssertionError(f'{case.name}: non-finite output')
    for k, v in g64.items():
        if not torch.isfinite(v).all():
            raise AssertionError(f'{case.name}: non-finite gradient for {k}')

    def arr(t):
        t = t.detach()
        dtype = 'int32' if not t.dtype.is_floating_point else 'float32'
        return {'dtype': dtype, 'shape': list(t.shape), 'data': b64(t)}
    out = {
        'op': case.op,
        'name': case.name,
        'params': case.params,
        'inputs': [{'name': i.name, 'grad': i.grad, **arr(i.value)} for i in case.inputs],
        'output': arr(y64),
    }
    if g64:
        out['dy'] = arr(dy)
        out['grads'] = {k: arr(v) for k, v in g64.items()}
    if case.rtol is not None:
        out['rtol'] = case.rtol
        out['why'] = case.why
    return out


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    total = 0
    for family, make in FAMILIES.items():
        cases = make()
        names = [c.name for c in cases]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise AssertionError(f'{family}: duplicate case names {sorted(dupes)}')
        doc = {
            'generator': 'scripts/make_fixtures.py',
            'torch': torch.__version__,
            'torchvision': torchvision.__version__,
            'cases': [encode(c) for c in cases],
        }
        path = os.path.join(OUT_DIR, f'{family}.json')
        text = json.dumps(doc, indent=1) + '\n'
        with open(path, 'w') as f:
            f.write(text)
        total += len(text)
        print(f'{path}: {len(cases)} cases, {len(text) / 1024:.1f} KiB')
    print(f'total {total / 1024:.1f} KiB')


if __name__ == '__main__':
    main()
