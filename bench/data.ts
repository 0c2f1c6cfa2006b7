// Data and evaluation throughput (a script, not a test):
//   npx esbuild bench/data.ts --bundle --platform=node --format=esm --outfile=/tmp/bd.mjs && node /tmp/bd.mjs
// Targets: 1,000 Fashion-MNIST scenes at 128x128 in under 5 s; evaluating
// 5,000 images x 100 detections in under 2 s.
import { FashionScenes } from '../src/data/fashion-scenes.js';
import { loadFashionItems } from '../src/data/fashion.js';
import { Rng } from '../src/data/rng.js';
import { cocoEvaluate, evaluateVoc, targetsToCoco, toCocoResults } from '../src/eval/index.js';
import type { GroundTruth, ImageDetections } from '../src/eval/index.js';

// Best of three runs, in wall time and in this process's CPU time: other
// work on a shared machine only ever adds time, and inflates wall time most.
interface Timing {
  wall: number;
  cpu: number;
}
const time = async <T>(f: () => T | Promise<T>, runs = 3): Promise<[T, Timing]> => {
  const best: Timing = { wall: Infinity, cpu: Infinity };
  let r!: T;
  for (let k = 0; k < runs; k++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    r = await f();
    const c = process.cpuUsage(c0);
    best.wall = Math.min(best.wall, (performance.now() - t0) / 1000);
    best.cpu = Math.min(best.cpu, (c.user + c.system) / 1e6);
  }
  return [r, best];
};
const fmt = (t: Timing): string => `${t.wall.toFixed(2)} s (cpu ${t.cpu.toFixed(2)} s)`;

const [items, tLoad] = await time(() => loadFashionItems('embedded'), 1);
const scenes = new FashionScenes(items, { length: 1000, size: 128 });
const [, tScenes] = await time(() => {
  for (let i = 0; i < scenes.length; i++) scenes.get(i);
});
console.log(`data: load embedded Fashion-MNIST ${fmt(tLoad)}; 1000 scenes 128x128 ${fmt(tScenes)} (target < 5 s)`);

// 5,000 images, 10 classes, ~4 objects each; 100 detections per image: jittered
// copies of the objects plus random boxes, random scores.
const rng = new Rng(1);
const targets: GroundTruth[] = [];
const dets: ImageDetections[] = [];
for (let id = 1; id <= 5000; id++) {
  const n = rng.int(1, 8);
  const boxes: number[] = [];
  const labels: number[] = [];
  for (let k = 0; k < n; k++) {
    const w = rng.uniform(8, 120), h = rng.uniform(8, 120);
    const x = rng.uniform(0, 512 - w), y = rng.uniform(0, 512 - h);
    boxes.push(x, y, x + w, y + h);
    labels.push(rng.int(1, 10));
  }
  const db: number[] = [], dl: number[] = [], ds: number[] = [];
  for (let k = 0; k < 100; k++) {
    if (k < 3 * n) {
      const j = k % n;
      const s = rng.uniform(0, 0.2);
      const [x1, y1, x2, y2] = boxes.slice(4 * j, 4 * j + 4) as [number, number, number, number];
      const dw = (x2 - x1) * s, dh = (y2 - y1) * s;
      db.push(x1 + rng.uniform(-dw, dw), y1 + rng.uniform(-dh, dh), x2 + rng.uniform(-dw, dw), y2 + rng.uniform(-dh, dh));
      dl.push(rng.bool(0.9) ? labels[j]! : rng.int(1, 10));
    } else {
      const w = rng.uniform(8, 120), h = rng.uniform(8, 120);
      const x = rng.uniform(0, 512 - w), y = rng.uniform(0, 512 - h);
      db.push(x, y, x + w, y + h);
      dl.push(rng.int(1, 10));
    }
    ds.push(rng.next());
  }
  targets.push({ id, height: 512, width: 512, boxes, labels, iscrowd: labels.map(() => (rng.bool(0.02) ? 1 : 0)) });
  dets.push({ id, boxes: db, labels: dl, scores: ds });
}
const classNames = Array.from({ length: 10 }, (_, k) => `c${k + 1}`);
const gt = targetsToCoco(targets, classNames);
const results = toCocoResults(dets);
const [coco, tCoco] = await time(() => cocoEvaluate(gt, results));
console.log(`eval: COCO AP@[.5:.95] 5000 images x 100 detections ${fmt(tCoco)} (target < 2 s), AP ${coco.stats[0]!.toFixed(4)}`);
const [voc, tVoc] = await time(() => evaluateVoc(targets, dets, { numClasses: 10 }));
console.log(`eval: VOC AP@0.5 5000 images x 100 detections ${fmt(tVoc)} (target < 2 s), mAP ${voc.mAP.toFixed(4)}`);
