"""Load a `kdet export --torchvision` folder into torchvision 0.14's FasterRCNN and compare detections.

Usage: /usr/bin/python3 scripts/torchvision_check.py <export folder>
The folder holds model.safetensors (torchvision names, kdet config in the metadata), images.f32
(float32 NCHW in [0, 1]) and kdet-detections.json (what kdet detected on those images).
It builds the same architecture in torchvision, loads the weights, runs inference and prints the
largest score and box differences against kdet. Exit code 1 if they disagree beyond 1e-4 / 1e-2 px.
"""
import json
import struct
import sys

import os

import torch

# One builder of the torchvision model for both the inference check and the training peer.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "torch-peer"))
from train_torchvision import build_model  # noqa: E402


def read_safetensors(path):
    """A minimal reader written from the format's rules (the safetensors package is not in Debian 12)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        assert info["dtype"] == "F32", name
        t = torch.frombuffer(bytearray(raw[8 + n + b:8 + n + e]), dtype=torch.float32)
        tensors[name] = t.reshape(info["shape"]).clone()
    return tensors, meta


def main(folder):
    weights, meta = read_safetensors(f"{folder}/model.safetensors")
    cfg = json.loads(meta["kdet_config"])
    ref = json.load(open(f"{folder}/kdet-detections.json"))
    n, c, h, w = ref["shape"]
    model = build_model(cfg, h).eval()
    model.load_state_dict(weights, strict=True)
    images = torch.frombuffer(bytearray(open(f"{folder}/images.f32", "rb").read()), dtype=torch.float32).reshape(n, c, h, w)
    with torch.no_grad():
        out = model(list(images))
    # Compare as sets: each kdet detection must have a torchvision detection of the same class
    # with the same box (within 1e-2 px) and score (within 1e-4). Order among equal scores is
    # not meaningful, so it is not compared.
    unmatched = 0
    total = 0
    worst_score = 0.0
    worst_box = 0.0
    for i, (tv, kd) in enumerate(zip(out, ref["detections"])):
        ks = torch.tensor(kd["scores"])
        kb = torch.tensor(kd["boxes"]).reshape(-1, 4)
        kl = torch.tensor(kd["labels"], dtype=torch.int64)
        used = torch.zeros(len(tv["scores"]), dtype=torch.bool)
        total += len(ks)
        if len(ks) != len(tv["scores"]):
            print(f"image {i}: kdet {len(ks)} detections, torchvision {len(tv['scores'])}")
        for j in range(len(ks)):
            cand = (~used) & (tv["labels"] == kl[j])
            if cand.any():
                idx = torch.nonzero(cand).flatten()
                db = (tv["boxes"][idx] - kb[j]).abs().max(1).values
                ds = (tv["scores"][idx] - ks[j]).abs()
                best = torch.argmin(db + ds)
                if db[best] <= 1e-2 and ds[best] <= 1e-4:
                    used[idx[best]] = True
                    worst_box = max(worst_box, db[best].item())
                    worst_score = max(worst_score, ds[best].item())
                    continue
            unmatched += 1
    print(f"{n} images, {total} kdet detections: {total - unmatched} found in torchvision's output; "
          f"max |score diff| {worst_score:.2e}, max |box diff| {worst_box:.2e} px")
    ok = unmatched == 0 and all(len(t["scores"]) == len(k["scores"]) for t, k in zip(out, ref["detections"]))
    print("AGREE" if ok else "DISAGREE")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(sys.argv[1])
