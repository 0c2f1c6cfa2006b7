"""Train torchvision 0.14's FasterRCNN exactly as `kdet train` trains kdet's, then detect on the test split.

The PyTorch peer of issue 5 ("as good as PyTorch at the same job"): same backbone, anchors, heads,
sampling settings, initialisation, data (scenes dumped by scripts/dump-scenes.ts, optionally in the
very order and flips kdet's loader uses), batch, optimiser, schedule, clipping and number of steps.
Its held-out detections are scored by evaluate.ts with kdet's own evaluator.

Usage (see README.md):
  /usr/bin/python3 bench/torch-peer/train_torchvision.py --preset student --data out/peer/scenes \
      --out out/peer/torch-student --steps 3000 [--threads 1]

Writes to --out: config.json (the kdet model config used), log.jsonl (one line per step, kdet's log
format), detections.json ({detections: [{id, boxes (flat x1,y1,x2,y2), scores, labels}]}) and
summary.json.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import time
import types

import numpy as np
import torch
import torchvision
from torch import nn
from torch.nn import functional as F
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection._utils import Matcher
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import MultiScaleRoIAlign

# torchvision's loss names → kdet's (DetectorLosses in src/detection/faster-rcnn.ts).
LOSS_NAMES = {
    "loss_objectness": "rpnCls",
    "loss_rpn_box_reg": "rpnReg",
    "loss_classifier": "roiCls",
    "loss_box_reg": "roiReg",
}


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def kdet_config(preset, classes):
    """The config `kdet train --preset` builds now, read from kdet itself (config.ts) rather than
    from a saved copy: presets change, and a stale copy would compare different networks."""
    run = subprocess.run(
        ["node", "scripts/run.mjs", "bench/torch-peer/config.ts", "--preset", preset, "--classes", str(classes)],
        cwd=REPO, check=True, capture_output=True, text=True)
    return json.loads(run.stdout)


def build_model(cfg, size):
    """kdet's architecture in torchvision (scripts/torchvision_check.py checks that its inference matches kdet's), plus every
    training-time setting of kdet's config that torchvision exposes."""
    layers = []
    c = cfg["backbone"]["inChannels"]
    for s, stage in enumerate(cfg["backbone"]["stages"]):
        if s > 0:
            layers.append(nn.MaxPool2d(2, 2))
        for out in stage:
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU(inplace=True)]
            c = out
    backbone = nn.Sequential(*layers)
    backbone.out_channels = c
    a = cfg["anchors"]
    anchors = AnchorGenerator(sizes=(tuple(a["sizes"]),), aspect_ratios=(tuple(a["aspectRatios"]),))
    r = cfg["roiHeads"]
    p = cfg["rpn"]
    pooler = MultiScaleRoIAlign(featmap_names=["0"], output_size=r["poolSize"], sampling_ratio=r["samplingRatio"])
    box_head = TwoMLPHead(c * r["poolSize"] ** 2, r["representationSize"])
    box_predictor = FastRCNNPredictor(r["representationSize"], cfg["numClasses"] + 1)
    model = FasterRCNN(
        backbone, num_classes=None, min_size=size, max_size=size,
        image_mean=cfg["imageMean"], image_std=cfg["imageStd"],
        rpn_anchor_generator=anchors, box_roi_pool=pooler, box_head=box_head, box_predictor=box_predictor,
        rpn_pre_nms_top_n_train=p["preNmsTopN"]["train"], rpn_pre_nms_top_n_test=p["preNmsTopN"]["test"],
        rpn_post_nms_top_n_train=p["postNmsTopN"]["train"], rpn_post_nms_top_n_test=p["postNmsTopN"]["test"],
        rpn_nms_thresh=p["nmsThreshold"], rpn_score_thresh=p["scoreThreshold"],
        rpn_fg_iou_thresh=p["matcher"]["highThreshold"], rpn_bg_iou_thresh=p["matcher"]["lowThreshold"],
        rpn_batch_size_per_image=p["sampler"]["batchSizePerImage"], rpn_positive_fraction=p["sampler"]["positiveFraction"],
        box_score_thresh=r["scoreThreshold"], box_nms_thresh=r["nmsThreshold"], box_detections_per_img=r["detectionsPerImage"],
        box_fg_iou_thresh=r["matcher"]["highThreshold"], box_bg_iou_thresh=r["matcher"]["lowThreshold"],
        box_batch_size_per_image=r["sampler"]["batchSizePerImage"], box_positive_fraction=r["sampler"]["positiveFraction"],
    )
    # torchvision hard-codes the low-quality-match flag (RPN on, box head off) and the RPN's
    # minimum proposal size; kdet makes them options, so take them from the config.
    model.rpn.proposal_matcher = Matcher(
        p["matcher"]["highThreshold"], p["matcher"]["lowThreshold"], allow_low_quality_matches=p["matcher"]["allowLowQualityMatches"])
    model.roi_heads.proposal_matcher = Matcher(
        r["matcher"]["highThreshold"], r["matcher"]["lowThreshold"], allow_low_quality_matches=r["matcher"]["allowLowQualityMatches"])
    model.rpn.min_size = p["minSize"]
    # torchvision pads batches to a multiple of 32, kdet's loader does not pad equal-sized images:
    # at sizes that are not multiples of 32 the two nets would see different feature maps.
    model.transform.size_divisible = 1
    # The box head's 1e-2 px minimum is a literal inside torchvision's postprocess_detections.
    if r["minSize"] != 1e-2:
        raise SystemExit(f"roiHeads.minSize {r['minSize']} cannot be set in torchvision 0.14 (fixed at 1e-2)")
    return model


