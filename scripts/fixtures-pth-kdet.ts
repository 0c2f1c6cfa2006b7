// Writes test/fixtures/interop/kdet-written.pth: kdet-sample.json's tensors through kdet's
// writePth (src/interop/pth.ts). Run by scripts/fixtures-pth.py, which then loads the file with
// torch.load and checks it; test/interop/pth.test.ts re-reads it and checks that writePth still
// writes it byte for byte.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePth, type PthTensorInput } from '../src/interop/index.js';

const dir = join('test', 'fixtures', 'interop');
const sample = JSON.parse(readFileSync(join(dir, 'kdet-sample.json'), 'utf8')) as { tensors: { name: string; dtype: PthTensorInput['dtype']; shape: number[]; values: number[] }[] };
const tensors = new Map<string, PthTensorInput>(sample.tensors.map((t) => [t.name, { dtype: t.dtype, shape: t.shape, data: t.values }]));
const bytes = writePth(tensors);
writeFileSync(join(dir, 'kdet-written.pth'), bytes);
console.log(`wrote ${join(dir, 'kdet-written.pth')} (${bytes.length} bytes, ${tensors.size} tensors)`);
