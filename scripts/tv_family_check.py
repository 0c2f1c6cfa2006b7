"""Run a kdet-trained (or imported) torchvision-family model in torchvision itself and compare with
kdet's own detections: the reverse of `kdet import`'s parity tests.

    node bin/kdet.js export --torchvision --checkpoint <best.safetensors> --out <dir>
    node bin/kdet.js detect <images...> --checkpoint <best.safetensors> --threshold 0 --json <dir>/kdet.json
    /usr/bin/python3 scripts/tv_family_check.py <dir>

The builder, num_classes, transform sizes and RPN / box settings are read from the exported
safetensors' metadata (`kdet_torchvision`); the weights from <dir>/model.pth with torch.load
(weights_only). Each image of kdet.json is read as kdet reads it (PNG, RGB, / 255) and run through
torchvision's model in eval mode (float32). Detections must match in number and labels; the worst
box (px) and score differences are printed, and the script exits 1 above 1e-3 px / 1e-4.
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision.models import detection


def metadata(path):
    with open(path, 'rb') as f:
        n = int.from_bytes(f.read(8), 'little')
        return json.loads(f.read(n))['__metadata__']


def main(folder):
    meta = metadata(os.path.join(folder, 'model.safetensors'))
    tv = json.loads(meta['kdet_torchvision'])
    rpn, box, t = tv['rpn'], tv['box'], tv['transform']
    model = getattr(detection, meta['arch'])(
        weights=None, weights_backbone=None, num_classes=tv['numClasses'],
        min_size=t['minSize'], max_size=t['maxSize'], image_mean=t['imageMean'], image_std=t['imageStd'],
        rpn_pre_nms_top_n_test=rpn['preNmsTopN']['testing'], rpn_post_nms_top_n_test=rpn['postNmsTopN']['testing'],
        rpn_nms_thresh=rpn['nmsThresh'], rpn_score_thresh=rpn['scoreThresh'],
        box_score_thresh=box['scoreThresh'], box_nms_thresh=box['nmsThresh'], box_detections_per_img=box['detectionsPerImg'])
    state = torch.load(os.path.join(folder, 'model.pth'), weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=tv['norm'] == 'batch')
    if unexpected or any(not k.endswith('num_batches_tracked') for k in missing):
        raise SystemExit(f'state_dict does not fit: missing {missing[:5]}, unexpected {unexpected[:5]}')
    model.eval()
    records = json.load(open(os.path.join(folder, 'kdet.json')))
    worst_box = worst_score = 0.0
    counts = []
    for rec in records:
        img = np.asarray(Image.open(rec['file']).convert('RGB'), dtype=np.float32) / 255
        x = torch.from_numpy(img).permute(2, 0, 1).contiguous()
        with torch.no_grad():
            out = model([x])[0]
        dets = rec['detections']
        counts.append((len(dets), len(out['labels'])))
        if len(dets) != len(out['labels']) or [d['torchvisionLabel'] for d in dets] != out['labels'].tolist():
            raise SystemExit(f"{rec['file']}: kdet {[d['torchvisionLabel'] for d in dets]} vs torchvision {out['labels'].tolist()}")
        for d, b, s in zip(dets, out['boxes'].tolist(), out['scores'].tolist()):
            worst_box = max(worst_box, max(abs(u - v) for u, v in zip(d['box'], b)))
            worst_score = max(worst_score, abs(d['score'] - s))
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}: {meta['arch']} num_classes={tv['numClasses']} "
          f"norm={tv['norm']} on {len(records)} images; detections (kdet, torchvision) {counts}; "
          f"worst |box| {worst_box:.2e} px, worst |score| {worst_score:.2e}")
    if worst_box > 1e-3 or worst_score > 1e-4:
        raise SystemExit(1)


if __name__ == '__main__':
    main(sys.argv[1])
