import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from './args.js';

/**
 * Running another kdet command in a child process: how `kdet experiment --jobs` and `kdet distill
 * --compare-alone` use both cores. One process per run at one thread each uses a small machine
 * better than one run on all threads: a training step has serial parts (the optimiser, data, small
 * ops) that leave the other cores idle. Results do not depend on the thread count.
 */

/** bin/kdet.js of this package, found upwards from this module (dist/cli.js or the source tree). */
export function kdetScript(command: string): string {
  for (let d = dirname(fileURLToPath(import.meta.url)), up = 0; up < 5; up++, d = dirname(d)) {
    const candidate = join(d, 'bin', 'kdet.js');
    if (existsSync(candidate)) return candidate;
  }
  throw new UsageError(`kdet ${command}: needs bin/kdet.js and the built CLI to start a second process with, and finds no bin/kdet.js above this module; run npm run build`);
}

/**
 * Runs `kdet <args>` with `threads` wasm threads, its stdout and stderr into `logFile`; resolves
 * to its exit code (128 when killed by a signal).
 */
export async function runKdetChild(command: string, args: readonly string[], threads: number, logFile: string): Promise<number> {
  const script = kdetScript(command);
  const log = await open(logFile, 'w');
  try {
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, [...process.execArgv, script, ...args], {
        env: { ...process.env, KDET_THREADS: String(threads) },
        stdio: ['ignore', log.fd, log.fd],
      });
      child.on('error', reject);
      child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
    });
  } finally {
    await log.close();
  }
}
