/**
 * The training report: one self-contained HTML page (inline SVG plots, sample detections as PNG
 * data URLs, no script, no network) that `kdet train` and `kdet distill` write as report.html
 * beside their checkpoints. The plotting is plain string building with no Node dependency, so
 * the browser demo draws its live charts with the same `lineChart`.
 */
import { classColour, renderSample } from '../data/draw.js';
import { encodePng } from '../data/image.js';
import type { DetectionSample, DetectionTarget } from '../data/types.js';
import { evaluateVoc } from '../eval/voc.js';
import type { ImageDetections } from '../eval/types.js';

export interface Series {
  name: string;
  points: [number, number][];
  colour?: string;
  dashed?: boolean;
}

export interface ChartOptions {
  width?: number;
  height?: number;
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Fixed axis ranges; default: the data's. */
  xRange?: [number, number];
  yRange?: [number, number];
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Bytes → base64 (for data URLs), without Buffer or btoa. */
export function base64Encode(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + (i + 1 < bytes.length ? B64[(n >> 6) & 63]! : '=') + (i + 2 < bytes.length ? B64[n & 63]! : '=');
  }
  return out;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const fmt = (v: number): string => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(3))));

/** A line chart as an SVG string: axes with ticks, one polyline per series, a legend. */
export function lineChart(series: Series[], o: ChartOptions = {}): string {
  const W = o.width ?? 480;
  const H = o.height ?? 260;
  const m = { l: 52, r: series.length > 1 ? 130 : 12, t: o.title ? 24 : 10, b: o.xLabel ? 38 : 24 };
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const [x0, x1] = o.xRange ?? [Math.min(...pts.map((p) => p[0]), 0), Math.max(...pts.map((p) => p[0]), 1)];
  let [y0, y1] = o.yRange ?? [Math.min(0, ...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]), 1e-6)];
  if (!(y1 > y0)) y1 = y0 + 1;
  const sx = (x: number): number => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const sy = (y: number): number => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`];
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  if (o.title) parts.push(`<text x="${W / 2}" y="15" text-anchor="middle" font-weight="bold">${esc(o.title)}</text>`);
  for (const t of ticks(y0, y1)) {
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.l - 4}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of ticks(x0, x1)) parts.push(`<text x="${sx(t).toFixed(1)}" y="${H - m.b + 14}" text-anchor="middle">${fmt(t)}</text>`);
  parts.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#444"/><line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#444"/>`);
  if (o.xLabel) parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 6}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  if (o.yLabel) parts.push(`<text transform="translate(12 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  series.forEach((s, i) => {
    const colour = s.colour ?? PALETTE[i % PALETTE.length]!;
    const ok = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (ok.length === 1) parts.push(`<circle cx="${sx(ok[0]![0]).toFixed(1)}" cy="${sy(ok[0]![1]).toFixed(1)}" r="3" fill="${colour}"/>`);
    else if (ok.length > 1) {
      const d = ok.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
      parts.push(`<polyline class="series" data-name="${esc(s.name)}" fill="none" stroke="${colour}" stroke-width="1.5"${s.dashed ? ' stroke-dasharray="4 3"' : ''} points="${d}"/>`);
    }
    if (series.length > 1) {
      const ly = m.t + 6 + i * 13;
      parts.push(`<line x1="${W - m.r + 8}" x2="${W - m.r + 24}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="4 3"' : ''}/>`);
      parts.push(`<text x="${W - m.r + 28}" y="${ly + 4}">${esc(s.name)}</text>`);
    }
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Mean of each run of `k` consecutive points (noisy per-step losses read better smoothed). */
export function smooth(points: [number, number][], k: number): [number, number][] {
  if (k <= 1) return points;
  const out: [number, number][] = [];
  for (let i = 0; i < points.length; i += k) {
    const run = points.slice(i, i + k);
    out.push([run[run.length - 1]![0], run.reduce((a, p) => a + p[1], 0) / run.length]);
  }
  return out;
}

/** One logged training step (a line of log.jsonl). */
export interface LoggedStep {
  step: number;
  loss: number;
  [part: string]: number;
}

/** One evaluation (a line of log.jsonl with `eval`). */
export interface LoggedEval {
  step: number;
  map50: number;
  cocoAP?: number;
  perClassAP?: number[];
}

/** Precision–recall points of one class. */
export interface PrCurve {
  className: string;
  ap: number;
  recall: number[];
  precision: number[];
}

export interface ReportImage {
  /** A PNG file's bytes. */
  png: Uint8Array;
  caption: string;
}

export interface ReportInput {
  title: string;
  /** Key facts shown as a table (command, backend, steps, timings ...). */
  facts: Record<string, string | number>;
  steps: LoggedStep[];
  evals: LoggedEval[];
  classNames: readonly string[];
  pr: PrCurve[];
  images: ReportImage[];
}

const LOSS_KEYS_SKIP = new Set(['step', 'lr', 'loss', 'gradNorm', 'seconds']);