def init_like_kdet(model):
    """kdet's initialisation (src/detection/backbone.ts, rpn.ts, roi-heads.ts), distribution for
    distribution; the draws themselves differ (different generators)."""
    for m in model.backbone.modules():
        if isinstance(m, nn.Conv2d):
            # torchvision's VGG init, as kdet's Backbone.
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    # RPNHead: torchvision already draws N(0, 0.01) with zero bias, as kdet's rpnInit.
    # TwoMLPHead: PyTorch's default Linear init, U(±1/√fan_in) for weights and biases, as kdet.
    # FastRCNNPredictor: torchvision keeps PyTorch's default; kdet uses Detectron's small normals.
    pred = model.roi_heads.box_predictor
    nn.init.normal_(pred.cls_score.weight, std=0.01)
    nn.init.zeros_(pred.cls_score.bias)
    nn.init.normal_(pred.bbox_pred.weight, std=0.001)
    nn.init.zeros_(pred.bbox_pred.bias)


def route_linear_through_onednn(model):
    """Run the box head's Linear layers as 1×1 convolutions, the same product computed by oneDNN.

    Debian's torch 1.13 (BLAS_INFO=generic) sends nn.Linear to the reference netlib BLAS, about
    13× slower here than oneDNN, which its convolutions use; pip/conda builds use MKL or OpenBLAS
    instead. The FC layers dominate these small detectors' steps, so stock Linear would make the
    peer a strawman. Parameters, initialisation and maths are unchanged (results differ only by
    summation order, ~1e-6 relative); only the kernel that multiplies is different.
    """
    def forward(self, x):
        n = x.shape[0]
        if n == 0:
            return F.linear(x, self.weight, self.bias)
        y = F.conv2d(x.reshape(n, self.in_features, 1, 1), self.weight[:, :, None, None], self.bias)
        return y.reshape(n, self.out_features)

    for m in model.roi_heads.modules():
        if isinstance(m, nn.Linear):
            m.forward = types.MethodType(forward, m)


def objectness_params(model):
    return [model.rpn.head.cls_logits.weight, model.rpn.head.cls_logits.bias]


def pair_objectness_init(model):
    """Start the objectness logit as kdet's logit difference o − b starts: two N(0, 0.01) rows."""
    nn.init.normal_(model.rpn.head.cls_logits.weight, std=0.01 * math.sqrt(2))


