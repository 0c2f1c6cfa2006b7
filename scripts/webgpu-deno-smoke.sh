#!/usr/bin/env bash
# Bundles scripts/webgpu-deno-smoke.ts and runs it on Deno's built-in WebGPU, once per software
# Vulkan driver found (lavapipe from mesa-vulkan-drivers, SwiftShader from chromium), or on the
# system's drivers when VK_ICD_FILENAMES is already set.
set -euo pipefail
cd "$(dirname "$0")/.."
npx esbuild scripts/webgpu-deno-smoke.ts --bundle --format=esm --platform=neutral \
  --outfile=build/webgpu-deno-smoke.mjs --log-level=warning
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
run() { npx deno run --allow-env --allow-read build/webgpu-deno-smoke.mjs; }
if [ -n "${VK_ICD_FILENAMES:-}" ]; then run; exit; fi
ran=0
for icd in /usr/share/vulkan/icd.d/lvp_icd.x86_64.json /usr/lib/chromium/vk_swiftshader_icd.json; do
  if [ -f "$icd" ]; then
    echo "== Deno WebGPU with $icd"
    VK_ICD_FILENAMES="$icd" run
    ran=1
  fi
done
[ "$ran" = 1 ] || run
