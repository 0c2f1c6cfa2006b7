/**
 * Rewrites a .safetensors file with its float32 tensors in float16 (round to nearest even), the
 * metadata kept: how a pre-trained backbone is made small enough to commit. kdet reads float16
 * back as float32 (src/nn/safetensors.ts), so --backbone-from takes the result as it is; the
 * values are the float32 ones rounded once.
 *
 *   node scripts/run.mjs scripts/half-safetensors.ts <in.safetensors> <out.safetensors>
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { decodeSafetensors, encodeSafetensors } from '../src/nn/safetensors.js';

const [from, to] = process.argv.slice(2);
if (!from || !to) {
  console.error('usage: node scripts/run.mjs scripts/half-safetensors.ts <in.safetensors> <out.safetensors>');
  process.exit(2);
}
const { tensors, metadata } = decodeSafetensors(readFileSync(from), from);
for (const [name, t] of tensors) if (t.dtype === 'F32') tensors.set(name, { ...t, dtype: 'F16' });
writeFileSync(to, encodeSafetensors(tensors, { ...metadata, precision: 'float16' }));
console.log(`${to}: ${tensors.size} tensors in float16 (from ${from})`);
