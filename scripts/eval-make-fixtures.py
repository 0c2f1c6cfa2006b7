#!/usr/bin/env python3
"""Reference numbers for kdet's evaluators (test/fixtures/eval/*.json).

COCO: pycocotools' own COCOeval (pip install pycocotools; Debian 12 does not
package it; fixtures made with 2.0.11, recorded in each file) on random ground
truth and detections: several categories with sparse ids, crowd regions,
`area` fields that differ from the box area, all three area ranges, images
with more than 100 detections, tied scores, an annotation with id 0.

VOC: the devkit's published algorithm (voc_eval / voc_ap of the devkit's
Python port) re-implemented below, on random data with difficult boxes and
tied scores, with both the 11-point and the all-point metric. Its one change:
detections are ranked with a stable sort (kind='stable'), because numpy's
default argsort is not stable and its tie order varies with numpy and CPU;
the MATLAB devkit's sort is stable too.

Usage: python3 scripts/eval-make-fixtures.py   (writes test/fixtures/eval/)
"""
import contextlib
import io
import json
import os

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'eval')


def r2(x):
    return float(round(float(x), 2))


def random_box(rng, w, h, small_bias):
    side = rng.uniform(4, 40) if rng.random() < small_bias else rng.uniform(30, 200)
    bw = max(1.0, side * rng.uniform(0.5, 1.5))
    bh = max(1.0, side * rng.uniform(0.5, 1.5))
    x = rng.uniform(0, max(1.0, w - bw))
    y = rng.uniform(0, max(1.0, h - bh))
    return [r2(x), r2(y), r2(bw), r2(bh)]


def jitter(rng, b, amount):
    x, y, w, h = b
    return [r2(x + rng.normal(0, amount * w)), r2(y + rng.normal(0, amount * h)),
            r2(max(0.5, w * (1 + rng.normal(0, amount)))), r2(max(0.5, h * (1 + rng.normal(0, amount))))]


def boundary_items(images, anns, dets, cat):
    """Exact cases: areas on the range limits (32^2, 96^2), IoU exactly 0.5 and 1."""
    img = images[0]['id']
    for k, (side, area) in enumerate([(32, 1024), (96, 9216), (40, 1024.0), (20, 0)]):
        x = 10 + 100 * k
        anns.append({'id': 9000 + k, 'image_id': img, 'category_id': cat, 'bbox': [x, 5, side, side],
                     'area': area, 'iscrowd': 0})
        dets.append({'image_id': img, 'category_id': cat, 'bbox': [x, 5, side, side], 'score': 0.5})
        dets.append({'image_id': img, 'category_id': cat, 'bbox': [x, 5, side, 2 * side], 'score': 0.5})


def coco_case(seed, n_images, cat_ids, small_bias, crowd_rate, score_decimals, many_dets=0,
              zero_id=False, gt_free_cat=None, det_free_cat=None, boundaries=False):
    rng = np.random.default_rng(seed)
    images, anns, dets = [], [], []
    ann_id = 0 if zero_id else 1
    for i in range(n_images):
        img_id = 100 + 3 * i  # sparse, unordered ids exercise the sorting
        w, h = int(rng.integers(160, 640)), int(rng.integers(160, 480))
        images.append({'id': img_id, 'file_name': f'{img_id}.jpg', 'width': w, 'height': h})
        for _ in range(int(rng.integers(0, 7))):
            cat = int(rng.choice([c for c in cat_ids if c != gt_free_cat]))
            b = random_box(rng, w, h, small_bias)
            crowd = int(rng.random() < crowd_rate)
            area = r2(b[2] * b[3] * rng.uniform(0.5, 1.0))
            anns.append({'id': ann_id, 'image_id': img_id, 'category_id': cat, 'bbox': b,
                         'area': area, 'iscrowd': crowd})
            ann_id += 1
            if cat == det_free_cat:
                continue
            # Detections near the box: a good one, sometimes duplicates and poor ones.
            for _ in range(int(rng.integers(0, 4))):
                dets.append({'image_id': img_id, 'category_id': cat, 'bbox': jitter(rng, b, rng.choice([0.03, 0.1, 0.3])),
                             'score': round(float(rng.random()), score_decimals)})
        for _ in range(int(rng.integers(0, 5))):  # false positives anywhere
            cat = int(rng.choice([c for c in cat_ids if c != det_free_cat]))
            dets.append({'image_id': img_id, 'category_id': cat, 'bbox': random_box(rng, w, h, small_bias),
                         'score': round(float(rng.random()), score_decimals)})
    for k in range(many_dets):  # images with more than 100 detections of one category
        img = images[k]
        for _ in range(130):
            dets.append({'image_id': img['id'], 'category_id': cat_ids[0],
                         'bbox': random_box(rng, img['width'], img['height'], small_bias),
                         'score': round(float(rng.random()), score_decimals)})
    if boundaries:
        boundary_items(images, anns, dets, cat_ids[0])
    order = rng.permutation(len(images))  # file order differs from id order
    gt = {'images': [images[i] for i in order], 'annotations': anns,
          'categories': [{'id': c, 'name': f'class{c}'} for c in cat_ids]}
    coco_gt = COCO()
    coco_gt.dataset = json.loads(json.dumps(gt))
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(json.loads(json.dumps(dets)))
        e = COCOeval(coco_gt, coco_dt, 'bbox')
        e.evaluate()
        e.accumulate()
        e.summarize()
    prec = e.eval['precision']  # [T,R,K,A,M]
    valid = prec > -1
    prec_mean = np.where(valid.any(axis=1), np.where(valid, prec, 0).sum(axis=1) / np.maximum(valid.sum(axis=1), 1), -1)
    return {
        'gt': gt, 'results': dets,
        'iouThrs': e.params.iouThrs.tolist(), 'recThrs': e.params.recThrs.tolist(),
        'stats': e.stats.tolist(),
        'recall': e.eval['recall'].ravel().tolist(),                 # [T,K,A,M]
        'precisionMeanOverRecall': prec_mean.ravel().tolist(),       # [T,K,A,M]
        'precisionSlice': prec[0, :, :, 0, 2].ravel().tolist(),      # [R,K] at IoU .5, all, 100
    }


