"""The paper's distillation objective (Chen et al. 2017) on torchvision 0.14's Faster R-CNN family,
written in PyTorch: the one definition that scripts/fixtures-tv-distill.py (the golden values kdet's
TvDistiller is tested against) and scripts/scale_out_distill.py (DistributedDataParallel training)
both import, so that the objective trained with in PyTorch is the one checked against kdet's.

Terms (kdet's names; the "paper" recipe's numbers in PAPER: mu 0.5, T 1, w_bg 1.5, lambda 1,
nu 0.5, m 0, gamma 0.5, bounded squared L2, hints L2 'mean' through 1x1 adapters):
- rpnCls = mu * loss_objectness + (1 - mu) * mean over the sampled anchors the teacher also has of
  -sum_c w_c p_t[c] log p_s[c], with p = softmax([0, o] / T) (background first) of each model's
  logit o at the same anchor box;
- rpnReg = loss_rpn_box_reg + nu * sum over those positive anchors of [|s - y|^2 + m > |t - y|^2] |s - y|^2,
  divided by the number of sampled anchors;
- roiCls = mu * loss_classifier + (1 - mu) * the same soft term over every sampled ROI, the teacher's
  logits from its own MultiScaleRoIAlign and box head on the student's ROIs;
- roiReg = loss_box_reg + nu * the bounded term over the positive ROIs (ground-truth class's deltas),
  divided by the number of sampled ROIs;
- hint = gamma * mean over student levels of mean((adapter_i(S_i) - T_j)^2), T_j the teacher level of
  the same spatial size (the same name first).
rpnReg and roiReg are multiplied by lambda (1 in the paper). Where no sampled anchor (or no positive
anchor, no positive ROI) has a teacher counterpart, the term is the ground-truth loss alone, as in
kdet (src/distillation/tv-distiller.ts).

Both models see the same batch: the student's GeneralizedRCNNTransform output (so the two must
normalise alike); the teacher is frozen and in eval mode, the student in training mode.
"""
import torch
import torch.nn.functional as F
from torchvision.models.detection.roi_heads import fastrcnn_loss
from torchvision.models.detection.rpn import concat_box_prediction_layers

# kdet's "paper" recipe (src/distillation/config.ts defaultDistillConfig, recipes.ts).
PAPER = dict(mu=0.5, T=1.0, w_bg=1.5, nu=0.5, margin=0.0, gamma=0.5)
# kdet's names of the four ground-truth losses (torchvision's loss_objectness, loss_rpn_box_reg,
# loss_classifier, loss_box_reg) and of the objective's parts.
GT_NAMES = {'loss_objectness': 'rpnCls', 'loss_rpn_box_reg': 'rpnReg', 'loss_classifier': 'roiCls', 'loss_box_reg': 'roiReg'}
PARTS = ['rpnCls', 'rpnReg', 'roiCls', 'roiReg', 'hint']


def soft_ce(zs, zt, w, cfg):
    """Rows' -sum_c w_c p_t[c] log p_s[c], averaged over the rows."""
    pt = F.softmax(zt / cfg['T'], dim=1)
    return -(w * pt * F.log_softmax(zs / cfg['T'], dim=1)).sum(1).mean()


def bounded(s, t, y, cfg):
    """sum over rows of |s - y|^2 where it exceeds the teacher's |t - y|^2 less the margin."""
    es = ((s - y) ** 2).sum(1)
    et = ((t - y) ** 2).sum(1)
    return (es * (es + cfg['margin'] > et).to(es.dtype)).sum()


def key(b):
    """An anchor box in thousandths of a pixel: equal boxes of two generators are equal keys."""
    return tuple(round(v * 1000) for v in b.tolist())


def match_anchors(student_anchors, teacher_anchors):
    """For each student anchor, the index of the teacher anchor with the same box (the first of
    equal boxes), or -1."""
    index = {}
    for j in range(len(teacher_anchors) - 1, -1, -1):
        index[key(teacher_anchors[j])] = j
    return [index.get(key(student_anchors[i]), -1) for i in range(len(student_anchors))]


def match_levels(feats, t_feats):
    """For each student level, the teacher level of the same spatial size (the same name first), or None."""
    size = lambda t: tuple(t.shape[-2:])
    match = []
    for name, s in feats.items():
        same = t_feats.get(name)
        match.append(name if same is not None and size(same) == size(s) else next((tn for tn, t in t_feats.items() if size(t) == size(s)), None))
    return match


