import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** PyTorch golden fixtures written by scripts/make_fixtures.py (see its docstring). */
export interface FixtureArray {
  dtype: 'float32' | 'int32';
  shape: number[];
  /** Little-endian bytes, base64. */
  data: string;
}

export interface FixtureInput extends FixtureArray {
  name: string;
  grad: boolean;
}

export interface FixtureCase {
  op: string;
  name: string;
  params: Record<string, unknown>;
  inputs: FixtureInput[];
  output: FixtureArray;
  dy?: FixtureArray;
  grads?: Record<string, FixtureArray>;
  /** A looser tolerance for this case, with the reason. */
  rtol?: number;
  why?: string;
}

export interface FixtureFamily {
  family: string;
  torch: string;
  torchvision: string;
  cases: FixtureCase[];
}

export const OPS_FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'ops');

export function loadFixtureFamilies(dir = OPS_FIXTURE_DIR): FixtureFamily[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const doc = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Omit<FixtureFamily, 'family'>;
      return { family: f.replace(/\.json$/, ''), ...doc };
    });
}

export function decode(a: FixtureArray): Float32Array | Int32Array {
  const bytes = Buffer.from(a.data, 'base64');
  // Copy into a fresh, aligned buffer (Node's pooled Buffers may sit at odd offsets).
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  const out = a.dtype === 'int32' ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer);
  const n = a.shape.reduce((p, d) => p * d, 1);
  if (out.length !== n) throw new Error(`fixture array of shape [${a.shape}] holds ${out.length} values`);
  return out;
}
