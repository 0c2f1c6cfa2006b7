"""Golden fixtures for torchvision 0.14's detection pieces between the FPN and the losses, as kdet
modules (src/detection/multiscale-roi-align.ts, anchors-multilevel.ts, tv-rpn-head.ts,
tv-box-head.ts, batched-nms.ts). PyTorch 1.13 / torchvision 0.14 (Debian's, at /usr/bin/python3).

Run: /usr/bin/python3 scripts/fixtures-tv-heads.py ->
  test/fixtures/detection/multiscale-roi-align.json  (MultiScaleRoIAlign: levels, output, gradient)
  test/fixtures/detection/tv-rpn.json                (AnchorGenerator, RPNHead, filter_proposals)
  test/fixtures/detection/tv-box-head.json           (TwoMLPHead, FastRCNNPredictor, postprocess)

Nothing random is stored that can be regenerated: every weight, feature map and upstream
gradient is a pure function of its name and a range (the generator of
scripts/fixtures-torchvision-backbones.py, mirrored bit for bit by `generate` in
test/models/torchvision-weights.ts), so the files hold only torchvision's answers. Arrays are
float32 (int32 for integers), base64 little-endian, as test/helpers/fixtures.ts decodes them.

Every answer is computed twice: in float64 (what is stored: the exact answer for float32 inputs)
and in float32 (what torchvision really runs). The discrete decisions (top-n, thresholds, NMS,
level assignment) must be the same in both, or the script stops: a near-tie would make the
fixture a coin toss for a float32 backend. The margins printed say how far from a tie the closest
decision was.

The two RPN/box-head configurations are the builders' (channels and the box head's width shrunk
so that the files stay small; every torchvision module here accepts any width):
- fasterrcnn_resnet50_fpn: levels '0'..'3' + 'pool', anchors ((32,), (64,), (128,), (256,),
  (512,)) x (0.5, 1, 2), RPN top-n 2000/2000 train, 1000/1000 test, score_thresh 0;
- fasterrcnn_mobilenet_v3_large_320_fpn: levels '0', '1', 'pool', anchors
  ((32, 64, 128, 256, 512),) * 3 x (0.5, 1, 2), test top-n 150/150, score_thresh 0.05.
Two images of different sizes share a padded batch, so clipping uses each image's own size and
the anchor strides come from the padded size (the MobileNet one has a 'pool' level whose
height and width strides differ: 192 // 3 = 64, 224 // 4 = 56).
"""
import base64
import importlib.util
import json
import math
import os
from collections import OrderedDict

import numpy as np
import torch
import torchvision
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.roi_heads import RoIHeads
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead, concat_box_prediction_layers
from torchvision.ops import MultiScaleRoIAlign, box_iou

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'detection')


# The by-name generator, shared with the backbone fixtures (and test/models/torchvision-weights.ts).
_spec = importlib.util.spec_from_file_location('tv_backbones', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures-torchvision-backbones.py'))
_bb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bb)
generate = _bb.generate


def gen(name, shape, lo, hi):
    return torch.from_numpy(generate(name, list(shape), lo, hi))


def spec(name, shape, lo, hi):
    return {'name': name, 'shape': list(shape), 'lo': lo, 'hi': hi}


def arr(t):
    t = t.detach().to(torch.float32).contiguous()
    return {'dtype': 'float32', 'shape': list(t.shape), 'data': base64.b64encode(t.numpy().tobytes()).decode()}


def arr_i(t):
    t = t.detach().to(torch.int32).contiguous()
    return {'dtype': 'int32', 'shape': list(t.shape), 'data': base64.b64encode(t.numpy().tobytes()).decode()}


def rel(a, b):
    a, b = a.double(), b.double()
    if b.numel() == 0:
        return 0.0
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-30)).item()


def fill(module, prefix, ranges):
    """Generated values into every parameter of module, named prefix + name; returns the specs."""
    specs = []
    with torch.no_grad():
        for name, p in module.named_parameters():
            full = prefix + name
            lo, hi = ranges(name, list(p.shape))
            p.copy_(gen(full, p.shape, lo, hi))
            specs.append(spec(full, p.shape, lo, hi))
    return specs


