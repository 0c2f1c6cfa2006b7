import { existsSync } from 'node:fs';
import { gzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { DEBIAN_FASHION_DIR, FASHION_CLASSES, loadFashionItems } from '../../src/data/fashion.js';
import { encodeIdx } from '../../src/data/idx.js';
import { same } from './same.js';
import { noteSkip } from '../helpers/skip.js';

describe('Fashion-MNIST items', () => {
  it('embedded subset: 200 train and 60 t10k items per class, recorded as embedded', async () => {
    const items = await loadFashionItems();
    expect(items.source).toBe('embedded');
    expect(items.train.count).toBe(2000);
    expect(items.test.count).toBe(600);
    expect(items.train.pixels.length).toBe(2000 * 784);
    const perClass = new Array(10).fill(0);
    for (const c of items.train.classes) perClass[c]++;
    expect(perClass).toEqual(new Array(10).fill(200));
    expect(FASHION_CLASSES).toHaveLength(10);
    expect(await loadFashionItems('embedded')).toBe(items); // cached
  });

  // Only this test wants the full files; the rest use the embedded subset. Without Debian's
  // package it is skipped under a name that says so.
  const fullFile = `${DEBIAN_FASHION_DIR}/train-images-idx3-ubyte.gz`;
  const fullMissing = !existsSync(fullFile);
  const fullWhy = `${fullFile} not found; \`apt-get install dataset-fashion-mnist\` installs the full set`;
  if (fullMissing) noteSkip("Fashion-MNIST: reading Debian's full set", fullWhy);
  it.skipIf(fullMissing)(
    "reads Debian's full set, of which the embedded subset is the head of each class" +
      (fullMissing ? ` (SKIPPED: ${fullWhy})` : ''),
    async () => {
      const full = await loadFashionItems('debian');
      expect(full.source).toBe('debian');
      expect(full.train.count).toBe(60000);
      expect(full.test.count).toBe(10000);
      const sub = await loadFashionItems('embedded');
      // The first embedded train item is the first train item of its class.
      const c = sub.train.classes[0]!;
      const first = full.train.classes.indexOf(c);
      expect(same(sub.train.pixels.subarray(0, 784), full.train.pixels.subarray(first * 784, first * 784 + 784))).toBe(true);
      expect((await loadFashionItems('auto')).source).toBe('debian');
    },
    30_000,
  );

  it('names the Debian package and the alternatives when files are missing', async () => {
    await expect(loadFashionItems({ path: '/nonexistent/fashion' })).rejects.toThrow(
      /\/nonexistent\/fashion\/\S+-ubyte\.gz not found.*dataset-fashion-mnist.*source: 'embedded'/,
    );
  });

  it('accepts the four files as bytes (browsers) and validates them', async () => {
    const img = gzipSync(encodeIdx([2, 28, 28], new Uint8Array(2 * 784).fill(9)));
    const lab = gzipSync(encodeIdx([2], Uint8Array.of(3, 4)));
    const items = await loadFashionItems({ bytes: { trainImages: img, trainLabels: lab, testImages: img, testLabels: lab } });
    expect(items.source).toBe('bytes');
    expect(Array.from(items.test.classes)).toEqual([3, 4]);
    const bad = gzipSync(encodeIdx([3], Uint8Array.of(1, 2, 3)));
    await expect(loadFashionItems({ bytes: { trainImages: img, trainLabels: bad, testImages: img, testLabels: lab } })).rejects.toThrow(
      /train-labels-idx1-ubyte\.gz: expected 2 labels/,
    );
  });
});
