// Writes a Fashion-MNIST test scene as a PNG, through the package's published entry points
// (run from the repository after `npm run build`; Node resolves 'kdet/data' to dist/data.js).
// sample.png next to this file was made with
//   node examples/browser/make-sample.mjs 5 examples/browser/sample.png
// Scene 5 of the test split (seed 0, 128 px: the scenes the shipped teacher is evaluated on)
// holds a Trouser and an Ankle boot.
import { writeFileSync } from 'node:fs';
import { chwToRgb, encodePng, fashionScenes } from 'kdet/data';

const index = Number(process.argv[2] ?? 5);
const out = process.argv[3] ?? 'scene.png';
const size = Number(process.argv[4] ?? 128);
const scenes = await fashionScenes({ split: 'test', length: Math.max(300, index + 1), seed: 0, size });
const scene = scenes.get(index);
writeFileSync(out, encodePng(chwToRgb(scene.image, size, size)));
const names = Array.from(scene.labels, (l) => scenes.classNames[l - 1]);
console.log(`wrote ${out}: test scene ${index} (${size} px) with ${names.join(', ')}`);
