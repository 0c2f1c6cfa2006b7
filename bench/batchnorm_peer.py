"""PyTorch CPU peer of bench/batchnorm.ts: BatchNorm2d in training mode (batch statistics, running
statistics updated) forward, and forward + backward of sum(y·dy) (x, weight, bias), one thread, on the shapes
given as JSON [[n, c, h, w], ...]. Prints JSON {torch, results: {"n,c,h,w": {forward, backward}}}
with the median seconds of each (after 3 warm-up calls).

Run by bench/batchnorm.ts; by hand: /usr/bin/python3 bench/batchnorm_peer.py '[[2,16,160,160]]' 20
"""
import json
import statistics
import sys
import time

import torch

torch.set_num_threads(1)


def median(fn, runs):
    for _ in range(3):
        fn()
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return statistics.median(t)


def main(shapes, runs):
    out = {}
    g = torch.Generator().manual_seed(0)
    for n, c, h, w in shapes:
        bn = torch.nn.BatchNorm2d(c).train()
        x = torch.randn(n, c, h, w, generator=g).requires_grad_(True)
        dy = torch.randn(n, c, h, w, generator=g)

        def forward():
            with torch.no_grad():
                bn(x)

        def backward():
            x.grad = None
            bn.zero_grad()
            # The same graph as kdet's (its tape seeds a scalar): sum(y·dy), then backward.
            (bn(x) * dy).sum().backward()

        out[f'{n},{c},{h},{w}'] = {'forward': median(forward, runs), 'backward': median(backward, runs)}
    print(json.dumps({'torch': torch.__version__, 'results': out}))


if __name__ == '__main__':
    main(json.loads(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 20)
