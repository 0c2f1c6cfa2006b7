// Depthwise convolution benchmark: MobileNetV3-Large's depthwise layers at a 320×320 input,
// batch 1, forward and both gradients, GFLOP/s of
//   - kdet-wasm, 1 thread, through the backend (the depthwise kernels of assembly/depthwise.ts),
//   - kdet-wasm's grouped implicit GEMM (the raw conv2d exports, which is what depthwise layers
//     ran before those kernels existed),
//   - tfjs-wasm's DepthwiseConv2dNative (XNNPACK, NHWC, one thread; forward only: tfjs-wasm has
//     no depthwise gradient kernels), the kernel called directly (no op-level checks),
//   - PyTorch CPU, 1 thread (bench/torch_kernels.py, in a subprocess).
//
//   node scripts/run.mjs bench/depthwise.ts [--write] [--budget=SECONDS] [--no-torch] [--only=SUBSTRING]
//
// The wasm engines run in interleaved rounds (one call of each per round) so that background
// load hits them alike; a cell is best / median GFLOP/s. --write stores the table in
// bench/DEPTHWISE.md. A script, not a test: nothing here asserts a timing.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { createWasmBackend, type WasmBackend } from '../src/backends/wasm/index.js';
import type { Conv2dParams } from '../src/engine/backend.js';
import { loadTf, type Tf } from './peers/tfjs.js';
import { RawHeap, convParamsArray, instantiateKdet, randomArray } from './wasm-raw.js';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const budget = Number(option('budget') ?? 1);

/**
 * torchvision's mobilenet_v3_large inverted-residual settings (expanded channels, kernel,
 * stride) with the input size of each depthwise layer at a 320×320 image (the stem halves it to
 * 160). Fifteen layers, twelve distinct shapes: `count` is how often a shape occurs.
 */
const LAYERS: { c: number; k: number; stride: number; size: number; count: number }[] = [
  { c: 16, k: 3, stride: 1, size: 160, count: 1 },
  { c: 64, k: 3, stride: 2, size: 160, count: 1 },
  { c: 72, k: 3, stride: 1, size: 80, count: 1 },
  { c: 72, k: 5, stride: 2, size: 80, count: 1 },
  { c: 120, k: 5, stride: 1, size: 40, count: 2 },
  { c: 240, k: 3, stride: 2, size: 40, count: 1 },
  { c: 200, k: 3, stride: 1, size: 20, count: 1 },
  { c: 184, k: 3, stride: 1, size: 20, count: 2 },
  { c: 480, k: 3, stride: 1, size: 20, count: 1 },
  { c: 672, k: 3, stride: 1, size: 20, count: 1 },
  { c: 672, k: 5, stride: 2, size: 20, count: 1 },
  { c: 960, k: 5, stride: 1, size: 10, count: 2 },
];

type Kind = 'conv2d' | 'conv2dGradInput' | 'conv2dGradFilter';
const KINDS: Kind[] = ['conv2d', 'conv2dGradInput', 'conv2dGradFilter'];
const KIND_LABEL: Record<Kind, string> = { conv2d: 'forward', conv2dGradInput: 'grad input', conv2dGradFilter: 'grad filter' };

interface Case { id: string; kind: Kind; layer: (typeof LAYERS)[number]; p: Conv2dParams; flops: number }

function params(l: (typeof LAYERS)[number]): Conv2dParams {
  const pad = Math.floor(l.k / 2);
  const out = Math.floor((l.size + 2 * pad - l.k) / l.stride) + 1;
  return { n: 1, cIn: l.c, h: l.size, w: l.size, cOut: l.c, kh: l.k, kw: l.k, strideH: l.stride, strideW: l.stride,
    padH: pad, padW: pad, dilationH: 1, dilationW: 1, groups: l.c, outH: out, outW: out };
}

const only = option('only');
const cases: Case[] = LAYERS.flatMap((layer) => KINDS.map((kind) => {
  const p = params(layer);
  return { id: `${kind} ${layer.c} ${layer.k} ${layer.stride} ${layer.size}`, kind, layer, p, flops: 2 * p.cOut * p.outH * p.outW * p.kh * p.kw };
})).filter((c) => !only || c.id.includes(only));

// ---------------------------------------------------------------- engines

type Run = () => void;
interface Engine { name: string; prepare(c: Case): { run: Run; dispose: () => void } | null }

function kdetEngine(b: WasmBackend): Engine {
  return {
    name: 'kdet depthwise',
    prepare(c) {
      const { p } = c;
      const x = b.upload(randomArray(p.n * p.cIn * p.h * p.w, 3));
      const w = b.upload(randomArray(p.cOut * p.kh * p.kw, 4));
      const dy = b.upload(randomArray(p.n * p.cOut * p.outH * p.outW, 5));
      const run = c.kind === 'conv2d' ? () => b.free(b.conv2d(x, w, null, p))
        : c.kind === 'conv2dGradInput' ? () => b.free(b.conv2dGradInput(dy, w, p)) : () => b.free(b.conv2dGradFilter(x, dy, p));
      return { run, dispose: () => [x, w, dy].forEach((t) => b.free(t)) };
    },
  };
}

