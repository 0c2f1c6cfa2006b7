/**
 * How the VOC and COCO readers reach files: a reader (Node's fs by default,
 * fetch or a Map in a browser), and optionally a lister and an existence
 * test. With a custom reader and no `exists`, existence is tested by reading.
 */
import { DataError } from './errors.js';
import { fileExists, listDir, readFileBytes } from './fs.js';
import type { ByteReader } from './types.js';

export interface FileAccessOptions {
  /** Reads a file's bytes; defaults to Node's fs, pass a fetch-based reader in browsers. */
  read?: ByteReader;
  /**
   * Names of the entries of a folder (default: Node's fs with the default
   * reader; none with a custom one). Needed to find annotations without a split list.
   */
  list?: (dir: string) => Promise<string[]>;
  /** Whether a file exists (default: Node's fs with the default reader; reading it otherwise). */
  exists?: (path: string) => Promise<boolean>;
}

export interface FileAccess {
  read: ByteReader;
  list: ((dir: string) => Promise<string[]>) | undefined;
  exists: (path: string) => Promise<boolean>;
}

export function fileAccess(o: FileAccessOptions): FileAccess {
  const read = o.read ?? readFileBytes;
  const custom = o.read !== undefined;
  const probe = async (path: string): Promise<boolean> => {
    try {
      await read(path);
      return true;
    } catch {
      return false;
    }
  };
  return {
    read,
    list: o.list ?? (custom ? undefined : listDir),
    exists: o.exists ?? (custom ? probe : fileExists),
  };
}

/** Lists a folder, or undefined when it does not exist or cannot be listed. */
export async function tryList(access: FileAccess, dir: string): Promise<string[] | undefined> {
  if (!access.list) return undefined;
  try {
    return await access.list(dir);
  } catch {
    return undefined;
  }
}

/**
 * Like Promise.all(items.map(fn)) with at most `limit` calls in flight
 * (thousands of files, not thousands of open descriptors). On failure no
 * new call starts, and the error of the lowest index fails is thrown, so that
 * the same bad data set always reports the same first error.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const failures: { index: number; error: unknown }[] = [];
  const worker = async (): Promise<void> => {
    while (next < items.length && failures.length === 0) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (error) {
        failures.push({ index: i, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.length > 0) throw failures.reduce((a, b) => (b.index < a.index ? b : a)).error;
  return out;
}

/** The last part of a path written with '/' or '\' separators. */
export function baseName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

/** The folder part of a path ('' for a bare file name). */
export function dirName(path: string): string {
  const i = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return i < 0 ? '' : i === 0 ? '/' : path.slice(0, i);
}

/** Decodes UTF-8 text, naming the file when the bytes are not UTF-8. */
export function utf8(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new DataError(file, undefined, 'not UTF-8 text (save it as UTF-8)', { cause: e });
  }
}
