import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TeacherFeatureStore } from '../distillation/teacher-cache.js';
import { writeAtomic } from './files.js';

/**
 * Teacher features as one file per image in a folder, shared by the processes of
 * `kdet experiment ablation --jobs N` and by repeated `kdet distill --teacher-cache <dir>` runs.
 * Files are written whole (temporary file, then rename), so a reader sees a complete entry or
 * none; one of the wrong size (another format, a damaged disk) counts as absent and is rewritten.
 * Keys already name the teacher, so one folder can serve several teachers.
 */
export class DirectoryFeatureStore implements TeacherFeatureStore {
  constructor(readonly dir: string) {}

  private path(key: string): string {
    // Keys are <teacher>/<shape>-<hash>: hex, digits, 'x' and '-' only, checked so that a key can
    // never name a file outside the folder.
    if (!/^[0-9a-fx-]+\/[0-9a-fx-]+$/.test(key)) throw new Error(`kdet.DirectoryFeatureStore: malformed key '${key}'`);
    return join(this.dir, ...key.split('/')) + '.f32';
  }

  async get(key: string, length: number): Promise<Float32Array | null> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    if (bytes.byteLength !== length * 4) return null;
    const out = new Float32Array(length);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }

  async put(key: string, features: Float32Array): Promise<void> {
    await writeAtomic(this.path(key), new Uint8Array(features.buffer, features.byteOffset, features.byteLength));
  }
}
