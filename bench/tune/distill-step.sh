#!/usr/bin/env bash
# Usage: bench/tune/distill-step.sh > results/distill-step/pairs.txt (on an idle machine).
# The distillation step against the plain student step behind docs/performance.md: the paper's full
# objective with the teacher computed every step (a first pass over the images), and with its
# backbone features served from a teacher cache (what the ablation's runs after the first see).
# Median of steps 6-16 of 16-step runs, at the given thread count, in three alternating rounds.
cd "$(dirname "$0")/../.."
T=${KDET_THREADS:-2}
med() { jq -s '[.[] | select(.step > 5 and .step <= 16) | .seconds] | sort | .[(length/2|floor)]' "$1"; }
kdet() { KDET_THREADS=$T node bin/kdet.js "$@" > /dev/null 2>&1; }
common=(--teacher models/teacher.safetensors --steps 16 --eval-every 0 --test-size 1)
rm -rf /tmp/ds-cache
kdet distill "${common[@]}" --teacher-cache /tmp/ds-cache --out /tmp/ds-fill   # fills the cache
echo "threads $T; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); node $(node --version)"
for round in 1 2 3; do
  rm -rf /tmp/ds-*-run
  kdet train --preset student --steps 16 --eval-every 0 --test-size 1 --out /tmp/ds-student-run
  kdet distill "${common[@]}" --out /tmp/ds-full-run
  kdet distill "${common[@]}" --teacher-cache /tmp/ds-cache --out /tmp/ds-cached-run
  s=$(med /tmp/ds-student-run/log.jsonl); f=$(med /tmp/ds-full-run/log.jsonl); c=$(med /tmp/ds-cached-run/log.jsonl)
  echo "round $round: student $s s, distil (teacher computed) $f s = $(echo "$f / $s" | bc -l | cut -c1-4)x, distil (teacher cached) $c s = $(echo "$c / $s" | bc -l | cut -c1-4)x"
done
