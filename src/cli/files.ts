import { mkdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { UsageError } from './args.js';

/** "no such file or directory" from an fs error (its message is `CODE: description, syscall 'path'`). */
export function fsReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const m = /^[A-Z]+: ([^,]+),/.exec(err.message ?? '');
  return m ? m[1]! : err.code ?? String(err.message ?? e);
}

export async function readBytes(path: string, what: string): Promise<Uint8Array> {
  if (!path) throw new UsageError(`${what} needs a file, got ''`);
  try {
    // A folder, /dev/zero or a pipe is refused by name rather than read (for ever, for some).
    const st = await stat(path);
    if (st.isDirectory()) throw new UsageError(`${what} '${path}' is a folder, not a file`);
    if (!st.isFile()) throw new UsageError(`${what} '${path}' is not a regular file`);
    return new Uint8Array(await readFile(path));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    // Keep the errno code in the message (ENOENT, EISDIR, EACCES): it is what people search for.
    throw new UsageError(`${what} '${path}' cannot be read: ${code ? `${code} (${fsReason(e)})` : (e as Error).message}`);
  }
}

/**
 * Create a folder and its missing parents, one level at a time. Not `mkdir -p`: Node's recursive
 * mkdir never returns for a path under /proc (it retries the parent for ever), and the error of a
 * step names the part of the path that failed. Throws the reason as a plain string-bearing Error.
 */
async function makeFolder(path: string): Promise<void> {
  const missing: string[] = [];
  for (let p = resolve(path); ; ) {
    let isDir: boolean;
    try {
      isDir = (await stat(p)).isDirectory();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new Error(`${p}: ${fsReason(e)}`);
      missing.push(p);
      const up = dirname(p);
      if (up === p) throw new Error(`${p}: ${fsReason(e)}`);
      p = up;
      continue;
    }
    if (!isDir) throw new Error(`${p} is a file`);
    break;
  }
  for (const p of missing.reverse()) {
    try {
      await mkdir(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && (await stat(p).catch(() => null))?.isDirectory()) continue; // made meanwhile
      throw new Error(`${p}: ${fsReason(e)}`);
    }
  }
}

/** Write and remove a small file in `dir`; throws the reason it cannot be written. */
async function probeWritable(dir: string): Promise<void> {
  const probe = join(dir, `.kdet-write-test-${process.pid}`);
  try {
    await writeFile(probe, 'kdet');
  } catch (e) {
    throw new Error(fsReason(e));
  } finally {
    await unlink(probe).catch(() => {});
  }
}

/**
 * Check an output folder before any work: create it (and its parents) and write and remove a probe
 * file in it. A folder under a file, in a read-only place or in /proc is one clear line now rather
 * than a stack trace when the first result is written.
 */
export async function prepareOutDir(flag: string, path: string): Promise<void> {
  if (!path) throw new UsageError(`${flag} needs a folder, got ''`);
  try {
    await makeFolder(path);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: cannot create the folder (${(e as Error).message})`);
  }
  try {
    await probeWritable(path);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: cannot write in the folder (${(e as Error).message})`);
  }
}

/**
 * Check an output file's place before any work: not an existing folder, its folder created and
 * writable. The file itself is not touched (an existing one is replaced only when the result is).
 */
export async function prepareOutFile(flag: string, path: string): Promise<void> {
  if (!path) throw new UsageError(`${flag} needs a file name, got ''`);
  if ((await stat(path).catch(() => null))?.isDirectory()) throw new UsageError(`${flag} ${path}: is a folder; give a file name`);
  const dir = dirname(resolve(path));
  try {
    await makeFolder(dir);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: cannot create its folder (${(e as Error).message})`);
  }
  try {
    await probeWritable(dir);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: cannot write in ${dir} (${(e as Error).message})`);
  }
}

/** For `.catch()` on a write: an fs failure becomes one line naming the file; anything else is rethrown. */
export function writeFailed(path: string): (e: unknown) => never {
  return (e) => {
    if (typeof (e as NodeJS.ErrnoException)?.code === 'string') throw new UsageError(`cannot write ${path} (${fsReason(e)})`);
    throw e;
  };
}

/**
 * Write via a temporary file and rename, so an interrupted run never leaves a corrupt file. A
 * failure (disk full, the folder removed mid-run) is one line naming the file.
 */
export async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    writeFailed(path)(e);
  }
}