def clip_grad_norm(params, max_norm, counted_twice=()):
    """torch.nn.utils.clip_grad_norm_'s rule (scale by min(1, max / (norm + 1e-6)), kdet's too),
    with some gradients counted twice in the norm: kdet's two objectness rows carry +g and −g."""
    grads = [p.grad for p in params if p.grad is not None]
    sq = sum(g.pow(2).sum() for g in grads) + sum(p.grad.pow(2).sum() for p in counted_twice if p.grad is not None)
    norm = sq.sqrt()
    coef = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef)
    return norm.item()


def learning_rate(step, steps, lr, warmup_factor=0.001, gamma=0.1):
    """kdet's defaultTrainerConfig schedule (src/detection/schedule.ts): linear warm-up over
    min(200, ⌊steps/10⌋) steps from warmup_factor·lr, ×gamma at ⌊0.75·steps⌋ and ⌊0.92·steps⌋."""
    warmup = min(200, steps // 10)
    milestones = [math.floor(steps * 0.75), math.floor(steps * 0.92)]
    decay = gamma ** sum(1 for m in milestones if step >= m)
    if step >= warmup:
        return lr * decay
    alpha = step / warmup
    return lr * decay * (warmup_factor * (1 - alpha) + alpha)


class Split:
    """A split written by scripts/dump-scenes.ts, its pixels memory-mapped (5000 scenes are ~1 GB)."""

    def __init__(self, folder, split):
        with open(os.path.join(folder, f"{split}.json")) as f:
            meta = json.load(f)
        self.shape = tuple(meta["shape"])
        path = os.path.join(folder, f"{split}.f32")
        want = 4 * math.prod(self.shape)
        if os.path.getsize(path) != want:
            raise SystemExit(f"{path}: {os.path.getsize(path)} bytes, expected {want} for shape {self.shape}")
        self.images = np.memmap(path, dtype="<f4", mode="r", shape=self.shape)
        self.ids = meta["ids"]
        self.boxes = [torch.tensor(b, dtype=torch.float32).reshape(-1, 4) for b in meta["boxes"]]
        self.labels = [torch.tensor(l, dtype=torch.int64) for l in meta["labels"]]
        self.class_names = meta["classNames"]

    def __len__(self):
        return self.shape[0]

    def sample(self, i, flip):
        image = torch.from_numpy(np.array(self.images[i]))
        boxes = self.boxes[i]
        if flip:
            # kdet's hflip: mirror the pixels, x1' = W − x2, x2' = W − x1.
            w = self.shape[3]
            image = image.flip(-1)
            boxes = torch.stack([w - boxes[:, 2], boxes[:, 1], w - boxes[:, 0], boxes[:, 3]], 1)
        return image, {"boxes": boxes.clone(), "labels": self.labels[i]}


def load_plan(path, steps, batch, n):
    with open(path) as f:
        plan = json.load(f)
    if plan["batchSize"] != batch:
        raise SystemExit(f"{path}: batches of {plan['batchSize']}, but --batch is {batch}")
    if plan["steps"] < steps:
        raise SystemExit(f"{path}: {plan['steps']} steps planned, {steps} asked")
    if max(max(b) for b in plan["indices"]) >= n:
        raise SystemExit(f"{path}: refers to scenes beyond the {n} of the train split")
    return list(zip(plan["indices"], plan["flips"]))[:steps]


def seeded_plan(steps, batch, n, seed, hflip):
    """When no kdet plan is given: a seeded shuffle per epoch, drop-last, flips with probability hflip."""
    per = n // batch
    if per == 0:
        raise SystemExit(f"the train split has {n} scenes, fewer than one batch of {batch}")
    g = torch.Generator().manual_seed(seed)
    out = []
    while len(out) < steps:
        order = torch.randperm(n, generator=g).tolist()
        flips = (torch.rand(n, generator=g) < hflip).tolist()
        for b in range(per):
            if len(out) == steps:
                break
            out.append((order[b * batch:(b + 1) * batch], [int(f) for f in flips[b * batch:(b + 1) * batch]]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--preset", help="kdet model preset (tiny, student, teacher): its config is asked from kdet")
    which.add_argument("--config", help="a kdet model config JSON (bench/torch-peer/config.ts)")
    ap.add_argument("--data", required=True, help="folder written by scripts/dump-scenes.ts (train.*, test.*)")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--clip-norm", type=float, default=10.0, help="global gradient-norm bound (0: off)")
    ap.add_argument("--hflip", type=float, default=0.5, help="flip probability when no plan is used")
    ap.add_argument("--seed", type=int, default=0,
                    help="seed of initialisation and sampling; also picks kdet's data order (the plan of kdet train --seed)")
    ap.add_argument("--plan", default="auto",
                    help="batch plan from dump-scenes --plan-steps: a path, 'auto' (<data>/train-plan-seed<seed>.json "
                         "if present, else a seeded torch shuffle) or 'none'"),
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--linear", choices=("blas", "onednn"), default="blas",
                    help="kernel of the box head's Linear layers: torch's BLAS (stock) or oneDNN as a 1x1 conv (see README)")
    ap.add_argument("--objectness", choices=("sigmoid", "pair"), default="sigmoid",
                    help="sigmoid: torchvision's one-logit RPN objectness; pair: train that logit as kdet trains "
                         "its softmax pair (see README)")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--skip-timing", type=int, default=5, help="first steps left out of the mean step time")
    ap.add_argument("--eval-batch", type=int, default=8)
    ap.add_argument("--no-test", action="store_true", help="train (and time) only; no detections")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)

    train = Split(args.data, "train")
    if args.preset:
        cfg = kdet_config(args.preset, len(train.class_names))
    else:
        with open(args.config) as f:
            cfg = json.load(f)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    if cfg["numClasses"] != len(train.class_names):
        raise SystemExit(f"config has {cfg['numClasses']} classes, the data {len(train.class_names)}")
    n, _, h, w = train.shape
    if h != w:
        raise SystemExit("square images only: GeneralizedRCNNTransform would resize others")
    model = build_model(cfg, h)
    init_like_kdet(model)
    if args.linear == "onednn":
        route_linear_through_onednn(model)
    if args.objectness == "pair":
        pair_objectness_init(model)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    count = sum(p.numel() for p in params)

    plan_path = os.path.join(args.data, f"train-plan-seed{args.seed}.json") if args.plan == "auto" else args.plan
    if args.plan != "none" and os.path.exists(plan_path):
        plan = load_plan(plan_path, args.steps, args.batch, n)
        order = f"kdet's loader order and flips ({plan_path})"
    elif args.plan not in ("auto", "none"):
        raise SystemExit(f"--plan {args.plan}: no such file")
    else:
        plan = seeded_plan(args.steps, args.batch, n, args.seed, args.hflip)
        order = f"seeded torch shuffle, flip p={args.hflip}"
    print(f"torchvision {torchvision.__version__} / torch {torch.__version__}: {cfg.get('preset', '?')} "
          f"({count / 1e6:.2f} M parameters) on {n} scenes {h}x{w}, batch {args.batch}, {args.steps} steps, "
          f"{args.threads} thread(s), Linear via {args.linear}, objectness {args.objectness}; data order: {order}", flush=True)

    # Plain SGD with L2 decay on every parameter (biases included), as kdet's SGD.
    groups = [{"params": params, "lr_scale": 1.0}]
    twice = ()
    if args.objectness == "pair":
        # kdet's rows w_o and w_b get gradients +g and −g; only D = w_o − w_b reaches the output,
        # and under SGD with momentum D follows gradient 2g + wd·D = 2(g + (wd/2)·D): exactly SGD
        # on one logit with twice the rate and half the decay, g counted twice in the clipped norm.
        obj = objectness_params(model)
        groups = [{"params": [p for p in params if all(p is not q for q in obj)], "lr_scale": 1.0},
                  {"params": obj, "lr_scale": 2.0, "weight_decay": args.weight_decay / 2}]
        twice = obj
    opt = torch.optim.SGD(groups, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    times = []
    cpu_times = []
    last = {}
    started = time.perf_counter()
    with open(os.path.join(args.out, "log.jsonl"), "w") as log:
        for step, (idx, flips) in enumerate(plan):
            t0 = time.perf_counter()
            c0 = time.process_time()
            images, targets = zip(*(train.sample(i, f) for i, f in zip(idx, flips)))
            lr = learning_rate(step, args.steps, args.lr)
            for g in opt.param_groups:
                g["lr"] = lr * g["lr_scale"]
            losses = model(list(images), list(targets))
            loss = sum(losses.values())
            parts = {LOSS_NAMES[k]: v.item() for k, v in losses.items()}
            if not math.isfinite(loss.item()):
                raise SystemExit(f"loss is {loss.item()} at step {step} (parts {parts})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip_norm <= 0:
                norm = float("nan")
            elif twice:
                norm = clip_grad_norm(params, args.clip_norm, twice)
            else:
                # Stock PyTorch; the same rule as kdet's clipGradNorm.
                norm = torch.nn.utils.clip_grad_norm_(params, args.clip_norm).item()
            opt.step()
            dt = time.perf_counter() - t0
            # CPU time too: on a shared machine wall time includes waiting for a core, while
            # with one thread the process's CPU time is close to what the step costs.
            cpu = time.process_time() - c0
            times.append(dt)
            cpu_times.append(cpu)
            last = {"step": step + 1, "lr": lr, "loss": loss.item(), **parts, "gradNorm": norm, "seconds": dt, "cpuSeconds": cpu}
            log.write(json.dumps(last) + "\n")
            if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
                print(f"step {step + 1}/{args.steps} lr {lr:.2e} loss {loss.item():.4f} "
                      + " ".join(f"{k} {v:.4f}" for k, v in parts.items())
                      + f" |g| {norm:.2f} {dt:.3f} s", flush=True)
    seconds = time.perf_counter() - started
    skip = args.skip_timing if len(times) > args.skip_timing else 0
    timed = times[skip:]
    timed_cpu = cpu_times[skip:]
    step_mean = statistics.fmean(timed)
    print(f"trained {args.steps} steps in {seconds:.1f} s; mean step {step_mean:.4f} s wall "
          f"(median {statistics.median(timed):.4f} s), {statistics.fmean(timed_cpu):.4f} s CPU, "
          f"over steps {skip + 1}..{len(times)}", flush=True)

    summary = {
        "preset": cfg.get("preset"), "steps": args.steps, "batch": args.batch, "lr": args.lr, "seed": args.seed,
        "trainImages": n, "imageSize": [h, w], "dataOrder": order, "parameters": count,
        "seconds": seconds, "meanStepSeconds": step_mean, "medianStepSeconds": statistics.median(timed),
        "meanStepCpuSeconds": statistics.fmean(timed_cpu), "timedSteps": len(timed), "threads": args.threads,
        "linear": args.linear, "objectness": args.objectness,
        "torch": torch.__version__, "torchvision": torchvision.__version__, "last": last,
    }
    if not args.no_test:
        test = Split(args.data, "test")
        model.eval()
        detections = []
        t0 = time.perf_counter()
        with torch.no_grad():
            for s in range(0, len(test), args.eval_batch):
                e = min(len(test), s + args.eval_batch)
                out = model(list(torch.from_numpy(np.array(test.images[s:e]))))
                for k, o in zip(range(s, e), out):
                    detections.append({
                        "id": test.ids[k],
                        "boxes": o["boxes"].flatten().tolist(),
                        "scores": o["scores"].tolist(),
                        "labels": o["labels"].tolist(),
                    })
        summary["testImages"] = len(test)
        summary["inferenceSeconds"] = time.perf_counter() - t0
        with open(os.path.join(args.out, "detections.json"), "w") as f:
            json.dump({"detections": detections}, f)
        print(f"detected on {len(test)} test scenes in {summary['inferenceSeconds']:.1f} s → "
              f"{os.path.join(args.out, 'detections.json')}", flush=True)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
