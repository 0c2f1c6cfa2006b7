"""Distil (or fine-tune) a kdet-exported torchvision detector with PyTorch DistributedDataParallel.

    torchrun --nproc_per_node=2 --nnodes=1 scripts/scale_out_distill.py \\
        --student EXPORT_DIR --teacher EXPORT_DIR --data coco/annotations.json \\
        --steps 6 --lr 0.01 --batch 2 --out OUT_DIR

(torch 1.13's torchrun on Python 3.11 also needs `--redirects 1:1 --tee 1:1`, see
docs/scale-out.md; scripts/scale-out.sh runs the whole round trip.)

EXPORT_DIR is what `kdet export --torchvision --checkpoint <family checkpoint> --out EXPORT_DIR`
wrote: model.safetensors (model.pth) under torchvision's names and kdet-meta.json, the sidecar
naming the builder, num_classes, class names, norm and the builder's keyword arguments (transform
sizes, mean/std, RPN and box settings). Each process builds torchvision's own model from it
(`builder(weights=None, weights_backbone=None, num_classes=..., **builder_kwargs)`; kdet's
fasterrcnn_resnet18_fpn is FasterRCNN over _resnet_fpn_extractor(resnet18(), 5), as
scripts/fixtures-tv-faster-rcnn.py builds it), loads the weights, and trains the student (with one
1x1 adapter per FPN level) under DistributedDataParallel on the gloo backend (CPU), a
DistributedSampler splitting the COCO images between the processes. The images go through the
student's own GeneralizedRCNNTransform; the objective is the paper's, scripts/tv_distill_losses.py
(the definitions kdet's TvDistiller is tested against through test/fixtures/models/tv-distill.json).
--alone trains on the ground truth only (torchvision's four losses; no teacher).

Before training, rank 0 recomputes that fixture's batch through the same `objective` (the fixture's
generated weights) and stops unless, in float64, the five terms equal the stored ones (the values
test/distillation/tv-distill-parity.test.ts holds kdet's TvDistiller to) within 1e-5 and the stored
gradients within 1e-5 of their largest entry, and in float32 the terms within 1e-4 (relative).
kdet == fixture is that test; script == fixture is this check. It reads the fixture from this
repository's test/ folder; --skip-check is for a copy of scripts/ without it.

Optimisation as kdet's trainer (src/detection/trainer.ts): SGD momentum 0.9, weight decay 1e-4,
gradient norm clipped at 10, linear warm-up from 0.001 x lr over min(200, steps / 10) steps, x0.1 at
75 % and 92 % of the steps, horizontal flips with probability 0.5. DDP averages the gradients of the
processes, so a step sees --batch x world-size images. Rank 0 prints each step's losses (averaged
over the processes) and writes to OUT: model.safetensors and model.pth (the student's state_dict,
torchvision's names), kdet-meta.json copied unchanged from the student's export, adapters.pth,
log.jsonl and summary.json; the safetensors header keeps the export's metadata (arch, class names,
kdet_torchvision), so scripts/tv_family_check.py runs OUT too.
`kdet import --torchvision OUT/model.safetensors --out ckpt.safetensors` brings the student back
(it reads OUT/kdet-meta.json).

One thread per process (torch.set_num_threads(1)); OMP_NUM_THREADS=1 is torchrun's default.
"""
import argparse
import base64
import importlib.util
import json
import math
import os
import shutil
import struct
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torchvision
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision.io import ImageReadMode, read_image
from torchvision.ops.misc import FrozenBatchNorm2d

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from tv_distill_losses import GT_NAMES, PAPER, PARTS, match_levels, objective  # noqa: E402

FIXTURE = os.path.join(HERE, '..', 'test', 'fixtures', 'models', 'tv-distill.json')
SIDECAR = 'kdet-meta.json'
TOL = 1e-5


def load_script(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, file))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# The fixture script: its run() builds the fixture's models and calls tv_distill_losses.objective;
# its BUILDERS are torchvision's three plus kdet's fasterrcnn_resnet18_fpn.
FIX = load_script('tv_distill_fixture', 'fixtures-tv-distill.py')
BUILDERS = FIX.BUILDERS


# ---- safetensors (no extra package: an 8-byte header length, a JSON header, raw little-endian data)
ST_DTYPES = {'F32': np.float32, 'F64': np.float64, 'F16': np.float16, 'I64': np.int64, 'I32': np.int32}


