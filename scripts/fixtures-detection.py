"""Golden fixtures for the detection parts, written by torchvision 0.14 (Debian's python3-torchvision).

Run: /usr/bin/python3 scripts/fixtures-detection.py  -> test/fixtures/detection/parts.json
Covers AnchorGenerator, BoxCoder (encode/decode with weights and the exp clamp) and Matcher
(thresholds, ties, low-quality matches).
"""
import json
import os

import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection import _utils as det_utils
from torchvision.models.detection.image_list import ImageList

torch.manual_seed(7)
out = {}

# Anchors for a 3x4 feature map at stride 8 (image 24x32).
gen = AnchorGenerator(sizes=((16, 32, 64),), aspect_ratios=((0.5, 1.0, 2.0),))
images = ImageList(torch.zeros(1, 3, 24, 32), [(24, 32)])
feats = [torch.zeros(1, 4, 3, 4)]
anchors = gen(images, feats)[0]
out["anchors"] = {"sizes": [16, 32, 64], "ratios": [0.5, 1.0, 2.0], "stride": 8, "fh": 3, "fw": 4,
                  "boxes": anchors.flatten().tolist()}

def rand_boxes(n):
    xy = torch.rand(n, 2) * 100
    wh = torch.rand(n, 2) * 60 + 2
    return torch.cat([xy, xy + wh], 1)

coder_cases = []
for weights in [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)]:
    coder = det_utils.BoxCoder(weights)
    ref = rand_boxes(20)
    tgt = rand_boxes(20)
    enc = coder.encode_single(tgt, ref)
    deltas = torch.randn(20, 8) * 2
    deltas[0, 2] = 10.0  # beyond the exp clamp
    dec = coder.decode_single(deltas, ref)
    coder_cases.append({"weights": list(weights), "reference": ref.flatten().tolist(), "target": tgt.flatten().tolist(),
                        "encoded": enc.flatten().tolist(), "deltas": deltas.flatten().tolist(),
                        "decoded": dec.flatten().tolist()})
out["boxCoder"] = coder_cases

matcher_cases = []
for high, low, allow in [(0.7, 0.3, True), (0.5, 0.5, False), (0.7, 0.3, False)]:
    m = det_utils.Matcher(high, low, allow_low_quality_matches=allow)
    # Quantised IoUs make ties, including ties for a ground truth's best prediction.
    q = (torch.rand(4, 30) * 10).floor() / 10
    res = m(q)
    matcher_cases.append({"high": high, "low": low, "allow": allow, "iou": q.flatten().tolist(),
                          "gt": 4, "pred": 30, "matches": res.tolist()})
out["matcher"] = matcher_cases

path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "detection", "parts.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", path)
