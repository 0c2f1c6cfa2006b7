#!/usr/bin/env bash
# A small torchvision-family teacher for the demo's family mode (demo/README.md), so that a
# MobileNetV3-320 student can be distilled in a browser tab without first training a teacher for
# hours: fasterrcnn_resnet18_fpn from random weights on the built-in Fashion-MNIST scenes at
# 128 px (min/max size 128, box batch 128, batch 2), the sizes the demo's family mode runs at.
#
#   scripts/demo-family-teacher.sh [OUT]      (default runs/demo-family-teacher)
#
# Writes OUT/best.safetensors (about 110 MB, float32; not for committing). Then
#
#   npm run demo -- --teacher OUT/best.safetensors
#
# serves the demo with it and prints the URL that loads it (?mode=family&teacher=…); or run
# `npm run demo` and pick or drop the file on the page (mode: MobileNetV3-320 student).
#
# STEPS (default 300) sets the length: a few hundred steps give a weak teacher (its dashed boxes
# are sparse), enough to watch the terms move; more make a better one. On this project's 2-core
# machine, with another training job on both cores, a step took 1.3–1.7 s on wasm, so the default
# is 7–9 minutes plus the final evaluation on 100 scenes. BACKEND (default wasm) and SEED (0) are
# passed on.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/demo-family-teacher}
STEPS=${STEPS:-300}
[ -f dist/cli.js ] || node scripts/build.mjs
node bin/kdet.js train --preset fasterrcnn_resnet18_fpn --data fashion --size 128 \
  --min-size 128 --max-size 128 --box-batch-size-per-image 128 --batch 2 \
  --train-size 5000 --test-size 100 --steps "$STEPS" --eval-every 0 \
  --backend "${BACKEND:-wasm}" --seed "${SEED:-0}" --out "$OUT"
echo "family teacher: $OUT/best.safetensors"
echo "try it: npm run demo -- --teacher $OUT/best.safetensors"