def features(names, shapes, channels, n, lo=-1.5, hi=1.5):
    specs = [spec(f'features.{k}', [n, channels, h, w], lo, hi) for k, (h, w) in zip(names, shapes)]
    return specs, OrderedDict((s['name'][9:], gen(s['name'], s['shape'], lo, hi)) for s in specs)


def as_dtype(d, dtype):
    return OrderedDict((k, v.to(dtype)) for k, v in d.items())


def check_same(what, a, b):
    if isinstance(a, torch.Tensor):
        a, b = a.tolist(), b.tolist()
    if a != b:
        raise SystemExit(f'{what}: float32 and float64 disagree (a near-tie): {a} vs {b}')


# --------------------------------------------------------------------------------------------
# MultiScaleRoIAlign


def msra_case(label, featmap_names, feat_names, feat_shapes, channels, image_sizes, boxes, output_size, sampling_ratio):
    n = len(image_sizes)
    fspecs, feats = features(feat_names, feat_shapes, channels, n)
    results = {}
    for dtype in (torch.float64, torch.float32):
        pool = MultiScaleRoIAlign(featmap_names, output_size, sampling_ratio)
        x = OrderedDict((k, v.to(dtype).requires_grad_(True)) for k, v in feats.items())
        bx = [b.to(dtype) for b in boxes]
        y = pool(x, bx, image_sizes)
        dy = gen('dy', y.shape, -1, 1).to(dtype)
        (y * dy).sum().backward()
        levels = pool.map_levels(bx) if len(pool.scales) > 1 else torch.zeros(sum(len(b) for b in bx), dtype=torch.int64)
        results[dtype] = (pool, y, x, levels, dy)
    pool, y, x, levels, dy = results[torch.float64]
    _, y32, x32, levels32, _ = results[torch.float32]
    check_same(f'{label} levels', levels, levels32)
    print(f'msra {label}: scales {pool.scales}, k_min {getattr(pool.map_levels, "k_min", None)}, '
          f'k_max {getattr(pool.map_levels, "k_max", None)}, level counts {torch.bincount(levels).tolist()}, '
          f'float32 err out {rel(y32, y):.1e}')
    # The grads of feature maps not named in featmap_names are None (never used).
    grads = {k: arr(v.grad) for k, v in x.items() if v.grad is not None}
    return {
        'label': label,
        'featmap_names': featmap_names,
        'output_size': list(pool.output_size),
        'sampling_ratio': sampling_ratio,
        'image_sizes': [list(s) for s in image_sizes],
        'features': fspecs,
        'boxes': [arr(b) for b in boxes],
        'scales': pool.scales,
        'k_min': getattr(pool.map_levels, 'k_min', None),
        'k_max': getattr(pool.map_levels, 'k_max', None),
        'levels': arr_i(levels),
        'output': arr(y),
        'dy': spec('dy', list(y.shape), -1, 1),
        'grads': grads,
    }


def random_boxes(name, count, max_side, img):
    """Boxes of every scale (sqrt(area) from ~4 to max_side), some leaving the image."""
    u = gen(name, [count, 4], 0, 1).double()
    side = torch.exp(math.log(4) + u[:, 0] * (math.log(max_side) - math.log(4)))
    aspect = torch.exp((u[:, 1] - 0.5) * 1.5)
    w, h = side * aspect.sqrt(), side / aspect.sqrt()
    cx, cy = u[:, 2] * img[1], u[:, 3] * img[0]
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1).to(torch.float32)


