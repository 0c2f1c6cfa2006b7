#!/usr/bin/env bash
# Runs the README's commands in a fresh clone as a machine with only Node would: Chromium, the
# system Vulkan loader and Debian's Fashion-MNIST package are hidden in a private mount namespace
# (root only; nothing outside this process sees the change). Usage, from the repository:
#   scripts/fresh-machine-check.sh [command...]        (default: npm ci && npm test)
# Every KDET_* / VK_* variable is unset, so the suites decide for themselves what to skip.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
clone="$(mktemp -d /tmp/kdet-fresh-XXXXXX)"
git clone -q "$repo" "$clone"
echo "fresh clone of $(git -C "$clone" log -1 --format=%h) in $clone"
cmd=("$@")
[ ${#cmd[@]} -gt 0 ] || cmd=(bash -c 'npm ci --no-audit --no-fund && npm test')
exec unshare -m bash -c '
  set -e
  hide_dir() { [ -d "$1" ] && mount -t tmpfs none "$1" || true; }
  hide_file() { [ -e "$1" ] && mount --bind /dev/null "$1" || true; }
  hide_dir /usr/lib/chromium
  hide_file /usr/bin/chromium
  for f in /lib/x86_64-linux-gnu/libvulkan.so.1*; do [ -f "$f" ] && ! [ -L "$f" ] && hide_file "$f"; done
  hide_dir /usr/share/datasets/fashion-mnist
  if test -x /usr/bin/chromium || test -e /usr/lib/chromium/vk_swiftshader_icd.json; then echo "Chromium is not hidden" >&2; exit 99; fi
  echo "hidden: Chromium, the Vulkan loader, Fashion-MNIST"
  cd "$0"
  for v in $(env | grep -oE "^(KDET|VK)_[A-Z_]*"); do unset "$v"; done
  exec "$@"
' "$clone" "${cmd[@]}"