# ---- VOC: the devkit's algorithm (voc_eval.py / voc_ap) ----

def voc_ap(rec, prec, use_07_metric):
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = 0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
            ap = ap + p / 11.0
        return ap
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


def voc_eval_class(recs, dets, cls, ovthresh, use_07_metric):
    """recs: {image: [{'cls', 'bbox' (x1,y1,x2,y2 inclusive pixels), 'difficult'}]};
    dets: [(image, cls, score, bbox)]."""
    class_recs, npos = {}, 0
    for name, objs in recs.items():
        R = [o for o in objs if o['cls'] == cls]
        bbox = np.array([o['bbox'] for o in R], dtype=float).reshape(-1, 4)
        difficult = np.array([o['difficult'] for o in R]).astype(bool)
        npos += int(np.sum(~difficult))
        class_recs[name] = {'bbox': bbox, 'difficult': difficult, 'det': [False] * len(R)}
    mine = [d for d in dets if d[1] == cls]
    image_ids = [d[0] for d in mine]
    confidence = np.array([d[2] for d in mine], dtype=float)
    BB = np.array([d[3] for d in mine], dtype=float).reshape(-1, 4)
    sorted_ind = np.argsort(-confidence, kind='stable')  # see the module docstring
    BB = BB[sorted_ind, :]
    image_ids = [image_ids[x] for x in sorted_ind]
    nd = len(image_ids)
    tp, fp = np.zeros(nd), np.zeros(nd)
    for d in range(nd):
        R = class_recs[image_ids[d]]
        bb = BB[d, :]
        ovmax = -np.inf
        BBGT = R['bbox']
        if BBGT.size > 0:
            ixmin = np.maximum(BBGT[:, 0], bb[0])
            iymin = np.maximum(BBGT[:, 1], bb[1])
            ixmax = np.minimum(BBGT[:, 2], bb[2])
            iymax = np.minimum(BBGT[:, 3], bb[3])
            iw = np.maximum(ixmax - ixmin + 1.0, 0.0)
            ih = np.maximum(iymax - iymin + 1.0, 0.0)
            inters = iw * ih
            uni = ((bb[2] - bb[0] + 1.0) * (bb[3] - bb[1] + 1.0) +
                   (BBGT[:, 2] - BBGT[:, 0] + 1.0) * (BBGT[:, 3] - BBGT[:, 1] + 1.0) - inters)
            overlaps = inters / uni
            ovmax = np.max(overlaps)
            jmax = np.argmax(overlaps)
        if ovmax > ovthresh:
            if not R['difficult'][jmax]:
                if not R['det'][jmax]:
                    tp[d] = 1.0
                    R['det'][jmax] = 1
                else:
                    fp[d] = 1.0
        else:
            fp[d] = 1.0
    fp, tp = np.cumsum(fp), np.cumsum(tp)
    if npos == 0:
        return None
    rec = tp / float(npos)
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return float(voc_ap(rec, prec, use_07_metric)), npos