/** The grouped implicit GEMM of assembly/conv.ts (raw exports, its own module instance). */
function groupedEngine(): Engine {
  const ex = instantiateKdet();
  const heap = new RawHeap(ex);
  return {
    name: 'kdet grouped GEMM (before)',
    prepare(c) {
      heap.reset();
      const { p } = c;
      const prm = heap.i32s(convParamsArray(p));
      const x = heap.upload(randomArray(p.n * p.cIn * p.h * p.w, 3));
      const w = heap.upload(randomArray(p.cOut * p.kh * p.kw, 4));
      const dy = heap.upload(randomArray(p.n * p.cOut * p.outH * p.outW, 5));
      const o = heap.alloc(Math.max(p.n * p.cOut * p.outH * p.outW, p.n * p.cIn * p.h * p.w) * 4);
      const s = heap.alloc(ex.conv2dScratchBytes(KINDS.indexOf(c.kind), prm));
      const run = c.kind === 'conv2d' ? () => ex.conv2dForward(x, w, 0, o, prm, s)
        : c.kind === 'conv2dGradInput' ? () => ex.conv2dGradInput(dy, w, o, prm, s) : () => ex.conv2dGradFilter(x, dy, o, prm, s);
      return { run, dispose: () => {} };
    },
  };
}

function tfjsEngine(tf: Tf): Engine {
  return {
    name: 'tfjs-wasm (XNNPACK)',
    prepare(c) {
      if (c.kind !== 'conv2d') return null;
      const { p } = c;
      const x = tf.tensor(randomArray(p.n * p.h * p.w * p.cIn, 3), [p.n, p.h, p.w, p.cIn], 'float32');
      const f = tf.tensor(randomArray(p.kh * p.kw * p.cIn, 4), [p.kh, p.kw, p.cIn, 1], 'float32');
      const attrs = { strides: [p.strideH, p.strideW], pad: p.padH, dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined };
      return {
        run: () => tf.engine().runKernel('DepthwiseConv2dNative', { x, filter: f }, attrs).dispose(),
        dispose: () => [x, f].forEach((t) => t.dispose()),
      };
    },
  };
}

// ---------------------------------------------------------------- timing

interface Stat { best: number; median: number }

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Warm-up (0.2 s each: wasm tier-up, XNNPACK's operator cache), then interleaved rounds. */
function timeInterleaved(runs: Run[]): Stat[] {
  for (const run of runs) {
    const t0 = performance.now();
    for (let i = 0; i < 3 || performance.now() - t0 < 200; i++) run();
  }
  const times: number[][] = runs.map(() => []);
  const start = performance.now();
  for (let r = 0; r < 5 || (performance.now() - start < budget * 1000 && r < 2000); r++) {
    runs.forEach((run, i) => {
      const t0 = performance.now();
      run();
      times[i]!.push((performance.now() - t0) / 1000);
    });
  }
  return times.map((t) => ({ best: Math.min(...t), median: median(t) }));
}

function runTorch(list: Case[]): { version: string; results: Record<string, Stat | { error: string }> } | string {
  const py = '/usr/bin/python3';
  if (!existsSync(py) || spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) return 'torch not installed';
  const payload = list.map((c) => ({ id: c.id, kind: c.kind, n: 1, cIn: c.p.cIn, h: c.p.h, w: c.p.w, cOut: c.p.cOut, k: c.p.kh,
    stride: c.p.strideH, pad: c.p.padH, groups: c.p.groups, budget }));
  const r = spawnSync(py, [resolve('bench/torch_kernels.py'), '1', JSON.stringify(payload)], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) return `torch failed: ${r.stderr.trim().split('\n').pop()}`;
  const out = JSON.parse(r.stdout) as { torch: string; threads: number; mkldnn: boolean; results: Record<string, Stat | { error: string }> };
  return { version: `${out.torch} (${out.threads} thread, oneDNN ${out.mkldnn ? 'yes' : 'no'})`, results: out.results };
}

// ---------------------------------------------------------------- main

function cpuModel(): string {
  const m = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m) : null;
  return m ? m[1]!.trim() : cpus()[0]?.model ?? 'unknown';
}