def objective(student, teacher, adapters, images, targets, cfg=PAPER, lam=1.0):
    """The paper's objective on one batch: `images` a list of [3, H, W] tensors in [0, 1],
    `targets` torchvision's list of {'boxes', 'labels'}; the student in training mode, the teacher
    frozen (eval mode), `adapters` one module per student FPN level. Returns (parts, info): the
    five weighted terms under kdet's names, and what the fixture records (level matching, matched
    anchor fraction, sample counts, proposals, sizes)."""
    dtype = images[0].dtype
    # The student's training forward, step by step as GeneralizedRCNN / RPN / RoIHeads run it.
    il, tg = student.transform(images, targets)
    feats = student.backbone(il.tensors)
    levels = list(feats.values())
    obj, dlt = student.rpn.head(levels)
    anchors = student.rpn.anchor_generator(il, levels)
    n = len(anchors)
    per_level = [o[0].numel() for o in obj]
    obj, dlt = concat_box_prediction_layers(obj, dlt)
    props = student.rpn.box_coder.decode(dlt.detach(), anchors).view(n, -1, 4)
    boxes, _ = student.rpn.filter_proposals(props, obj, il.image_sizes, per_level)
    labels, gt = student.rpn.assign_targets_to_anchors(anchors, tg)
    reg_t = student.rpn.box_coder.encode(gt, anchors)
    # torchvision's RPN loss (RegionProposalNetwork.compute_loss) written out, so that the teacher
    # terms below use the anchors its sampler drew (compute_loss draws them inside and keeps them):
    # the same draw, at the same point of the random stream, summed in the same order.
    pos_masks, neg_masks = student.rpn.fg_bg_sampler(labels)
    pos_inds = torch.where(torch.cat(pos_masks, dim=0))[0]
    neg_inds = torch.where(torch.cat(neg_masks, dim=0))[0]
    rpn_inds = torch.cat([pos_inds, neg_inds], dim=0)
    lab = torch.cat(labels)
    loss_rpn = F.smooth_l1_loss(dlt[pos_inds], torch.cat(reg_t)[pos_inds], beta=1 / 9, reduction='sum') / rpn_inds.numel()
    loss_obj = F.binary_cross_entropy_with_logits(obj.flatten()[rpn_inds], lab[rpn_inds])
    rois, _, roi_labels, roi_reg_t = student.roi_heads.select_training_samples(boxes, tg)
    head = student.roi_heads.box_head(student.roi_heads.box_roi_pool(feats, rois, il.image_sizes))
    cls, box = student.roi_heads.box_predictor(head)
    loss_cls, loss_box = fastrcnn_loss(cls, box, roi_labels, roi_reg_t)

    # The frozen teacher on the same batch tensor.
    with torch.no_grad():
        t_feats = teacher.backbone(il.tensors)
        t_levels = list(t_feats.values())
        t_obj, t_dlt = teacher.rpn.head(t_levels)
        t_anchors = teacher.rpn.anchor_generator(il, t_levels)
        t_obj, t_dlt = concat_box_prediction_layers(t_obj, t_dlt)
        t_head = teacher.roi_heads.box_head(teacher.roi_heads.box_roi_pool(t_feats, rois, il.image_sizes))
        t_cls, t_box = teacher.roi_heads.box_predictor(t_head)

    # Anchors matched as boxes (the same for every image of a batch: one padded size).
    m, mt = len(anchors[0]), len(t_anchors[0])
    amap = match_anchors(anchors[0], t_anchors[0])
    sampled = sorted(rpn_inds.tolist())
    positive = sorted(pos_inds.tolist())
    t_row = lambda g: (g // m) * mt + amap[g % m]
    ms = [g for g in sampled if amap[g % m] >= 0]
    mp = [g for g in positive if amap[g % m] >= 0]
    pair = lambda x: torch.cat([torch.zeros_like(x), x], 1)
    w_rpn = torch.tensor([cfg['w_bg'], 1.0], dtype=dtype)
    rpn_cls = cfg['mu'] * loss_obj + (1 - cfg['mu']) * soft_ce(pair(obj[ms]), pair(t_obj[[t_row(g) for g in ms]]), w_rpn, cfg) if ms else loss_obj
    rpn_reg = loss_rpn + cfg['nu'] * bounded(dlt[mp], t_dlt[[t_row(g) for g in mp]], torch.cat(reg_t)[mp], cfg) / len(sampled) if mp else loss_rpn

    roi_lab = torch.cat(roi_labels)
    roi_tgt = torch.cat(roi_reg_t)
    k = cls.shape[1]
    w_roi = torch.tensor([cfg['w_bg']] + [1.0] * (k - 1), dtype=dtype)
    roi_cls = cfg['mu'] * loss_cls + (1 - cfg['mu']) * soft_ce(cls, t_cls, w_roi, cfg)
    pos = torch.nonzero(roi_lab > 0).flatten()
    sel = lambda b: b.reshape(b.shape[0], -1, 4)[pos, roi_lab[pos]]
    roi_reg = loss_box + cfg['nu'] * bounded(sel(box), sel(t_box), roi_tgt[pos], cfg) / len(roi_lab) if len(pos) else loss_box

    match = match_levels(feats, t_feats)
    terms = [((adapters[i](s) - t_feats[match[i]]) ** 2).mean() for i, s in enumerate(levels) if match[i] is not None]
    if not terms:
        raise ValueError('no student FPN level has the size of a teacher level; hints need levels of equal stride')
    hint = cfg['gamma'] * sum(terms) / len(terms)

    if lam != 1:
        rpn_reg, roi_reg = rpn_reg * lam, roi_reg * lam
    parts = {'rpnCls': rpn_cls, 'rpnReg': rpn_reg, 'roiCls': roi_cls, 'roiReg': roi_reg, 'hint': hint}
    info = {
        'levels': match, 'matched': sum(j >= 0 for j in amap) / m, 'counts': [len(sampled), len(positive), len(ms), len(mp), len(roi_lab), len(pos)],
        'proposals': [len(b) for b in boxes], 'image_sizes': il.image_sizes, 'padded': list(il.tensors.shape[-2:]),
    }
    return parts, info
