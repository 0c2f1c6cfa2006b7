#!/usr/bin/env bash
# kdet → PyTorch DistributedDataParallel → kdet, end to end, small enough for two CPU cores:
#
#   scripts/scale-out.sh [OUT]        (default runs/scale-out; everything is written under OUT)
#
#  1. kdet trains a tiny family teacher (fasterrcnn_resnet18_fpn) and student
#     (fasterrcnn_mobilenet_v3_large_320_fpn) at 128², a few steps each;
#  2. kdet export --torchvision writes both under torchvision's names, with kdet-meta.json (builder,
#     classes, norm, transform and RPN/box settings as the builder's keyword arguments);
#  3. kdet export-data writes training and held-out scenes as COCO JSON + PNGs;
#  4. torchrun runs scripts/scale_out_distill.py on 2 processes (gloo, CPU, 1 thread each): the
#     one-batch check of the PyTorch objective against kdet's fixture, then a few steps of the
#     paper's distillation with DDP; rank 0 writes the student back under torchvision's names;
#  5. kdet import --torchvision brings it back (kdet-meta.json beside it gives the metadata);
#  6. the imported checkpoint's classes and transform (and RPN/box settings) must equal the
#     original student's, or the script stops;
#  7. kdet detect --json on the held-out images (before and after the DDP steps), torchvision's own
#     detections of the DDP output compared with kdet's of the imported checkpoint
#     (scripts/tv_family_check.py), and kdet eval on the held-out scenes (before and after);
#  8. the imported checkpoint built from its metadata through the package API a web page imports
#     (dist/), its detections compared with kdet detect's.
#
# Any check that fails stops the script with a non-zero exit code.
# Sizes can be changed through the environment: KDET_STEPS (kdet's training steps, 80),
# DDP_STEPS (8), DDP_BATCH (images per process per step, 2), DDP_LR (0.01), TRAIN_IMAGES (32),
# TEST_IMAGES (16), NPROC (2).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/scale-out}
KDET_STEPS=${KDET_STEPS:-80}
DDP_STEPS=${DDP_STEPS:-8}
DDP_BATCH=${DDP_BATCH:-2}
DDP_LR=${DDP_LR:-0.01}
TRAIN_IMAGES=${TRAIN_IMAGES:-32}
TEST_IMAGES=${TEST_IMAGES:-16}
NPROC=${NPROC:-2}
PY=${PYTHON:-/usr/bin/python3}
# One thread per process: kdet's wasm backend and each PyTorch process.
export KDET_THREADS=1 OMP_NUM_THREADS=1
kdet() { node bin/kdet.js "$@"; }
step() { printf '\n== %s\n' "$*"; }
# kdet's progress lines without their bar (the step, losses and rate stay).
quiet() { "$@" | tr '\r' '\n' | sed -E -e 's/^[█·]+ //' -e '/^\s*$/d'; }
T0=$(date +%s)

mkdir -p "$OUT"
step "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(getconf _NPROCESSORS_ONLN) cores; node $(node --version); $($PY -c 'import torch, torchvision; print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, gloo {torch.distributed.is_gloo_available()}")')"

common=(--min-size 128 --max-size 128 --box-batch-size-per-image 128 --steps "$KDET_STEPS" --batch 2 --train-size 64 --test-size 16 --eval-every 0)
step "1. kdet trains a family teacher and student ($KDET_STEPS steps each, 128²)"
quiet kdet train --preset fasterrcnn_resnet18_fpn "${common[@]}" --out "$OUT/kdet-teacher"
quiet kdet train --preset fasterrcnn_mobilenet_v3_large_320_fpn "${common[@]}" --out "$OUT/kdet-student"

step "2. kdet export --torchvision (weights under torchvision's names + kdet-meta.json)"
kdet export --torchvision --checkpoint "$OUT/kdet-teacher/best.safetensors" --out "$OUT/export/teacher"
kdet export --torchvision --checkpoint "$OUT/kdet-student/best.safetensors" --out "$OUT/export/student"
cat "$OUT/export/student/kdet-meta.json"

step "3. kdet export-data: COCO JSON + PNGs ($TRAIN_IMAGES training scenes, $TEST_IMAGES held-out)"
kdet export-data --format coco --split train --count "$TRAIN_IMAGES" --size 128 --out "$OUT/coco-train"
kdet export-data --format coco --split test --count "$TEST_IMAGES" --size 128 --out "$OUT/coco-test"

