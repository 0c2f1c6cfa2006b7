// Train a detector on your own PASCAL VOC folder through the package's public entry points, then
// save it as a checkpoint that `kdet detect` and the browser example load. Run after `npm run build`:
//   node examples/own-data.mjs <VOC_DIR> [steps] [out.safetensors]
// <VOC_DIR> holds Annotations/*.xml and JPEGImages/ (ImageSets/Main/trainval.txt if present; what labelImg
// and CVAT export). Images keep their size and aspect ratio: the model's input transform (as
// torchvision's) resizes each one's short side to 128 px, its long side to at most 213, and maps
// boxes back to the image's own pixels. The class list is the sorted set of names in the
// annotations. A COCO JSON works the same way with openCoco(). `kdet train --data voc:<DIR>` does
// all this from the command line; this is the same path through the API.
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Rng, setBackend } from 'kdet';
import { createWasmBackend } from 'kdet/wasm';
import { FasterRCNN, BACKBONE_PRESETS, defaultConfig, Trainer, defaultTrainerConfig } from 'kdet/detection';
import { openVoc } from 'kdet/data';
import { saveCheckpoint } from 'kdet/nn';

const [root, stepsArg = '300', out = 'own-data.safetensors'] = process.argv.slice(2);
if (!root) {
  console.error('usage: node examples/own-data.mjs <VOC_DIR> [steps] [out.safetensors]');
  process.exit(2);
}
setBackend(await createWasmBackend());
const train = await openVoc({ root, classNames: 'infer' });
console.log(`${train.length} images, classes: ${train.classNames.join(', ')}`);

const config = defaultConfig(train.classNames.length, BACKBONE_PRESETS.student, { transform: true });
const model = new FasterRCNN(config, new Rng(0));
const trainer = new Trainer(model, train, defaultTrainerConfig({ steps: Number(stepsArg), batchSize: 2 }),
  async (images, targets, rng) => (await model.forwardTrain(images, targets, rng)).losses);
await trainer.run({ onStep: (s) => s.step % 10 === 0 && console.log(`step ${s.step} loss ${s.loss.toFixed(3)}`) });

// The metadata `kdet detect` and `kdet eval` read: the model (its transform included), the data, the names.
const data = { name: 'voc', root: resolve(root), classNames: [...train.classNames] };
await writeFile(out, await saveCheckpoint(model, { kind: 'detector', preset: 'student', model: config, data, classNames: [...train.classNames] }));
console.log(`wrote ${out}`);
process.exit(0); // the wasm thread pool's idle workers need not keep Node alive
