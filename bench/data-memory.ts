// Memory of the file-backed data path at scale (a script, not a test): generates a VOC folder of N
// small JPEGs + XML in a temp dir, opens it with openVoc, iterates a BatchLoader for B batches
// (epoch after epoch, shuffled, flipped, prefetching) and prints the process's RSS and JS heap at
// batch 10 and at the end. With the bounded decoded-image cache the figures should stay flat
// however large N is. Run (Node 20):
//   node scripts/run.mjs bench/data-memory.ts [N=10000] [batches=1000] [batchSize=4] [cacheMB=256] [side=96]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeJpeg } from '../src/data/image.js';
import { BatchLoader } from '../src/data/loader.js';
import { Rng } from '../src/data/rng.js';
import { openVoc } from '../src/data/voc.js';

const [N = 10000, batches = 1000, batchSize = 4, cacheMB = 256, side = 96] = process.argv.slice(2).map(Number);
const MB = 1024 * 1024;
const mem = (): string => {
  const m = process.memoryUsage();
  return `rss ${(m.rss / MB).toFixed(0)} MB, heap ${(m.heapUsed / MB).toFixed(0)} MB, external (typed arrays) ${(m.external / MB).toFixed(0)} MB`;
};

const root = mkdtempSync(join(tmpdir(), 'kdet-data-memory-'));
try {
  const t0 = performance.now();
  for (const d of ['Annotations', 'JPEGImages']) mkdirSync(join(root, d));
  // 64 distinct small JPEGs (a flat background, one coloured rectangle), each written under many
  // ids: decoding costs the same as distinct files, and generating 10,000 takes seconds, not minutes.
  const rng = new Rng(1);
  const templates = Array.from({ length: Math.min(64, N) }, () => {
    const w = side + rng.int(-16, 16);
    const h = side + rng.int(-16, 16);
    const data = new Uint8Array(w * h * 3).fill(100);
    const x1 = rng.int(0, w / 2), y1 = rng.int(0, h / 2), x2 = rng.int(x1 + 4, w - 1), y2 = rng.int(y1 + 4, h - 1);
    for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) data.set([200, 50 + rng.int(0, 150), 50], (y * w + x) * 3);
    return { w, h, box: [x1, y1, x2, y2], jpeg: encodeJpeg({ width: w, height: h, data }, 85) };
  });
  for (let i = 0; i < N; i++) {
    const id = String(i).padStart(6, '0');
    const { w, h, box: [x1, y1, x2, y2], jpeg } = templates[i % templates.length]!;
    writeFileSync(join(root, 'JPEGImages', `${id}.jpg`), jpeg);
    writeFileSync(
      join(root, 'Annotations', `${id}.xml`),
      `<annotation><filename>${id}.jpg</filename><size><width>${w}</width><height>${h}</height><depth>3</depth></size>` +
        `<object><name>box</name><bndbox><xmin>${x1! + 1}</xmin><ymin>${y1! + 1}</ymin><xmax>${x2}</xmax><ymax>${y2}</ymax></bndbox></object></annotation>`,
    );
  }
  console.log(`generated ${N} JPEG + XML (~${side}px) in ${((performance.now() - t0) / 1000).toFixed(1)} s under ${root}`);
  const t1 = performance.now();
  const ds = await openVoc({ root, classNames: 'infer' });
  console.log(`openVoc: ${ds.length} images in ${((performance.now() - t1) / 1000).toFixed(1)} s; ${mem()}`);

  const loader = new BatchLoader(ds, { batchSize, seed: 0, hflip: 0.5, resize: { height: side, width: side }, cacheBytes: cacheMB * MB, prefetch: 1 });
  let b = 0;
  const t2 = performance.now();
  for (let epoch = 0; b < batches; epoch++) {
    for await (const batch of loader.epoch(epoch)) {
      b++;
      if (batch.images.length === 0) throw new Error('empty batch');
      if (b === 10 || b === batches || b % 250 === 0) {
        const c = loader.cache;
        console.log(
          `batch ${b} (epoch ${epoch}): ${mem()}; cache ${c.size} samples, ${(c.bytes / MB).toFixed(0)} MB, hits ${c.hits} misses ${c.misses}`,
        );
      }
      if (b >= batches) break;
    }
  }
  const s = (performance.now() - t2) / 1000;
  console.log(`${b} batches of ${batchSize} in ${s.toFixed(1)} s (${((b * batchSize) / s).toFixed(0)} images/s)`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
