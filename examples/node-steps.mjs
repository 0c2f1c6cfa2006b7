// Node: a few distillation steps on wasm or webgpu (webgpu through the optional npm package
// `webgpu`); prints one JSON line of losses. Run after `npm run build`:
//   node examples/node-steps.mjs wasm 3          (backend, steps, scene size: 0 = 128)
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json node examples/node-steps.mjs webgpu 2 32
import { readFile } from 'node:fs/promises';
import { distilSteps, useBackend } from './steps.mjs';

const backend = process.argv[2] ?? 'wasm';
const steps = Number(process.argv[3] ?? 3);
const size = Number(process.argv[4] ?? 0);
try {
  await useBackend(backend);
} catch (e) {
  console.error(`kdet: ${e.message}`);
  process.exit(2);
}
const teacher = new Uint8Array(await readFile(new URL('../models/teacher.safetensors', import.meta.url)));
const losses = await distilSteps(teacher, { steps, size });
console.log(JSON.stringify({ runtime: 'node', backend, losses }));
// Exit explicitly: the wasm backend's thread pool (at commit adc3411) can keep Node alive after
// the last step.
process.exit(0);
