// Deno: the npm package, imported unchanged (examples/import_map.json maps 'kdet' to dist/), trains
// a few distillation steps on each backend asked for (default: webgpu, then wasm) and prints one
// JSON line per backend. Run after `npm run build`:
//   deno run --import-map examples/import_map.json --allow-read --allow-env examples/deno-steps.mjs webgpu wasm 2 32
import { distilSteps, useBackend } from './steps.mjs';

// Arguments: backends by name, then optionally the number of steps and the scene size (0: 128).
const backends = Deno.args.filter((a) => !/^\d+$/.test(a));
const [steps = 2, size = 0] = Deno.args.filter((a) => /^\d+$/.test(a)).map(Number);
const teacher = await Deno.readFile(new URL('../models/teacher.safetensors', import.meta.url));
for (const backend of backends.length ? backends : ['webgpu', 'wasm']) {
  await useBackend(backend);
  const losses = await distilSteps(teacher, { steps, size });
  console.log(JSON.stringify({ runtime: 'deno', backend, losses }));
}
// Exit explicitly: the wasm backend's thread pool (at commit adc3411) keeps Deno alive after the
// last step.
Deno.exit(0);