def voc_case(seed, n_images, n_classes, difficult_rate, integer_boxes):
    rng = np.random.default_rng(seed)
    images, dets = [], []
    for i in range(n_images):
        w, h = int(rng.integers(200, 500)), int(rng.integers(200, 500))
        objs = []
        for _ in range(int(rng.integers(0, 6))):
            cls = int(rng.integers(1, n_classes + 1))
            bw, bh = rng.uniform(8, 150), rng.uniform(8, 150)
            x1, y1 = rng.uniform(1, w - bw), rng.uniform(1, h - bh)
            box = [x1, y1, x1 + bw, y1 + bh]
            box = [float(round(v)) for v in box] if integer_boxes else [r2(v) for v in box]
            objs.append({'cls': cls, 'bbox': box, 'difficult': int(rng.random() < difficult_rate)})
            for _ in range(int(rng.integers(0, 4))):
                s = rng.choice([2.0, 6.0, 20.0])
                jb = [v + rng.normal(0, s) for v in box]
                jb = [min(jb[0], jb[2] - 1), min(jb[1], jb[3] - 1), max(jb[0] + 1, jb[2]), max(jb[1] + 1, jb[3])]
                dets.append({'image': i, 'label': cls, 'score': round(float(rng.random()), 1),
                             'box': [float(round(v)) if integer_boxes else r2(v) for v in jb]})
        for _ in range(int(rng.integers(0, 4))):
            cls = int(rng.integers(1, n_classes + 1))
            x1, y1 = rng.uniform(1, w - 60), rng.uniform(1, h - 60)
            box = [x1, y1, x1 + rng.uniform(5, 59), y1 + rng.uniform(5, 59)]
            dets.append({'image': i, 'label': cls, 'score': round(float(rng.random()), 1),
                         'box': [float(round(v)) if integer_boxes else r2(v) for v in box]})
        images.append({'id': i, 'width': w, 'height': h, 'objects': objs})
    recs = {im['id']: im['objects'] for im in images}
    flat = [(d['image'], d['label'], d['score'], d['box']) for d in dets]
    out = {'images': images, 'detections': dets, 'numClasses': n_classes}
    for metric, use07 in (('ap07', True), ('apAll', False)):
        res = [voc_eval_class(recs, flat, c, 0.5, use07) for c in range(1, n_classes + 1)]
        out[metric] = [None if r is None else r[0] for r in res]
    out['npos'] = [0 if r is None else r[1] for r in
                   [voc_eval_class(recs, flat, c, 0.5, False) for c in range(1, n_classes + 1)]]
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = {
        'coco-mixed': coco_case(1, 40, [1, 3, 7, 12], small_bias=0.4, crowd_rate=0.1, score_decimals=2),
        'coco-ties-maxdets': coco_case(2, 30, [2, 5, 9], small_bias=0.6, crowd_rate=0.15, score_decimals=1,
                                       many_dets=2, zero_id=True),
        'coco-empty-classes': coco_case(3, 25, [1, 2, 3, 4, 5], small_bias=0.3, crowd_rate=0.2, score_decimals=3,
                                        gt_free_cat=4, det_free_cat=5),
        'coco-boundaries': coco_case(4, 20, [1, 2], small_bias=0.5, crowd_rate=0.1, score_decimals=1,
                                     boundaries=True),
    }
    from importlib.metadata import version
    meta = {'pycocotools': version('pycocotools'), 'numpy': np.__version__}
    for case in list(cases.values()):
        case['meta'] = meta
    for name, case in cases.items():
        with open(os.path.join(OUT, f'{name}.json'), 'w') as f:
            json.dump(case, f, separators=(',', ':'))
        print(name, 'stats', [round(s, 4) for s in case['stats']], 'dets', len(case['results']))
    voc = {
        'voc-integer': voc_case(10, 60, 5, difficult_rate=0.15, integer_boxes=True),
        'voc-float': voc_case(11, 40, 4, difficult_rate=0.25, integer_boxes=False),
    }
    for name, case in voc.items():
        with open(os.path.join(OUT, f'{name}.json'), 'w') as f:
            json.dump(case, f, separators=(',', ':'))
        print(name, 'ap07', case['ap07'], 'apAll', case['apAll'], 'dets', len(case['detections']))


if __name__ == '__main__':
    main()
