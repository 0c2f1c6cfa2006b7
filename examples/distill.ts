// Train-and-distil in code: the shipped teacher teaches a student on Fashion-MNIST scenes.
// Run: node scripts/run.mjs examples/distill.ts [steps]
import { readFile } from 'node:fs/promises';
import { Rng, setBackend } from '../src/index.js';
import { createWasmBackend } from '../src/backends/wasm/index.js';
import { fashionScenes } from '../src/data/fashion-scenes.js';
import { FasterRCNN, BACKBONE_PRESETS, defaultConfig, Trainer, defaultTrainerConfig, evaluateDetector } from '../src/detection/index.js';
import { Distiller, defaultDistillConfig } from '../src/distillation/index.js';
import { loadCheckpoint, readCheckpointMetadata } from '../src/nn/index.js';

setBackend(await createWasmBackend());
const bytes = new Uint8Array(await readFile('models/teacher.safetensors'));
const teacher = new FasterRCNN((readCheckpointMetadata(bytes) as { model: never }).model, new Rng(0));
loadCheckpoint(bytes, teacher);

const train = await fashionScenes({ split: 'train', length: 5000 });
const test = await fashionScenes({ split: 'test', length: 100 });
const student = new FasterRCNN(defaultConfig(10, BACKBONE_PRESETS.student), new Rng(1));
const distiller = new Distiller(student, teacher, defaultDistillConfig({ mu: 0.5, gamma: 0.5 }), new Rng(2));

const steps = Number(process.argv[2] ?? 200);
const trainer = new Trainer(distiller, train, defaultTrainerConfig({ steps }), (images, targets, rng, step) => distiller.losses(images, targets, rng, step));
await trainer.run({ onStep: (s) => void (s.step % 50 === 0 && console.log(s.step, s.loss.toFixed(3), s.parts)) });
console.log('student mAP@0.5', (await evaluateDetector(student, test)).map50.toFixed(4));
