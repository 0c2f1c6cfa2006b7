/**
 * One line on the terminal for a test or suite that is skipped because the machine lacks
 * something (vitest's default reporter does not list skipped tests by name). Written straight to
 * stderr, so it shows as that one line rather than under a `stderr | file` header.
 */
import { relative } from 'node:path';
import { expect } from 'vitest';

export function noteSkip(what: string, why: string): void {
  let file = '';
  try {
    const path = expect.getState().testPath;
    if (path) file = `${relative(process.cwd(), path)}: `;
  } catch {
    // outside a test file: no path to give
  }
  process.stderr.write(`SKIPPED ${file}${what}: ${why}\n`);
}