def read_safetensors(path):
    """The tensors and the header's __metadata__ (kdet's export puts arch, num_classes, class_names
    and kdet_torchvision there)."""
    with open(path, 'rb') as f:
        raw = f.read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    metadata = header.pop('__metadata__', {})
    out = {}
    for name, h in header.items():
        a, b = h['data_offsets']
        arr = np.frombuffer(raw, dtype=ST_DTYPES[h['dtype']], count=(b - a) // np.dtype(ST_DTYPES[h['dtype']]).itemsize, offset=8 + n + a)
        out[name] = torch.from_numpy(arr.copy().reshape(h['shape']))
    return out, metadata


def write_safetensors(path, tensors, metadata):
    names = {torch.float32: 'F32', torch.float64: 'F64', torch.int64: 'I64'}
    header, blobs, offset = {'__metadata__': metadata}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {'dtype': names[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    js = json.dumps(header, separators=(',', ':')).encode()
    js += b' ' * ((8 - len(js) % 8) % 8)
    with open(path + '.tmp', 'wb') as f:
        f.write(struct.pack('<Q', len(js)) + js)
        for b in blobs:
            f.write(b)
    os.replace(path + '.tmp', path)


# ---- the model a kdet export describes
def freeze_norms(model, trainable_layers=3):
    """FrozenBatchNorm2d in the body and `trainable_layers` trainable stages, as torchvision's
    builders do with pretrained weights (what kdet's norm 'frozen' means)."""
    body = model.backbone.body

    def swap(parent):
        for name, child in parent.named_children():
            if isinstance(child, nn.BatchNorm2d):
                frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
                setattr(parent, name, frozen)
            else:
                swap(child)
    swap(body)
    if hasattr(body, 'layer4'):  # ResNet: _resnet_fpn_extractor
        train = ['layer4', 'layer3', 'layer2', 'layer1', 'conv1'][:trainable_layers]
        for name, p in body.named_parameters():
            p.requires_grad_(any(name.startswith(t) for t in train))
    else:  # MobileNetV3: _mobilenet_extractor's stage_indices
        blocks = list(body.children())
        stages = [0] + [i for i, b in enumerate(blocks) if getattr(b, '_is_cn', False)] + [len(blocks) - 1]
        before = len(blocks) if trainable_layers == 0 else stages[len(stages) - trainable_layers]
        for i, b in enumerate(blocks):
            for p in b.parameters():
                p.requires_grad_(i >= before)


def build(export_dir):
    """torchvision's model as the export's kdet-meta.json describes it, with the exported weights."""
    with open(os.path.join(export_dir, SIDECAR)) as f:
        side = json.load(f)
    if side.get('format') != 'kdet-torchvision':
        raise SystemExit(f'{export_dir}/{SIDECAR}: not a kdet export sidecar (format {side.get("format")!r})')
    kw = dict(side['builder_kwargs'])
    if 'bbox_reg_weights' in kw:
        kw['bbox_reg_weights'] = tuple(kw['bbox_reg_weights'])
    model = BUILDERS[side['builder']](weights=None, weights_backbone=None, num_classes=side['num_classes'], **kw)
    if side['norm'] == 'frozen':
        freeze_norms(model)
    st = os.path.join(export_dir, 'model.safetensors')
    sd, side['safetensors_metadata'] = read_safetensors(st) if os.path.exists(st) else (torch.load(os.path.join(export_dir, 'model.pth'), weights_only=True), {'format': 'pt'})
    own = model.state_dict()
    sd = {k: v.to(own[k].dtype) for k, v in sd.items() if k in own or not k.endswith('num_batches_tracked')}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith('num_batches_tracked')]
    if missing or unexpected:
        raise SystemExit(f'{export_dir}: the weights do not fit {side["builder"]}: missing {missing[:4]}, unexpected {unexpected[:4]}')
    return model, side


# ---- data: a COCO JSON (kdet export-data --format coco), labels by class name
class Coco(Dataset):
    def __init__(self, ann, images, class_names):
        with open(ann) as f:
            doc = json.load(f)
        self.root = images or os.path.dirname(os.path.abspath(ann))
        names = {c['id']: c['name'] for c in doc['categories']}
        unknown = sorted(set(names.values()) - set(class_names))
        if unknown:
            raise SystemExit(f'{ann}: categories {unknown} are not among the model\'s classes {class_names}')
        label = {cid: class_names.index(n) + 1 for cid, n in names.items()}
        per = {im['id']: [] for im in doc['images']}
        for a in doc['annotations']:
            if not a.get('iscrowd', 0):
                per[a['image_id']].append(a)
        self.items = []
        for im in doc['images']:
            boxes = [[a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2], a['bbox'][1] + a['bbox'][3]] for a in per[im['id']]]
            self.items.append((im['file_name'], torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), torch.tensor([label[a['category_id']] for a in per[im['id']]], dtype=torch.int64)))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        file, boxes, labels = self.items[i]
        image = read_image(os.path.join(self.root, file), ImageReadMode.RGB).float() / 255
        return image, {'boxes': boxes.clone(), 'labels': labels.clone()}


