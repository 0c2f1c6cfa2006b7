/**
 * The only place that touches Node's file system. It is imported dynamically
 * so that browser bundles of the data layer never pull in `node:fs`; browser
 * code passes bytes or its own ByteReader instead.
 */
import type { ByteReader } from './types.js';

type FsPromises = typeof import('node:fs/promises');
let fsp: Promise<FsPromises> | undefined;

function nodeFs(): Promise<FsPromises> {
  fsp ??= import('node:fs/promises').catch(() => {
    throw new Error('kdet: file access needs Node (or Deno); in a browser pass bytes or a ByteReader');
  });
  return fsp;
}

export const readFileBytes: ByteReader = async (path) => {
  const fs = await nodeFs();
  const buf = await fs.readFile(path);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
};

export async function readFileText(path: string): Promise<string> {
  return new TextDecoder().decode(await readFileBytes(path));
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    await (await nodeFs()).access(path);
    return true;
  } catch {
    return false;
  }
}

export async function writeFileBytes(path: string, bytes: Uint8Array): Promise<void> {
  await (await nodeFs()).writeFile(path, bytes);
}

export async function listDir(path: string): Promise<string[]> {
  return (await nodeFs()).readdir(path);
}

/** Joins path pieces with '/', which Node accepts on every platform. */
export function joinPath(...parts: string[]): string {
  return parts
    .filter((p) => p !== '')
    .map((p, i) => (i === 0 ? p.replace(/\/+$/, '') : p.replace(/^\/+|\/+$/g, '')))
    .join('/');
}

/** Creates a folder and its parents (no error when it exists). */
export async function makeDir(path: string): Promise<void> {
  await (await nodeFs()).mkdir(path, { recursive: true });
}
