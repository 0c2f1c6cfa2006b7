/**
 * A one-line live progress bar for terminals (redrawn in place with \r) that degrades to a
 * plain log line every `logEvery` steps when stdout is not a TTY (CI logs, files).
 *
 * Speed and ETA leave out the first `warmupSteps` steps of the process: those pay for compiling
 * kernels, allocating buffers and filling caches, and the first one can take minutes where the
 * rest take seconds (an ETA from it said 30 min for an 8-minute run). Until then both read '…'.
 * After, the ETA is the remaining steps at the mean time per step since the warm-up, evaluations
 * included (they recur every k steps, so they belong in the rate).
 */
export class Progress {
  /** Time and images at the end of the warm-up; null until it is over. */
  private warm: { time: number; step: number; images: number } | null = null;
  private updates = 0;
  private imagesDone = 0;
  private lastLine = 0;

  constructor(
    readonly total: number,
    readonly write: (s: string) => void = (s) => process.stdout.write(s),
    readonly tty: boolean = Boolean(process.stdout.isTTY),
    readonly logEvery = 20,
    readonly warmupSteps = 3,
    readonly now: () => number = () => performance.now(),
  ) {}

  /** Seconds left, or null while the warm-up lasts (or nothing has been timed since). */
  eta(step: number): number | null {
    const w = this.warm;
    if (!w || step <= w.step) return null;
    const perStep = (this.now() - w.time) / 1000 / (step - w.step);
    return Math.max(0, this.total - step) * perStep;
  }

  update(step: number, parts: Record<string, number>, images: number, extra = ''): void {
    this.updates++;
    this.imagesDone += images;
    if (!this.warm && this.updates >= this.warmupSteps) this.warm = { time: this.now(), step, images: this.imagesDone };
    const w = this.warm;
    const seconds = w ? (this.now() - w.time) / 1000 : 0;
    const rate = w && seconds > 0 ? ((this.imagesDone - w.images) / seconds).toFixed(1) : '…';
    const eta = this.eta(step);
    const frac = step / this.total;
    const width = 20;
    const bar = '█'.repeat(Math.round(Math.min(1, frac) * width)).padEnd(width, '·');
    const loss = Object.values(parts).reduce((a, b) => a + b, 0);
    const detail = Object.entries(parts).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(' ');
    const line = `${bar} ${String(step).padStart(String(this.total).length)}/${this.total} loss ${loss.toFixed(3)} (${detail}) ${rate} img/s ETA ${eta === null ? '…' : formatSeconds(eta)}${extra ? ' ' + extra : ''}`;
    if (this.tty) this.write(`\r\x1b[2K${line}`);
    else if (step === 1 || step % this.logEvery === 0 || step === this.total) this.write(line + '\n');
    this.lastLine = step;
  }

  /** Print a line above the bar (evaluation results). */
  log(text: string): void {
    this.write(this.tty ? `\r\x1b[2K${text}\n` : text + '\n');
  }

  done(): void {
    if (this.tty && this.lastLine > 0) this.write('\n');
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  return m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}
