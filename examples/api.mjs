// The README's API example, runnable: node examples/api.mjs [steps] [test scenes] (after `npm run build`).
import { readFile } from 'node:fs/promises';
import { Rng, setBackend } from 'kdet';
import { createWasmBackend } from 'kdet/wasm';
import { FasterRCNN, BACKBONE_PRESETS, defaultConfig, Trainer, defaultTrainerConfig, evaluateDetector } from 'kdet/detection';
import { Distiller, defaultDistillConfig } from 'kdet/distillation';
import { loadCheckpoint, readCheckpointMetadata } from 'kdet/nn';
import { fashionScenes } from 'kdet/data';

const steps = Number(process.argv[2] ?? 1500);
const testScenes = Number(process.argv[3] ?? 300);
setBackend(await createWasmBackend()); // or createWebGPUBackend() from 'kdet/webgpu'
const bytes = new Uint8Array(await readFile('models/teacher.safetensors')); // in a page: fetch(...).arrayBuffer()
const teacher = new FasterRCNN(readCheckpointMetadata(bytes).model, new Rng(0));
loadCheckpoint(bytes, teacher);
const student = new FasterRCNN(defaultConfig(10, BACKBONE_PRESETS.student), new Rng(1));
const distiller = new Distiller(student, teacher, defaultDistillConfig(), new Rng(2));
const train = await fashionScenes({ split: 'train', length: 5000 });
await new Trainer(distiller, train, defaultTrainerConfig({ steps }),
  (images, targets, rng, step) => distiller.losses(images, targets, rng, step)).run();
console.log('student mAP@0.5', (await evaluateDetector(student, await fashionScenes({ split: 'test', length: testScenes }))).map50);
process.exit(0); // idle wasm worker threads need not keep Node alive
