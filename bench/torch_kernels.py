"""PyTorch CPU peer for bench/kernels.ts: times the same kernels and prints one JSON object.

usage: python3 bench/torch_kernels.py THREADS CASES_JSON
CASES_JSON is a list of {"id", "kind", ...} as built by kernels.ts; for every case the result maps
id -> {"best": seconds, "median": seconds}, or {"error": text}.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def timeit(fn, budget):
    fn()  # warm-up (allocator, oneDNN primitive cache)
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < budget and len(times) < 200):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"best": min(times), "median": statistics.median(times)}


def conv_case(c):
    # "groups" is optional (bench/depthwise.ts sets it to the channel count); 1 elsewhere.
    groups = c.get("groups", 1)
    x = torch.randn(c["n"], c["cIn"], c["h"], c["w"])
    w = torch.randn(c["cOut"], c["cIn"] // groups, c["k"], c["k"])
    stride, pad = [c["stride"]] * 2, [c["pad"]] * 2
    y = F.conv2d(x, w, stride=stride, padding=pad, groups=groups)
    dy = torch.randn_like(y)
    if c["kind"] == "conv2d":
        return lambda: F.conv2d(x, w, stride=stride, padding=pad, groups=groups)
    mask = [True, False, False] if c["kind"] == "conv2dGradInput" else [False, True, False]
    return lambda: torch.ops.aten.convolution_backward(
        dy, x, w, None, stride, pad, [1, 1], False, [0, 0], groups, mask)


def matmul_case(c):
    a = torch.randn(c["m"], c["k"])
    b = torch.randn(c["k"], c["n"])
    return lambda: torch.mm(a, b)


def roi_case(c):
    import torchvision

    x = torch.randn(1, c["c"], c["h"], c["w"], requires_grad=True)
    rois = torch.tensor(c["rois"], dtype=torch.float32)
    dy = torch.randn(len(c["rois"]), c["c"], c["pooled"], c["pooled"])

    def run():
        # The same loss as the kdet line: Σ roi_align(x)·dy, then its gradient with respect to x.
        y = torchvision.ops.roi_align(x, rois, output_size=c["pooled"], spatial_scale=c["scale"],
                                      sampling_ratio=c["sampling"], aligned=False)
        loss = (y * dy).sum()
        (gx,) = torch.autograd.grad(loss, x)
        return loss.item(), gx

    return run


def main():
    threads = int(sys.argv[1])
    cases = json.loads(sys.argv[2])
    torch.set_num_threads(threads)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "results": {},
           "mkl": torch.backends.mkl.is_available(), "mkldnn": torch.backends.mkldnn.is_available()}
    try:
        import torchvision

        out["torchvision"] = torchvision.__version__
    except ImportError:
        out["torchvision"] = None
    for c in cases:
        try:
            if c["kind"].startswith("conv2d"):
                fn = conv_case(c)
            elif c["kind"] == "matmul":
                fn = matmul_case(c)
            else:
                fn = roi_case(c)
            out["results"][c["id"]] = timeit(fn, c.get("budget", 1.0))
        except Exception as e:  # report, never hide: the table shows the error
            out["results"][c["id"]] = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