function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} + uncommitted changes` : head;
  } catch {
    return 'unknown';
  }
}

const backend = (await createWasmBackend({ threads: 1 })) as WasmBackend;
const tf = await loadTf();
if (tf && !(await tf.tf.setBackend('wasm'))) throw new Error('tfjs: the wasm backend did not start');
const engines = [kdetEngine(backend), groupedEngine(), ...(tf ? [tfjsEngine(tf.tf)] : [])];
const cells = new Map<string, Map<string, Stat>>();
for (const c of cases) {
  const prepared = engines.map((e) => [e.name, e.prepare(c)] as const).filter((e): e is [string, { run: Run; dispose: () => void }] => e[1] !== null);
  const stats = timeInterleaved(prepared.map(([, p]) => p.run));
  cells.set(c.id, new Map(prepared.map(([name], i) => [name, stats[i]!])));
  prepared.forEach(([, p]) => p.dispose());
  const g = (s: Stat): string => (c.flops / s.best / 1e9).toFixed(2);
  process.stderr.write(`${c.id}: ${[...cells.get(c.id)!].map(([n, s]) => `${n} ${g(s)}`).join(', ')}\n`);
}
backend.dispose();

const torch = args.includes('--no-torch') ? 'not run (--no-torch)' : runTorch(cases);
const TORCH = 'PyTorch CPU';
if (typeof torch !== 'string') {
  for (const c of cases) {
    const r = torch.results[c.id];
    if (r && 'best' in r) cells.get(c.id)!.set(TORCH, r);
  }
}

const cols = [...engines.map((e) => e.name), TORCH];
const gf = (c: Case, s: Stat | undefined): string => (s ? `${(c.flops / s.best / 1e9).toFixed(2)} / ${(c.flops / s.median / 1e9).toFixed(2)}` : '—');
const ratio = (a: Stat | undefined, b: Stat | undefined): string => (a && b ? `${(b.best / a.best).toFixed(2)}×` : '—');
const lines: string[] = [];
lines.push(`Machine: ${cpuModel()}, ${cpus().length} cores. Node ${process.version}, kdet ${gitCommit()}, tfjs ${tf?.version ?? 'not available'} ` +
  `(wasm backend), PyTorch ${typeof torch === 'string' ? torch : torch.version}. ${new Date().toISOString().slice(0, 10)}; ` +
  `load average ${loadavg().map((l) => l.toFixed(1)).join(' / ')} (1/5/15 min) at the end.`);
lines.push('');
lines.push('GFLOP/s (2 · outputs · kh · kw per pass), best / median over interleaved rounds; the ratios compare best times ' +
  '(> 1: kdet depthwise is faster). Batch 1, padding k // 2, channel multiplier 1.');
lines.push('');
lines.push(`| layer (C, k, stride, input) | pass | ${cols.join(' | ')} | vs grouped GEMM | vs XNNPACK | vs PyTorch |`);
lines.push(`|---|---|${cols.map(() => '---:').join('|')}|---:|---:|---:|`);
for (const c of cases) {
  const row = cells.get(c.id)!;
  const l = c.layer;
  const kdet = row.get(cols[0]!);
  lines.push(`| ${l.c}, ${l.k}×${l.k}, s${l.stride}, ${l.size}²${l.count > 1 ? ` (×${l.count})` : ''} | ${KIND_LABEL[c.kind]} | ` +
    `${cols.map((col) => gf(c, row.get(col))).join(' | ')} | ${ratio(kdet, row.get(cols[1]!))} | ${ratio(kdet, row.get('tfjs-wasm (XNNPACK)'))} | ` +
    `${ratio(kdet, row.get(TORCH))} |`);
}
// Totals over the network's fifteen depthwise layers (each shape times its count), best times.
lines.push('');
lines.push(`| all 15 depthwise layers, ms (best) | ${cols.join(' | ')} |`);
lines.push(`|---|${cols.map(() => '---:').join('|')}|`);
for (const kinds of [['conv2d'], ['conv2dGradInput'], ['conv2dGradFilter'], KINDS] as Kind[][]) {
  const total = (col: string): string => {
    let t = 0;
    for (const c of cases.filter((x) => kinds.includes(x.kind))) {
      const s = cells.get(c.id)!.get(col);
      if (!s) return '—';
      t += s.best * c.layer.count;
    }
    return (t * 1e3).toFixed(2);
  };
  lines.push(`| ${kinds.length === 3 ? 'forward + both gradients' : KIND_LABEL[kinds[0]!]} | ${cols.map(total).join(' | ')} |`);
}
const table = lines.join('\n');
console.log(table);

if (args.includes('--write')) {
  const path = resolve('bench/DEPTHWISE.md');
  const begin = '<!-- depthwise.ts table: begin -->';
  const end = '<!-- depthwise.ts table: end -->';
  const old = existsSync(path) ? readFileSync(path, 'utf8') : `# Depthwise convolution\n\n${begin}\n${end}\n`;
  writeFileSync(path, old.slice(0, old.indexOf(begin)) + `${begin}\n${table}\n${end}` + old.slice(old.indexOf(end) + end.length));
  console.error(`wrote ${path}`);
}