step "4. torchrun: $NPROC processes, DistributedDataParallel (gloo, CPU), $DDP_STEPS steps of the paper's distillation"
# --redirects/--tee 1:1: torch 1.13's torchrun on Python 3.11 fails with "'NoneType' object has no
# attribute 'get'" when they are left at 0 (Std.from_str('0') is None there); this value only tees
# local rank 1's stdout with a prefix, and is harmless elsewhere.
T1=$(date +%s)
torchrun --standalone --nnodes=1 --nproc_per_node="$NPROC" --redirects 1:1 --tee 1:1 \
  scripts/scale_out_distill.py --student "$OUT/export/student" --teacher "$OUT/export/teacher" \
  --data "$OUT/coco-train/annotations.json" --steps "$DDP_STEPS" --lr "$DDP_LR" --batch "$DDP_BATCH" --out "$OUT/ddp" 2>&1 \
  | sed -E -e '/^WARNING:torch.distributed.run:$/d' -e '/^\*+$/d' -e '/Setting OMP_NUM_THREADS environment variable/d'
echo "torchrun: $(( $(date +%s) - T1 )) s"

step "5. kdet import --torchvision (reads $OUT/ddp/kdet-meta.json)"
kdet import --torchvision "$OUT/ddp/model.safetensors" --out "$OUT/imported.safetensors"

step "6. metadata: the imported checkpoint against the original kdet student"
$PY - "$OUT/kdet-student/best.safetensors" "$OUT/imported.safetensors" "$OUT/export/student/kdet-meta.json" "$OUT/ddp/kdet-meta.json" <<'EOF'
import json, struct, sys

