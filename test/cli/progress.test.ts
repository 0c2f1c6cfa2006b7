import { describe, expect, it } from 'vitest';
import { formatSeconds, Progress } from '../../src/cli/progress.js';

/** A Progress on a fake clock, logging every step (not a TTY). */
function fake(total: number, warmupSteps = 3) {
  let t = 0;
  const lines: string[] = [];
  const p = new Progress(total, (s) => void lines.push(s), false, 1, warmupSteps, () => t);
  return { p, lines, advance: (seconds: number) => (t += seconds * 1000) };
}

describe('Progress', () => {
  it('shows no ETA during the warm-up, then estimates from the steps after it', () => {
    // 100 steps: the first takes 60 s (compiling), the next two 5 s, the rest 1 s each.
    const { p, lines, advance } = fake(100);
    const times = [60, 5, 5, ...Array(97).fill(1)];
    times.forEach((s, i) => {
      advance(s);
      p.update(i + 1, { loss: 1 }, 4);
    });
    expect(lines[0]).toMatch(/… img\/s ETA …/);
    expect(lines[2]).toMatch(/ETA …/); // step 3 ends the warm-up: nothing timed after it yet
    expect(lines[3]).toMatch(/4\.0 img\/s ETA 1m36s/); // 96 steps left at 1 s
    expect(lines[49]).toMatch(/ETA 50s/);
    expect(lines[99]).toMatch(/ETA 0s/);
  });

  it('the estimate of the old way (from the first step) would have been far off', () => {
    // The issue: an ETA that charged every step the first one's compile time.
    const { p, advance } = fake(100);
    advance(60);
    p.update(1, { loss: 1 }, 4);
    expect(p.eta(1)).toBeNull();
    for (let s = 2; s <= 10; s++) {
      advance(1);
      p.update(s, { loss: 1 }, 4);
    }
    expect(p.eta(10)).toBeCloseTo(90, 6); // 90 steps left at 1 s, not 90 × 6.9 s
  });

  it('counts the warm-up from where this process started (a resumed run)', () => {
    const { p, advance } = fake(1000);
    for (let s = 501; s <= 505; s++) {
      advance(s === 501 ? 30 : 2);
      p.update(s, { loss: 1 }, 4);
    }
    expect(p.eta(505)).toBeCloseTo(495 * 2, 6);
  });

  it('formats durations', () => {
    expect(formatSeconds(5)).toBe('5s');
    expect(formatSeconds(59.6)).toBe('1m00s');
    expect(formatSeconds(96)).toBe('1m36s');
    expect(formatSeconds(3 * 3600 + 5 * 60 + 10)).toBe('3h05m');
    expect(formatSeconds(Infinity)).toBe('?');
  });
});