def hflip(image, target, gen, p):
    if p > 0 and torch.rand((), generator=gen).item() < p:
        w = image.shape[-1]
        b = target['boxes']
        image = image.flip(-1)
        target = {**target, 'boxes': torch.stack([w - b[:, 2], b[:, 1], w - b[:, 0], b[:, 3]], 1)}
    return image, target


class Objective(nn.Module):
    """What DDP wraps: the student and the adapters (trained, their gradients averaged); the
    frozen teacher is held outside the module tree (nothing of it is synchronised or trained)."""

    def __init__(self, student, adapters, teacher, cfg):
        super().__init__()
        self.student = student
        self.adapters = adapters
        self._teacher = [teacher]
        self.cfg = cfg

    def forward(self, images, targets):
        teacher = self._teacher[0]
        if teacher is None:
            losses = self.student(images, targets)
            return {GT_NAMES[k]: losses[k] for k in GT_NAMES}  # kdet's order: rpnCls, rpnReg, roiCls, roiReg
        parts, _ = objective(self.student, teacher, self.adapters, images, targets, self.cfg)
        return parts


def learning_rate(lr, step, steps):
    """kdet's schedule (src/detection/schedule.ts with the trainer's defaults)."""
    warmup = min(200, steps // 10)
    decay = 0.1 ** sum(step >= m for m in (int(steps * 0.75), int(steps * 0.92)))
    if step >= warmup:
        return lr * decay
    a = step / warmup
    return lr * decay * (0.001 * (1 - a) + a)


def fixture_check():
    """The fixture's batch through `objective`: in float64, max |term - stored| and the largest
    gradient difference relative to each stored gradient's largest entry; in float32 (what training
    runs in), the largest relative term difference."""
    with open(FIXTURE) as f:
        fx = json.load(f)
    r = FIX.run(torch.float64)
    terms = {k: r['parts'][k].item() for k in PARTS}
    d_terms = max(abs(terms[k] - fx['terms'][k]) for k in PARTS)
    d_grads = 0.0
    for name, g in fx['grads'].items():
        want = torch.from_numpy(np.frombuffer(base64.b64decode(g['data']), dtype=np.float32).reshape(g['shape']).astype(np.float64))
        d_grads = max(d_grads, ((r['grads'][name] - want).abs().max() / want.abs().max()).item())
    same = r['levels'] == fx['levels'] and r['counts'] == fx['counts'] and r['proposals'] == fx['num_proposals']
    r32 = FIX.run(torch.float32)
    d32 = max(abs(r32['parts'][k].item() - fx['terms'][k]) / abs(fx['terms'][k]) for k in PARTS)
    return terms, fx['terms'], d_terms, d_grads, same, d32


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--student', required=True, help='folder of kdet export --torchvision (model.safetensors, kdet-meta.json)')
    ap.add_argument('--teacher', default='', help='the teacher\'s export folder (not with --alone)')
    ap.add_argument('--alone', action='store_true', help='ground truth only: torchvision\'s four losses, no teacher')
    ap.add_argument('--data', required=True, help='COCO annotations JSON (kdet export-data --format coco)')
    ap.add_argument('--images', default='', help='folder the file_name entries are relative to (default: the JSON\'s)')
    ap.add_argument('--steps', type=int, default=6)
    ap.add_argument('--lr', type=float, default=0.01)
    ap.add_argument('--batch', type=int, default=2, help='images per process per step')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--hflip', type=float, default=0.5)
    ap.add_argument('--clip-norm', type=float, default=10.0)
    ap.add_argument('--out', required=True)
    ap.add_argument('--skip-check', action='store_true', help='do not check the objective against test/fixtures/models/tv-distill.json first')
    args = ap.parse_args()
    if args.alone == bool(args.teacher):
        raise SystemExit('give --teacher EXPORT_DIR, or --alone (ground truth only)')

    torch.set_num_threads(1)
    dist.init_process_group('gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
    log = (lambda *a: print(*a, flush=True)) if rank == 0 else (lambda *a: None)
    t_start = time.time()

    # 1. The one-batch check of the objective against the values kdet is tested against.
    check = {'ok': True, 'skipped': True} if args.skip_check else None
    if rank == 0 and not args.skip_check:
        if not os.path.exists(FIXTURE):
            raise SystemExit(f'{FIXTURE} is missing: run from the kdet repository, or pass --skip-check')
        terms, want, d_terms, d_grads, same, d32 = fixture_check()
        check = {'terms': terms, 'fixture': want, 'max_abs_term_diff': d_terms, 'max_rel_grad_diff': d_grads, 'same_levels_counts': same, 'tol': TOL, 'float32_max_rel_term_diff': d32}
        log(f'one-batch check on {os.path.relpath(FIXTURE, os.path.join(HERE, ".."))} (the values kdet\'s TvDistiller is tested against), float64: '
            f'max |term - fixture| {d_terms:.2e}, max gradient difference {d_grads:.2e} of its largest entry, '
            f'levels and sample counts {"equal" if same else "DIFFER"} (tolerance {TOL:g}); float32: max relative term difference {d32:.2e}; terms ' + ', '.join(f'{k} {terms[k]:.6f}' for k in PARTS))
        ok = d_terms <= TOL and d_grads <= TOL and same and d32 <= 1e-4
        check['ok'] = ok
    box = [check]
    dist.broadcast_object_list(box, src=0)
    if not box[0]['ok']:
        raise SystemExit(f'rank {rank}: the objective does not reproduce {FIXTURE} to {TOL}: stopping before training')

    # 2. The models torchvision builds from the exports' metadata.
    student, side = build(args.student)
    student.train()
    teacher, tside = (None, None)
    if not args.alone:
        teacher, tside = build(args.teacher)
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        if tside['class_names'] != side['class_names']:
            raise SystemExit(f'student and teacher have other classes: {side["class_names"]} vs {tside["class_names"]}')
        norm = lambda s: (s['builder_kwargs'].get('image_mean'), s['builder_kwargs'].get('image_std'))
        if norm(side) != norm(tside):
            raise SystemExit('student and teacher must normalise images alike (they see the same batch)')
    kw = side['builder_kwargs']
    log(f'world {world} (gloo, CPU, {torch.get_num_threads()} thread per process), torch {torch.__version__}, torchvision {torchvision.__version__}')
    log(f'student {side["builder"]} ({side["norm"]} norm, {sum(p.numel() for p in student.parameters() if p.requires_grad) / 1e6:.2f} M trainable) from {args.student}'
        + (f'; teacher {tside["builder"]} (frozen, eval mode) from {args.teacher}' if teacher is not None else '; alone (ground truth only)'))
    log(f'classes {side["num_classes"] - 1} ({", ".join(side["class_names"])}); transform {kw.get("min_size")}/{kw.get("max_size")}' + (', both models see the student\'s batch' if teacher is not None else ''))

    # One 1x1 adapter per student FPN level (kdet: Kaiming-normal fan-in weights, zero bias); the
    # probe (eval mode, no statistics updated) finds the levels and which teacher level each imitates.
    torch.manual_seed(args.seed)
    adapters = nn.ModuleList()
    unused = False
    if teacher is not None:
        student.eval()
        with torch.no_grad():
            probe = student.transform([torch.zeros(3, kw.get('min_size', 320), kw.get('min_size', 320))])[0].tensors
            levels = match_levels(student.backbone(probe), teacher.backbone(probe))
        student.train()
        for _ in levels:
            conv = nn.Conv2d(student.backbone.out_channels, teacher.backbone.out_channels, 1)
            nn.init.kaiming_normal_(conv.weight, mode='fan_in', nonlinearity='relu')
            nn.init.zeros_(conv.bias)
            adapters.append(conv)
        unused = any(m is None for m in levels)
        log(f'hints: student level i -> teacher level {levels}; recipe paper {json.dumps(PAPER)}')

    model = DDP(Objective(student, adapters, teacher, PAPER), find_unused_parameters=unused)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=args.lr, momentum=0.9, weight_decay=1e-4)

    data = Coco(args.data, args.images, side['class_names'])
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=args.seed, drop_last=True)
    if len(sampler) < args.batch:
        raise SystemExit(f'{args.data}: {len(data)} images give each of {world} processes {len(sampler)}, fewer than --batch {args.batch}')
    loader = DataLoader(data, batch_size=args.batch, sampler=sampler, collate_fn=lambda b: tuple(zip(*b)), drop_last=True)
    log(f'data {args.data}: {len(data)} images, {len(sampler)} per process, batch {args.batch} per process ({args.batch * world} a step)')
    torch.manual_seed(args.seed * 1000 + 1 + rank)  # the samplers' draws (torch.randperm) differ per process
    flips = torch.Generator().manual_seed(args.seed * 1000 + 7 + rank)

    os.makedirs(args.out, exist_ok=True)
    records = []
    step, epoch = 0, 0
    t_train = time.time()
    while step < args.steps:
        sampler.set_epoch(epoch)
        for images, targets in loader:
            if step >= args.steps:
                break
            pairs = [hflip(i, t, flips, args.hflip) for i, t in zip(images, targets)]
            images, targets = [p[0] for p in pairs], [p[1] for p in pairs]
            lr = learning_rate(args.lr, step, args.steps)
            for g in opt.param_groups:
                g['lr'] = lr
            t0 = time.time()
            parts = model(images, targets)
            loss = sum(parts.values())
            opt.zero_grad()
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(params, args.clip_norm) if args.clip_norm > 0 else torch.tensor(float('nan'))
            # The losses averaged over the processes (the gradients DDP averaged are theirs).
            names = list(parts)
            vals = torch.stack([loss.detach()] + [parts[k].detach() for k in names]).double()
            dist.all_reduce(vals)
            vals /= world
            if not math.isfinite(vals[0].item()):
                raise SystemExit(f'rank {rank}: loss is {vals[0].item()} at step {step}; lower the learning rate')
            opt.step()
            step += 1
            rec = {'step': step, 'lr': lr, 'loss': vals[0].item(), 'parts': {k: vals[1 + i].item() for i, k in enumerate(names)}, 'gradNorm': norm.item(), 'seconds': time.time() - t0}
            records.append(rec)
            log(f'step {step}/{args.steps} lr {lr:.2e} loss {rec["loss"]:.4f} (' + ' '.join(f'{k} {v:.4f}' for k, v in rec['parts'].items()) + f') |grad| {rec["gradNorm"]:.2f} {rec["seconds"]:.1f} s')
        epoch += 1
    seconds = time.time() - t_train

    # 3. Rank 0 writes the student under torchvision's names, with its sidecar unchanged.
    if rank == 0:
        sd = student.state_dict()
        torch.save(sd, os.path.join(args.out, 'model.pth'))
        # The export's safetensors metadata (arch, num_classes, class_names, kdet_torchvision) kept as it was.
        write_safetensors(os.path.join(args.out, 'model.safetensors'), sd, side['safetensors_metadata'])
        shutil.copyfile(os.path.join(args.student, SIDECAR), os.path.join(args.out, SIDECAR))
        if len(adapters):
            torch.save(adapters.state_dict(), os.path.join(args.out, 'adapters.pth'))
        with open(os.path.join(args.out, 'log.jsonl'), 'w') as f:
            for r in records:
                f.write(json.dumps(r) + '\n')
        summary = {
            'world_size': world, 'backend': 'gloo', 'threads_per_process': torch.get_num_threads(), 'torch': torch.__version__, 'torchvision': torchvision.__version__,
            'student': side['builder'], 'teacher': tside['builder'] if tside else None, 'mode': 'alone' if args.alone else 'distill', 'config': None if args.alone else PAPER,
            'steps': step, 'batch_per_process': args.batch, 'lr': args.lr, 'images': len(data), 'check': check,
            'first': records[0], 'last': records[-1], 'train_seconds': seconds, 'wall_seconds': time.time() - t_start,
        }
        with open(os.path.join(args.out, 'summary.json'), 'w') as f:
            json.dump(summary, f, indent=1)
        log(f'{step} steps in {seconds:.1f} s ({seconds / max(step, 1):.2f} s/step); wrote {args.out}/model.safetensors, model.pth, {SIDECAR} (unchanged from {args.student}), '
            f'{"adapters.pth, " if len(adapters) else ""}log.jsonl, summary.json')
        log(f'back to kdet: node bin/kdet.js import --torchvision {args.out}/model.safetensors --out <checkpoint.safetensors>')
    dist.barrier()
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