def msra_fixture():
    # FPN-like: four pooled levels at strides 4..32 plus 'pool' (not pooled), two images whose
    # largest size (224, 256) is what the scales are inferred from; the padded batch is 224 x 256.
    b0 = random_boxes('boxes.0', 14, 640, (224, 250))
    # Boundary boxes: sqrt(area) exactly 56, 112, 224, 448 (the eps in the level formula decides
    # these), a zero-width box (log2(0) = -inf: level k_min) and one left of and above the image.
    edge = torch.tensor([[5, 5, 61, 61], [0, 0, 112, 112], [10, 20, 234, 244], [0, 0, 448, 448],
                         [30, 30, 30, 40], [-40, -30, 20, 10], [0, 0, 111.9, 112]], dtype=torch.float32)
    b1 = random_boxes('boxes.1', 12, 640, (200, 256))
    case1 = msra_case('fpn 4 levels', ['0', '1', '2', '3'], ['0', '1', '2', '3', 'pool'],
                      [(56, 64), (28, 32), (14, 16), (7, 8), (4, 4)], 4, [(224, 250), (200, 256)],
                      [torch.cat([b0, edge]), b1], 7, 2)
    # featmap_names out of the dict's order (torchvision keeps the dict's order), a non-square
    # output, scales inferred from a size that is not a power-of-two multiple (16 / 100 -> 1/8).
    case2 = msra_case('two levels, names reversed', ['1', '0'], ['0', '1'], [(16, 12), (8, 6)], 3,
                      [(100, 90)], [random_boxes('boxes.2', 9, 600, (100, 90))], (5, 4), 2)
    # One level: roi_align on every box, no level mapper.
    case3 = msra_case('one level', ['0'], ['0', '1'], [(12, 16), (6, 8)], 2, [(48, 60), (40, 64)],
                      [random_boxes('boxes.3', 4, 80, (48, 60)), random_boxes('boxes.4', 3, 80, (40, 64))], 3, 2)
    return {'torch': torch.__version__, 'torchvision': torchvision.__version__, 'cases': [case1, case2, case3]}


# --------------------------------------------------------------------------------------------
# RPN and box head


def head_ranges(name, shape):
    if name.startswith('conv'):
        if len(shape) == 4:
            b = math.sqrt(3 / (shape[1] * shape[2] * shape[3]))
            return -b, b
        return -0.1, 0.1
    if name.startswith('cls_logits'):  # logits spread over a few units: the 0.05 threshold bites
        return (-1.2, 1.2) if len(shape) == 4 else (-0.5, 0.5)
    return (-0.25, 0.25) if len(shape) == 4 else (-0.1, 0.1)  # bbox_pred


def box_ranges(name, shape):
    if name.startswith('fc'):
        if len(shape) == 2:
            b = math.sqrt(3 / shape[1])
            return -b, b
        return -0.1, 0.1
    if name.startswith('cls_score'):
        return (-0.6, 0.6) if len(shape) == 2 else (-0.5, 0.5)
    return (-0.5, 0.5) if len(shape) == 2 else (-0.2, 0.2)  # bbox_pred: deltas of order 1


PRESETS = {
    'fasterrcnn_resnet50_fpn': {
        'names': ['0', '1', '2', '3', 'pool'], 'strides': [4, 8, 16, 32, None],
        'sizes': [[32], [64], [128], [256], [512]], 'ratios': [[0.5, 1.0, 2.0]] * 5,
        'pre': {'training': 2000, 'testing': 1000}, 'post': {'training': 2000, 'testing': 1000},
        'score_thresh': 0.0, 'image_sizes': [(96, 128), (80, 112)], 'padded': (96, 128),
    },
    'fasterrcnn_mobilenet_v3_large_320_fpn': {
        'names': ['0', '1', 'pool'], 'strides': [16, 32, None],
        'sizes': [[32, 64, 128, 256, 512]] * 3, 'ratios': [[0.5, 1.0, 2.0]] * 3,
        'pre': {'training': 2000, 'testing': 150}, 'post': {'training': 2000, 'testing': 150},
        'score_thresh': 0.05, 'image_sizes': [(160, 224), (192, 160)], 'padded': (192, 224),
    },
}
CHANNELS = 16
REPRESENTATION = 64
NUM_CLASSES = 5  # with background


