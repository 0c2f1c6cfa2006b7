import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CacheStats, TeacherFeatureStore } from '../distillation/teacher-cache.js';
import { fromHalf, toHalf } from '../nn/safetensors.js';
import { writeAtomic } from './files.js';

export interface DirectoryStoreOptions {
  /**
   * Files of float16 values (.f16) instead of float32 (.f32): for the family teachers, whose cache
   * rounds its values to float16 before it stores them (tv-teacher-cache.ts), so nothing is lost.
   */
  float16?: boolean;
  /** Most bytes the folder may hold; once there, new entries are not written (0: no bound). */
  maxBytes?: number;
}

/**
 * Puts between re-counts of the folder's bytes. Other processes (`--jobs`) write to the same
 * folder, so each re-counts now and then: the folder exceeds the bound by at most this many
 * entries per process.
 */
const RECOUNT_EVERY = 32;

/**
 * Teacher features as one file per image in a folder, shared by the processes of
 * `kdet experiment ablation --jobs N` and by repeated `kdet distill --teacher-cache <dir>` runs.
 * Files are written whole (temporary file, then rename), so a reader sees a complete entry or
 * none; one of the wrong size (another format, a damaged disk) counts as absent and is rewritten.
 * Keys already name the teacher, so one folder can serve several teachers.
 */
export class DirectoryFeatureStore implements TeacherFeatureStore {
  /** Whether the bound was reached (new entries are no longer written). */
  full = false;
  private bytes = -1;
  private putsSinceCount = 0;

  constructor(
    readonly dir: string,
    readonly options: DirectoryStoreOptions = {},
  ) {}

  private get ext(): string {
    return this.options.float16 ? '.f16' : '.f32';
  }

  private get width(): number {
    return this.options.float16 ? 2 : 4;
  }

  private path(key: string): string {
    // Keys are <teacher>/<shape>-<hash>: hex, digits, 'x' and '-' only, checked so that a key can
    // never name a file outside the folder.
    if (!/^[0-9a-fx-]+\/[0-9a-fx-]+$/.test(key)) throw new Error(`kdet.DirectoryFeatureStore: malformed key '${key}'`);
    return join(this.dir, ...key.split('/')) + this.ext;
  }

  async get(key: string, length: number): Promise<Float32Array | null> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    if (bytes.byteLength !== length * this.width) return null;
    const out = new Float32Array(length);
    if (!this.options.float16) {
      new Uint8Array(out.buffer).set(bytes);
      return out;
    }
    const halves = new Uint16Array(length);
    new Uint8Array(halves.buffer).set(bytes);
    for (let i = 0; i < length; i++) out[i] = fromHalf(halves[i]!);
    return out;
  }

  async put(key: string, features: Float32Array): Promise<void> {
    const path = this.path(key);
    const size = features.length * this.width;
    const max = this.options.maxBytes ?? 0;
    if (max > 0) {
      if (this.bytes < 0 || ++this.putsSinceCount >= RECOUNT_EVERY) {
        this.bytes = await folderBytes(this.dir);
        this.putsSinceCount = 0;
      }
      if (this.bytes + size > max) {
        this.full = true;
        return;
      }
      this.bytes += size;
    }
    if (!this.options.float16) {
      await writeAtomic(path, new Uint8Array(features.buffer, features.byteOffset, features.byteLength));
      return;
    }
    const halves = new Uint16Array(features.length);
    for (let i = 0; i < features.length; i++) halves[i] = toHalf(features[i]!);
    await writeAtomic(path, new Uint8Array(halves.buffer));
  }
}

/** Bytes of the files in a folder and its sub-folders (0 if it does not exist yet). */
async function folderBytes(dir: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  let total = 0;
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await folderBytes(p);
    else if (e.isFile()) total += (await stat(p).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** The console's line on a run's use of the cache. */
export function teacherCacheLine(stats: CacheStats, store: DirectoryFeatureStore): string {
  const max = store.options.maxBytes ?? 0;
  const bound = max > 0 ? `; the folder is bounded at ${Math.round(max / 2 ** 20)} MB${store.full ? ' and is full: later images were not kept' : ''}` : '';
  return `teacher features: ${stats.misses} computed, ${stats.hits} read from ${store.dir}${store.options.float16 ? ' (float16)' : ''}${bound}`;
}