/** The whole report page. Self-contained: inline SVG and data-URL PNGs, no scripts. */
export function reportHtml(r: ReportInput): string {
  const k = Math.max(1, Math.round(r.steps.length / 200));
  const terms = [...new Set(r.steps.flatMap((s) => Object.keys(s).filter((key) => !LOSS_KEYS_SKIP.has(key))))];
  const lossChart = lineChart(
    [
      { name: 'total', points: smooth(r.steps.map((s) => [s.step, s.loss]), k), colour: '#000' },
      ...terms.map((t, i) => ({ name: t, points: smooth(r.steps.filter((s) => t in s).map((s) => [s.step, s[t]!] as [number, number]), k), colour: PALETTE[i % PALETTE.length]! })),
    ],
    { width: 640, height: 320, title: `loss per term${k > 1 ? ` (mean of ${k} steps)` : ''}`, xLabel: 'step', yLabel: 'loss' },
  );
  const mapChart = r.evals.length
    ? lineChart([{ name: 'mAP@0.5', points: r.evals.map((e) => [e.step, e.map50]) }, ...(r.evals.some((e) => e.cocoAP !== undefined) ? [{ name: 'COCO AP', points: r.evals.map((e) => [e.step, e.cocoAP ?? NaN] as [number, number]) }] : [])], {
        width: 640, height: 260, title: 'held-out accuracy', xLabel: 'step', yLabel: 'AP', yRange: [0, 1],
      })
    : '<p>No evaluation was run.</p>';
  const pr = r.pr.length
    ? lineChart(
        r.pr.map((c, i) => {
          const [cr, cg, cb] = classColour(i + 1);
          return { name: `${c.className} ${c.ap.toFixed(3)}`, points: c.recall.map((x, j) => [x, c.precision[j]!] as [number, number]), colour: `rgb(${cr},${cg},${cb})` };
        }),
        { width: 640, height: 360, title: 'precision–recall per class (IoU 0.5, final model)', xLabel: 'recall', yLabel: 'precision', xRange: [0, 1], yRange: [0, 1] },
      )
    : '';
  const facts = Object.entries(r.facts).map(([key, v]) => `<tr><th>${esc(key)}</th><td>${esc(String(v))}</td></tr>`).join('');
  const imgs = r.images
    .map((im) => `<figure><img alt="${esc(im.caption)}" src="data:image/png;base64,${base64Encode(im.png)}"/><figcaption>${esc(im.caption)}</figcaption></figure>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>body{font-family:sans-serif;max-width:1000px;margin:1em auto;color:#222}th{text-align:left;padding-right:1em}
figure{display:inline-block;margin:4px}img{image-rendering:pixelated;width:256px}figcaption{font-size:12px}svg{max-width:100%;height:auto}</style>
</head><body>
<h1>${esc(r.title)}</h1>
<table>${facts}</table>
<h2>Losses</h2>${lossChart}
<h2>Accuracy over training</h2>${mapChart}
${pr ? `<h2>Precision–recall</h2>${pr}` : ''}
${imgs ? `<h2>Sample detections</h2><p>Solid: detections (score ≥ 0.5); dashed: ground truth.</p>${imgs}` : ''}
</body></html>
`;
}

/** What a finished run hands to the report: its log, its last evaluation, a few test scenes. */
export interface TrainingReportInput {
  title: string;
  facts: Record<string, string | number>;
  /** The lines of log.jsonl. */
  log: string;
  classNames: readonly string[];
  /** The last evaluation's detections and ground truth (from evaluateDetector). */
  lastEval: { detections: ImageDetections[]; targets: DetectionTarget[] } | null;
  /** Test scenes to draw with their detections (matched by id). */
  samples: DetectionSample[];
}

/** Parse log.jsonl, compute per-class precision–recall, draw the samples, and build the page. */
export function trainingReport(r: TrainingReportInput): string {
  const steps: LoggedStep[] = [];
  const evals: LoggedEval[] = [];
  for (const line of r.log.split('\n')) {
    if (!line.trim()) continue;
    const o = JSON.parse(line) as Record<string, unknown>;
    if (o.eval) {
      const e = o.eval as { map50: number; cocoAP?: number; perClassAP?: number[] };
      evals.push({ step: o.step as number, map50: e.map50, ...(e.cocoAP !== undefined ? { cocoAP: e.cocoAP } : {}) });
    } else if (typeof o.loss === 'number') steps.push(o as unknown as LoggedStep);
  }
  const pr: PrCurve[] = [];
  const images: ReportImage[] = [];
  if (r.lastEval) {
    const voc = evaluateVoc(r.lastEval.targets, r.lastEval.detections, { numClasses: r.classNames.length });
    voc.perClass.forEach((c, i) => {
      if (Number.isNaN(c.ap)) return;
      // Thin the curve to at most 200 points (a long ranking makes a heavy SVG).
      const k = Math.max(1, Math.ceil(c.recall.length / 200));
      const idx = Array.from({ length: Math.ceil(c.recall.length / k) }, (_, j) => Math.min(c.recall.length - 1, j * k));
      if (c.recall.length) idx.push(c.recall.length - 1);
      pr.push({ className: r.classNames[i] ?? String(i + 1), ap: c.ap, recall: idx.map((j) => c.recall[j]!), precision: idx.map((j) => c.precision[j]!) });
    });
    for (const s of r.samples) {
      const d = r.lastEval.detections.find((x) => x.id === s.id);
      const keep = d ? Array.from({ length: d.scores.length }, (_, i) => i).filter((i) => d.scores[i]! >= 0.5) : [];
      const img = renderSample(s, {
        classNames: r.classNames,
        scale: Math.max(1, Math.ceil(256 / s.width)),
        detections: {
          boxes: keep.flatMap((i) => [0, 1, 2, 3].map((c) => d!.boxes[i * 4 + c]!)),
          labels: keep.map((i) => d!.labels[i]!),
          scores: keep.map((i) => d!.scores[i]!),
        },
      });
      images.push({ png: encodePng(img), caption: `test scene ${s.id}: ${keep.length} detections, ${s.labels.length} objects` });
    }
  }
  return reportHtml({ title: r.title, facts: r.facts, steps, evals, classNames: r.classNames, pr, images });
}