def meta(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        return json.loads(json.loads(f.read(n))['__metadata__']['kdet'])

a, b = meta(sys.argv[1]), meta(sys.argv[2])
fields = {
    'preset': lambda m: m['preset'], 'classNames': lambda m: m['classNames'], 'numClasses': lambda m: m['torchvision']['numClasses'],
    'norm': lambda m: m['torchvision']['norm'], 'transform': lambda m: m['torchvision']['transform'],
    'rpn': lambda m: m['torchvision']['rpn'], 'box': lambda m: m['torchvision']['box'],
}
bad = [k for k, f in fields.items() if f(a) != f(b)]
for k, f in fields.items():
    print(f'{k:10s} {"equal" if k not in bad else "DIFFERENT"}: {json.dumps(f(b))[:150]}')
same_sidecar = open(sys.argv[3], 'rb').read() == open(sys.argv[4], 'rb').read()
print(f'kdet-meta.json after DDP byte-for-byte the exported one: {same_sidecar}')
print(f'imported from: {json.dumps(b["torchvision"]["importedFrom"])}')
if bad or not same_sidecar:
    sys.exit(f'scale-out: METADATA CHANGED in the round trip: {bad}{"" if same_sidecar else " (and the sidecar)"}')
print('metadata intact: classes, transform, norm, RPN and box settings')
EOF
$PY - "$OUT/export/student/model.safetensors" "$OUT/ddp/model.safetensors" <<'EOF'
import json, struct, sys
import numpy as np

def tensors(path):
    raw = open(path, 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    h = json.loads(raw[8:8 + n]); h.pop('__metadata__', None)
    dt = {'F32': np.float32, 'I64': np.int64, 'F64': np.float64}
    return {k: np.frombuffer(raw[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]], dtype=dt[v['dtype']]).astype(np.float64) for k, v in h.items()}

a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
changed = [k for k in a if not k.endswith('num_batches_tracked') and not np.array_equal(a[k], b[k])]
d = max(np.abs(a[k] - b[k]).max() for k in changed) if changed else 0.0
print(f'weights: {len(changed)} of {len(a)} tensors changed by the DDP steps (largest change {d:.3g})')
if not changed:
    sys.exit('scale-out: the DDP run changed no weight')
EOF

step "7. kdet detect --json on the held-out images; torchvision's own detections of the same weights; kdet eval"
imgs=("$OUT"/coco-test/images/*.png)
# --threshold 0: every detection the model keeps (its box_score_thresh, 0.05, still applies).
kdet detect "${imgs[@]}" --checkpoint "$OUT/kdet-student/best.safetensors" --threshold 0 --json "$OUT/detections-before.json" --out "$OUT/detections-before" > /dev/null
kdet detect "${imgs[@]}" --checkpoint "$OUT/imported.safetensors" --threshold 0 --json "$OUT/ddp/kdet.json" --out "$OUT/detections" > /dev/null
$PY - "$OUT/detections-before.json" "$OUT/ddp/kdet.json" <<'EOF'
import json, sys
for what, path in zip(['before the DDP steps (kdet student)', 'after (imported)'], sys.argv[1:]):
    recs = json.load(open(path))
    per = [len(r['detections']) for r in recs]
    top = sorted((d for r in recs for d in r['detections']), key=lambda d: -d['score'])[:3]
    print(f"kdet detect, {what}: {sum(per)} detections on {len(recs)} held-out images (per image {per}), "
          f"{sum(d['score'] >= 0.5 for r in recs for d in r['detections'])} scoring ≥ 0.5; best: " + ', '.join(f"{d['name']} {d['score']:.3f}" for d in top))
EOF
# kdet's detections of the imported checkpoint against torchvision's of the DDP output (model.pth).
$PY scripts/tv_family_check.py "$OUT/ddp"
echo "kdet eval, held-out scenes, the student before the DDP steps:"
kdet eval --checkpoint "$OUT/kdet-student/best.safetensors" --data "coco:$OUT/coco-test/annotations.json" --json | tee "$OUT/eval-before.json"
echo "kdet eval, held-out scenes, after (imported):"
kdet eval --checkpoint "$OUT/imported.safetensors" --data "coco:$OUT/coco-test/annotations.json" --json | tee "$OUT/eval-after.json"

step "8. back to the browser: the imported checkpoint through the modules a page imports (dist/), here in Node"
# The lines between the markers are what a page runs (docs/scale-out.md); only the pixels' source
# differs (a canvas there, kdet's PNG decoder here). Its detections must be kdet detect's.
node --input-type=module - "$OUT/imported.safetensors" "$OUT/ddp/kdet.json" "${imgs[@]}" <<'EOF'
import { readFileSync } from 'node:fs';
import { setBackend, Rng, nn, detection } from './dist/index.js';
import { createWasmBackend } from './dist/wasm.js';
import { decodeImage } from './dist/data.js';
const [ckpt, cliJson, ...files] = process.argv.slice(2);
const load = async () => new Uint8Array(readFileSync(ckpt));   // a page: (await fetch(url)).arrayBuffer()
// ---- page
setBackend(await createWasmBackend({ threads: 1 }));
const bytes = await load();
const meta = nn.readCheckpointMetadata(bytes), tv = meta.torchvision, t = tv.transform;
const model = detection.tvFasterRCNN(meta.preset, tv.numClasses, new Rng(0), { norm: tv.norm, minSize: t.minSize, maxSize: t.maxSize, imageMean: t.imageMean, imageStd: t.imageStd, rpn: tv.rpn, box: tv.box });
nn.loadCheckpoint(bytes, model);
model.eval();
const detect = async (rgb, width, height) => {       // rgb: HWC bytes (a canvas gives RGBA: step 4)
  const n = width * height, image = new Float32Array(3 * n).map((_, i) => rgb[3 * (i % n) + Math.floor(i / n)] / 255);
  const [d] = await model.detect([{ image, height, width }]);
  return Array.from(d.scores, (score, i) => ({ box: Array.from(d.boxes.subarray(4 * i, 4 * i + 4)), score, name: meta.classNames[d.labels[i] - 1] }));
};
// ---- end of page
const cli = JSON.parse(readFileSync(cliJson, 'utf8'));
let worst = 0, count = 0;
for (const [k, file] of files.entries()) {
  const img = decodeImage(new Uint8Array(readFileSync(file)), file);
  const mine = await detect(img.data, img.width, img.height), theirs = cli[k].detections;
  if (mine.length !== theirs.length || mine.some((d, i) => d.name !== theirs[i].name)) throw new Error(`${file}: ${mine.length} detections in the page's code, ${theirs.length} from kdet detect`);
  mine.forEach((d, i) => { worst = Math.max(worst, Math.abs(d.score - theirs[i].score), ...d.box.map((v, j) => Math.abs(v - theirs[i].box[j]))); });
  count += mine.length;
}
console.log(`${meta.preset} (${meta.classNames.length} classes, ${t.minSize}/${t.maxSize}) built from its metadata by the package API: ${count} detections on ${files.length} images, as kdet detect's (largest difference ${worst.toExponential(1)}; kdet detect rounds to 1e-4 px, 1e-6)`);
EOF

step "done in $(( $(date +%s) - T0 )) s; everything under $OUT"
