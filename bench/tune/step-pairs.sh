#!/usr/bin/env bash
# Usage: bench/tune/step-pairs.sh > results/thread-scaling/step-pairs.txt (on an idle machine).
# The student step's thread scaling behind docs/performance.md: per-op time of the student's step at 1 and 2
# threads, and the student step 1T vs 2T in alternating pairs (median of steps > 5).
cd "$(dirname "$0")/../.."
for t in 1 2; do
  KDET_THREADS=$t node scripts/run.mjs bench/tune/op-profile.ts train --preset student --steps 24 --eval-every 0 --test-size 1 --out /tmp/opp$t 2>&1 | grep -v "█\|···" > results/thread-scaling/op-profile-${t}thread.txt
done
med() { jq -s '[.[] | select(.step > 5) | .seconds] | sort | .[(length/2|floor)]' "$1"; }
for pair in 1 2 3; do
  for t in 1 2; do
    rm -rf /tmp/st-$t; KDET_THREADS=$t node bin/kdet.js train --preset student --steps 16 --eval-every 0 --test-size 1 --out /tmp/st-$t > /dev/null 2>&1
    echo "pair $pair threads $t student median $(med /tmp/st-$t/log.jsonl)"
  done
done