def level_shapes(p):
    H, W = p['padded']
    shapes = [(H // s, W // s) for s in p['strides'][:-1]]
    h, w = shapes[-1]
    shapes.append(((h - 1) // 2 + 1, (w - 1) // 2 + 1))  # LastLevelMaxPool: max_pool2d(1, 2, 0)
    return shapes


def nms_margin(boxes, scores, idxs, thresh, limit=None):
    """Greedy NMS per group, in float64, recording |IoU - thresh| for every comparison that
    decides something (a kept box against a later box not yet suppressed): how far the NMS was
    from a tie. With `limit`, only comparisons about boxes scoring at least the limit-th kept
    box's score count (later ones cannot change the first `limit` detections)."""
    boxes, scores = boxes.double(), scores.double()
    margins = []  # (score of the box decided on, margin)
    kept_scores = []
    for g in idxs.unique():
        sel = torch.where(idxs == g)[0]
        b, s = boxes[sel], scores[sel]
        order = torch.argsort(s, descending=True, stable=True)
        b, s = b[order], s[order]
        iou = box_iou(b, b)
        alive = torch.ones(len(b), dtype=torch.bool)
        for i in range(len(b)):
            if not alive[i]:
                continue
            kept_scores.append(s[i].item())
            later = torch.arange(i + 1, len(b))
            later = later[alive[later]]
            if len(later):
                d = (iou[i, later] - thresh).abs()
                margins += list(zip(s[later].tolist(), d.tolist()))
                alive[later[iou[i, later] > thresh]] = False
    floor = sorted(kept_scores, reverse=True)[limit - 1] if limit and len(kept_scores) >= limit else -1
    return min((m for sc, m in margins if sc >= floor), default=float('inf'))


def run_rpn(p, feats, dtype, head_specs_out):
    torch.manual_seed(0)
    head = RPNHead(CHANNELS, len(p['sizes'][0]) * len(p['ratios'][0]))
    specs = fill(head, 'rpn.head.', head_ranges)
    head_specs_out[:] = specs
    anchor_gen = AnchorGenerator(tuple(tuple(s) for s in p['sizes']), tuple(tuple(r) for r in p['ratios']))
    rpn = RegionProposalNetwork(anchor_gen, head, 0.7, 0.3, 256, 0.5, p['pre'], p['post'], 0.7, score_thresh=p['score_thresh'])
    rpn = rpn.to(dtype)
    x = as_dtype(feats, dtype)
    images = ImageList(torch.zeros(len(p['image_sizes']), 3, *p['padded'], dtype=dtype), p['image_sizes'])
    fl = list(x.values())
    with torch.no_grad():
        objectness, deltas = rpn.head(fl)
        anchors = rpn.anchor_generator(images, fl)
        num_per_level = [o[0].numel() for o in objectness]
        obj, dl = concat_box_prediction_layers(objectness, deltas)
        proposals = rpn.box_coder.decode(dl, anchors).view(len(anchors), -1, 4)
        out = {}
        for mode in ('testing', 'training'):
            rpn.train(mode == 'training')
            boxes, scores = rpn.filter_proposals(proposals, obj, images.image_sizes, num_per_level)
            out[mode] = (boxes, scores)
        rpn.eval()
        boxes_fwd, _ = rpn(images, x)
        for a, b in zip(boxes_fwd, out['testing'][0]):
            assert torch.equal(a, b), 'RegionProposalNetwork.forward differs from its parts'
    return {'objectness': objectness, 'deltas': deltas, 'anchors': anchors, 'num_per_level': num_per_level,
            'proposals': out, 'rpn': rpn}


def run_box_head(p, feats, proposals, dtype, specs_out):
    torch.manual_seed(0)
    pool = MultiScaleRoIAlign(['0', '1', '2', '3'], 7, 2)
    box_head = TwoMLPHead(CHANNELS * 49, REPRESENTATION)
    predictor = FastRCNNPredictor(REPRESENTATION, NUM_CLASSES)
    specs_out[:] = fill(box_head, 'roi_heads.box_head.', box_ranges) + fill(predictor, 'roi_heads.box_predictor.', box_ranges)
    roi_heads = RoIHeads(pool, box_head, predictor, 0.5, 0.5, 512, 0.25, None, 0.05, 0.5, 100).to(dtype).eval()
    x = as_dtype(feats, dtype)
    props = [b.to(dtype) for b in proposals]
    with torch.no_grad():
        pooled = roi_heads.box_roi_pool(x, props, p['image_sizes'])
        logits, regression = roi_heads.box_predictor(roi_heads.box_head(pooled))
        result, _ = roi_heads(x, props, p['image_sizes'])
        boxes, scores, labels = roi_heads.postprocess_detections(logits, regression, props, p['image_sizes'])
        for r, b, s, l in zip(result, boxes, scores, labels):
            assert torch.equal(r['boxes'], b) and torch.equal(r['labels'], l), 'RoIHeads.forward differs from its parts'
    return {'logits': logits, 'regression': regression, 'boxes': boxes, 'scores': scores, 'labels': labels,
            'levels': pool.map_levels(props) if len(pool.scales) > 1 else None, 'scales': pool.scales, 'roi_heads': roi_heads}


def score_margin(logits, regression, props, image_sizes, roi_heads):
    """Smallest |score - 0.05| among candidates, and the NMS decision margin (nms_margin) over
    same-class candidates that decides the first 100 detections."""
    probs = torch.softmax(logits.double(), -1)[:, 1:]
    m_score = (probs - roi_heads.score_thresh).abs().min().item()
    boxes = roi_heads.box_coder.decode(regression.double(), [p.double() for p in props])
    m_iou = float('inf')
    start = 0
    for pb, size in zip(props, image_sizes):
        b = torchvision.ops.clip_boxes_to_image(boxes[start:start + len(pb), 1:], size)
        s = probs[start:start + len(pb)]
        lab = torch.arange(1, NUM_CLASSES).expand_as(s)
        b, s, lab = b.reshape(-1, 4), s.reshape(-1), lab.reshape(-1)
        keep = (s > roi_heads.score_thresh) & (b[:, 2] - b[:, 0] >= 1e-2) & (b[:, 3] - b[:, 1] >= 1e-2)
        m_iou = min(m_iou, nms_margin(b[keep], s[keep], lab[keep], roi_heads.nms_thresh, roi_heads.detections_per_img))
        start += len(pb)
    return m_score, m_iou


def rpn_margin(r, p):
    """The RPN NMS decision margin (test mode), recomputed from the stored pieces."""
    m = float('inf')
    obj = torch.cat([o.permute(0, 2, 3, 1).reshape(o.shape[0], -1) for o in r['objectness']], 1).double()
    dl = [d.view(d.shape[0], -1, 4, d.shape[2], d.shape[3]).permute(0, 3, 4, 1, 2).reshape(d.shape[0], -1, 4) for d in r['deltas']]
    dl = torch.cat(dl, 1).double()
    anchors = r['anchors'][0].double()
    pre = p['pre']['testing']
    for i, size in enumerate(p['image_sizes']):
        idx, lvl, start = [], [], 0
        for li, n in enumerate(r['num_per_level']):
            top = obj[i, start:start + n].topk(min(pre, n)).indices + start
            idx.append(top)
            lvl.append(torch.full((len(top),), li))
            start += n
        idx, lvl = torch.cat(idx), torch.cat(lvl)
        boxes = r['rpn'].box_coder.decode_single(dl[i, idx], anchors[idx])
        boxes = torchvision.ops.clip_boxes_to_image(boxes, size)
        sc = torch.sigmoid(obj[i, idx])
        keep = (boxes[:, 2] - boxes[:, 0] >= 1e-3) & (boxes[:, 3] - boxes[:, 1] >= 1e-3) & (sc >= p['score_thresh'])
        m = min(m, nms_margin(boxes[keep], sc[keep], lvl[keep], 0.7))
        m = min(m, (sc - p['score_thresh']).abs().min().item() if p['score_thresh'] > 0 else m)
    return m


def preset_fixture(preset):
    p = PRESETS[preset]
    shapes = level_shapes(p)
    fspecs, feats = features(p['names'], shapes, CHANNELS, len(p['image_sizes']))
    head_specs = []
    r64 = run_rpn(p, feats, torch.float64, head_specs)
    r32 = run_rpn(p, feats, torch.float32, [])
    for mode in ('testing', 'training'):
        for i, (b64, b32) in enumerate(zip(r64['proposals'][mode][0], r32['proposals'][mode][0])):
            if b64.shape != b32.shape or rel(b32, b64) > 1e-5:
                raise SystemExit(f'{preset} {mode} image {i}: float32 proposals differ from float64 ones')
    # How far from a tie the RPN's NMS was (per level, per image, test mode, before NMS).
    rpn_boxes = r64['proposals']['testing'][0]
    print(f'{preset}: levels {shapes}, anchors {r64["anchors"][0].shape[0]}, per level {r64["num_per_level"]}, '
          f'proposals test {[len(b) for b in rpn_boxes]}, train {[len(b) for b in r64["proposals"]["training"][0]]}')
    print(f'  RPN decision margin (NMS IoU, score threshold): {rpn_margin(r64, p):.1e}')
    props = [b.to(torch.float32) for b in rpn_boxes]
    box_specs = []
    h64 = run_box_head(p, feats, props, torch.float64, box_specs)
    h32 = run_box_head(p, feats, props, torch.float32, [])
    for i in range(len(props)):
        check_same(f'{preset} detections labels {i}', h64['labels'][i], h32['labels'][i])
        assert rel(h32['boxes'][i], h64['boxes'][i]) < 1e-5, 'float32 detections'
    ms, mi = score_margin(h64['logits'], h64['regression'], props, p['image_sizes'], h64['roi_heads'])
    print(f'  box head: scales {h64["scales"]}, levels {None if h64["levels"] is None else torch.bincount(h64["levels"]).tolist()}, '
          f'detections {[len(b) for b in h64["boxes"]]}, logits f32 err {rel(h32["logits"], h64["logits"]):.1e}, '
          f'margins: score {ms:.1e}, IoU {mi:.1e}')
    rpn_part = {
        'preset': preset,
        'channels': CHANNELS,
        'sizes': p['sizes'], 'aspect_ratios': p['ratios'],
        'pre_nms_top_n': p['pre'], 'post_nms_top_n': p['post'], 'score_thresh': p['score_thresh'], 'nms_thresh': 0.7,
        'image_sizes': [list(s) for s in p['image_sizes']], 'padded': list(p['padded']),
        'features': fspecs,
        'head': head_specs,
        'names': [['rpn.' + n, list(t.shape)] for n, t in r64['rpn'].state_dict().items()],
        'cell_anchors': [arr(a) for a in r64['rpn'].anchor_generator.cell_anchors],
        'anchors': arr(r64['anchors'][0]),
        'num_anchors_per_level': r64['num_per_level'],
        'objectness': [arr(o) for o in r64['objectness']],
        'deltas': [arr(d) for d in r64['deltas']],
        'proposals': {mode: {'boxes': [arr(b) for b in r64['proposals'][mode][0]],
                             'scores': [arr(s) for s in r64['proposals'][mode][1]]} for mode in ('testing', 'training')},
    }
    assert all(torch.equal(a, r64['anchors'][0]) for a in r64['anchors']), 'anchors differ between images'
    box_part = {
        'preset': preset,
        'channels': CHANNELS, 'representation': REPRESENTATION, 'num_classes': NUM_CLASSES,
        'image_sizes': [list(s) for s in p['image_sizes']],
        'weights': box_specs,
        'names': [['roi_heads.' + n, list(t.shape)] for n, t in h64['roi_heads'].state_dict().items()],
        'scales': h64['scales'],
        'class_logits': arr(h64['logits']),
        'box_regression': arr(h64['regression']),
        'detections': [{'boxes': arr(b), 'scores': arr(s), 'labels': arr_i(l)}
                       for b, s, l in zip(h64['boxes'], h64['scores'], h64['labels'])],
    }
    return rpn_part, box_part


def write(name, doc):
    path = os.path.join(ROOT, name)
    with open(path, 'w') as f:
        json.dump(doc, f, separators=(',', ':'))
    size = os.path.getsize(path)
    print(f'wrote {path} ({size / 1e3:.0f} kB)')
    assert size < 1e6, f'{name} is over 1 MB'


if __name__ == '__main__':
    write('multiscale-roi-align.json', msra_fixture())
    rpn_cases, box_cases = [], []
    for preset in PRESETS:
        r, b = preset_fixture(preset)
        rpn_cases.append(r)
        box_cases.append(b)
    meta = {'torch': torch.__version__, 'torchvision': torchvision.__version__}
    write('tv-rpn.json', {**meta, 'cases': rpn_cases})
    write('tv-box-head.json', {**meta, 'cases': box_cases})
