/**
 * A one-line live progress bar for terminals (redrawn in place with \r) that degrades to a
 * plain log line every `logEvery` steps when stdout is not a TTY (CI logs, files).
 */
export class Progress {
  private readonly start = performance.now();
  private imagesDone = 0;
  private lastLine = 0;

  constructor(
    readonly total: number,
    readonly write: (s: string) => void = (s) => process.stdout.write(s),
    readonly tty: boolean = Boolean(process.stdout.isTTY),
    readonly logEvery = 20,
  ) {}

  update(step: number, parts: Record<string, number>, images: number, extra = ''): void {
    this.imagesDone += images;
    const elapsed = (performance.now() - this.start) / 1000;
    const rate = this.imagesDone / Math.max(elapsed, 1e-9);
    const eta = ((this.total - step) * elapsed) / Math.max(step, 1);
    const frac = step / this.total;
    const width = 20;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '·');
    const loss = Object.values(parts).reduce((a, b) => a + b, 0);
    const detail = Object.entries(parts).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(' ');
    const line = `${bar} ${String(step).padStart(String(this.total).length)}/${this.total} loss ${loss.toFixed(3)} (${detail}) ${rate.toFixed(1)} img/s ETA ${formatSeconds(eta)}${extra ? ' ' + extra : ''}`;
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
  const m = Math.floor(s / 60);
  const sec = Math.round(s % 60);
  return m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}
