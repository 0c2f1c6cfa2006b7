// The CLI run in-process for tests: what it prints to stdout (console.log and direct writes, such
// as the progress bar) and to stderr (console.error and console.warn), and its exit code.
import { vi } from 'vitest';
import { main } from '../../src/cli/main.js';

export async function kdet(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const spies = [
    vi.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' '))),
    vi.spyOn(console, 'warn').mockImplementation((...a) => void err.push(a.join(' '))),
    vi.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' '))),
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true)),
  ];
  try {
    const code = await main(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}
