// The installed command (bin/kdet.js over dist/): a reader that closes the pipe early, as
// `kdet eval ... | head -1` does, ends the command quietly with exit code 0, not an EPIPE trace.
import { describe, expect, it } from 'vitest';
import { requireDist, run } from './runtimes.js';

describe('bin/kdet.js', () => {
  it('stops quietly when the reader of its output leaves early (| head -1)', { timeout: 60_000 }, async () => {
    requireDist();
    // The default thread pool keeps the process alive long enough for the EPIPE to surface (with
    // one thread the process can exit before Node reports it, and the check would prove nothing).
    const script = 'set -o pipefail; node bin/kdet.js eval --checkpoint models/teacher.safetensors --test-size 4 | head -1';
    const { stdout, stderr } = await run('bash', ['-c', script]);
    expect(stdout).toMatch(/^teacher on fashion test \(4 images\)\n$/);
    expect(stderr).not.toMatch(/EPIPE|Error/);
  });
});
