// Kernel benchmark: GFLOP/s of conv2d (forward, input gradient, filter gradient) and matmul for
// kdet-wasm, TensorFlow.js (wasm/XNNPACK and cpu backends) and PyTorch CPU, measured side by side
// in one run on this machine, printed as one markdown table.
//
//   node scripts/run.mjs bench/kernels.ts [--write] [--only=SUBSTRING] [--budget=SECONDS] [--no-torch] [--no-tfjs-cpu]
//
// --write also stores the table in bench/RESULTS.md (between the markers there). A script, not a
// test: nothing here asserts a timing. kdet-wasm runs at 1 thread and at all threads (KDET_THREADS,
// else every core), tfjs-wasm one thread; they are timed in interleaved rounds (one call of each
// per round), so background load hits them alike; each cell is best / median GFLOP/s over the
// rounds. PyTorch runs at 1 thread and at all threads too.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { RawHeap, convParamsArray, convShape, instantiateKdet, randomArray } from './wasm-raw.js';
import { createWasmBackend, type WasmBackend } from '../src/backends/wasm/index.js';

const args = process.argv.slice(2);
const flag = (name: string): boolean => args.includes(`--${name}`);
const option = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const budget = Number(option('budget') ?? 1.5); // seconds of rounds per case and engine group
const only = option('only');

// ---------------------------------------------------------------- cases

interface ConvCase {
  id: string; kind: 'conv2d' | 'conv2dGradInput' | 'conv2dGradFilter'; label: string;
  n: number; cIn: number; h: number; w: number; cOut: number; k: number; stride: number; pad: number; flops: number;
}
interface MatmulCase { id: string; kind: 'matmul'; label: string; m: number; k: number; n: number; flops: number }
interface RoiCase {
  id: string; kind: 'roiAlign'; label: string;
  c: number; h: number; w: number; rois: number[][]; pooled: number; sampling: number; scale: number; flops: 0;
}
type Case = ConvCase | MatmulCase | RoiCase;

const convShapes: [number, number, number, number][] = [[1, 128, 3, 32], [1, 64, 32, 64], [1, 32, 64, 128], [8, 32, 64, 64]];
const cases: Case[] = [];
for (const kind of ['conv2d', 'conv2dGradInput', 'conv2dGradFilter'] as const) {
  for (const [n, hw, cIn, cOut] of convShapes) {
    const flops = 2 * n * cOut * hw * hw * cIn * 9;
    cases.push({ id: `${kind} ${n} ${hw} ${cIn} ${cOut}`, kind, label: `N${n} ${hw}² ${cIn}→${cOut}`, n, cIn, h: hw, w: hw, cOut, k: 3, stride: 1, pad: 1, flops });
  }
}
for (const s of [256, 1024]) cases.push({ id: `matmul ${s}`, kind: 'matmul', label: `${s}³`, m: s, k: s, n: s, flops: 2 * s * s * s });
{
  // 128 boxes on a 1×128×32×32 map (deterministic pseudo-random boxes inside the map).
  let seed = 12345;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const rois: number[][] = [];
  for (let i = 0; i < 128; i++) {
    const x1 = rnd() * 24;
    const y1 = rnd() * 24;
    rois.push([0, x1, y1, x1 + 2 + rnd() * (30 - x1), y1 + 2 + rnd() * (30 - y1)]);
  }
  cases.push({ id: 'roiAlign', kind: 'roiAlign', label: '128 boxes 7×7 sr 2, 1×128×32²', c: 128, h: 32, w: 32, rois, pooled: 7, sampling: 2, scale: 1, flops: 0 });
}
const selected = cases.filter((c) => !only || c.id.includes(only));

// ---------------------------------------------------------------- engines

type Prepared = { run: () => void; dispose: () => void } | { na: string };

interface Engine {
  name: string;
  /** Engines of one group are timed interleaved; 'tfjs-cpu' runs alone (a tfjs backend switch moves data). */
  group: string;
  prepare(c: Case): Prepared | Promise<Prepared>;
}

/** kdet-wasm through the raw exports (the kernels themselves, no engine glue). */
function kdetRawEngine(): Engine {
  const ex = instantiateKdet();
  const heap = new RawHeap(ex);
  return {
    name: 'kdet-wasm',
    group: 'wasm',
    prepare(c: Case): Prepared {
      heap.reset();
      if (c.kind === 'matmul') {
        const a = heap.upload(randomArray(c.m * c.k, 1));
        const b = heap.upload(randomArray(c.k * c.n, 2));
        const y = heap.alloc(c.m * c.n * 4);
        const s = heap.alloc(ex.matmulScratchBytes(c.m, c.k, c.n, 0, 0));
        return { run: () => ex.matmul(a, b, y, 1, 1, c.m, c.k, c.n, 0, 0, s), dispose: () => {} };
      }
      if (c.kind === 'roiAlign') return { na: 'n/a (needs the engine: wasm backend not built or --raw)' };
      const shape = convShape(c.n, c.cIn, c.h, c.w, c.cOut, c.k, c.k, { stride: [c.stride, c.stride], pad: [c.pad, c.pad] });
      const params = heap.i32s(convParamsArray(shape));
      const x = heap.upload(randomArray(c.n * c.cIn * c.h * c.w, 3));
      const w = heap.upload(randomArray(c.cOut * c.cIn * c.k * c.k, 4));
      const ySize = c.n * c.cOut * shape.outH * shape.outW;
      const dy = heap.upload(randomArray(ySize, 5));
      const o = heap.alloc(Math.max(ySize, c.n * c.cIn * c.h * c.w, c.cOut * c.cIn * c.k * c.k) * 4);
      const kindIndex = { conv2d: 0, conv2dGradInput: 1, conv2dGradFilter: 2 }[c.kind];
      const s = heap.alloc(ex.conv2dScratchBytes(kindIndex, params));
      const run = c.kind === 'conv2d' ? () => ex.conv2dForward(x, w, 0, o, params, s)
        : c.kind === 'conv2dGradInput' ? () => ex.conv2dGradInput(dy, w, o, params, s)
          : () => ex.conv2dGradFilter(x, dy, o, params, s);
      return { run, dispose: () => {} };
    },
  };
}

/**
 * kdet-wasm through the backend (createWasmBackend({ threads })): the methods the engine's ops
 * and their backward call, outputs allocated and freed per call. One instance per thread count,
 * so that 1 thread and all threads are timed side by side in the same interleaved rounds.
 */
async function kdetBackendEngine(threads: number): Promise<Engine> {
  const b = (await createWasmBackend({ threads })) as WasmBackend;
  const up = (n: number, seed: number) => b.upload(randomArray(n, seed));
  return {
    name: threads === 1 ? 'kdet-wasm 1 thread' : `kdet-wasm ${b.threads} threads`,
    group: 'wasm',
    prepare(c: Case): Prepared {
      if (c.kind === 'matmul') {
        const a = up(c.m * c.k, 1);
        const x = up(c.k * c.n, 2);
        const p = { batchA: 1, batchB: 1, m: c.m, k: c.k, n: c.n, transA: false, transB: false };
        return { run: () => b.free(b.matmul(a, x, p)), dispose: () => [a, x].forEach((t) => b.free(t)) };
      }
      if (c.kind === 'roiAlign') {
        const p = { n: 1, c: c.c, h: c.h, w: c.w, k: c.rois.length, pooledH: c.pooled, pooledW: c.pooled, spatialScale: c.scale, samplingRatio: c.sampling, aligned: false };
        const x = up(c.c * c.h * c.w, 7);
        const r = b.upload(Float32Array.from(c.rois.flat()));
        const dy = up(c.rois.length * c.c * c.pooled * c.pooled, 8);
        return {
          run: () => {
            b.free(b.roiAlign(x, r, p));
            b.free(b.roiAlignGrad(dy, r, p));
          },
          dispose: () => [x, r, dy].forEach((t) => b.free(t)),
        };
      }
      const outH = Math.floor((c.h + 2 * c.pad - c.k) / c.stride) + 1;
      const outW = Math.floor((c.w + 2 * c.pad - c.k) / c.stride) + 1;
      const p = { n: c.n, cIn: c.cIn, h: c.h, w: c.w, cOut: c.cOut, kh: c.k, kw: c.k, strideH: c.stride, strideW: c.stride,
        padH: c.pad, padW: c.pad, dilationH: 1, dilationW: 1, groups: 1, outH, outW };
      const x = up(c.n * c.cIn * c.h * c.w, 3);
      const w = up(c.cOut * c.cIn * c.k * c.k, 4);
      const dy = up(c.n * c.cOut * outH * outW, 5);
      const run = c.kind === 'conv2d' ? () => b.free(b.conv2d(x, w, null, p))
        : c.kind === 'conv2dGradInput' ? () => b.free(b.conv2dGradInput(dy, w, p))
          : () => b.free(b.conv2dGradFilter(x, dy, p));
      return { run, dispose: () => [x, w, dy].forEach((t) => b.free(t)) };
    },
  };
}

// TensorFlow.js (NHWC, its native layout; the FLOPs are the same).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Tf = any;

async function loadTf(): Promise<{ tf: Tf; version: string } | null> {
  try {
    const req = createRequire(import.meta.url);
    const tf = req('@tensorflow/tfjs-core');
    req('@tensorflow/tfjs-backend-cpu');
    const tfw = req('@tensorflow/tfjs-backend-wasm');
    tfw.setWasmPaths(resolve(dirname(req.resolve('@tensorflow/tfjs-backend-wasm')), '.') + '/');
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false); // one thread (Node never threads it anyway)
    return { tf, version: tf.version_core as string };
  } catch (e) {
    console.error(`tfjs unavailable: ${(e as Error).message}`);
    return null;
  }
}

function tfEngine(tf: Tf, backend: 'wasm' | 'cpu'): Engine {
  return {
    name: `tfjs-${backend}`,
    group: backend === 'wasm' ? 'wasm' : 'tfjs-cpu',
    prepare(c: Case): Prepared {
      if (c.kind === 'roiAlign') return { na: '—' };
      const keep: Tf[] = [];
      const t = (data: Float32Array, shape: number[]): Tf => {
        const x = tf.tensor(data, shape, 'float32');
        keep.push(x);
        return x;
      };
      const dispose = (): void => keep.forEach((x) => x.dispose());
      if (c.kind === 'matmul') {
        const a = t(randomArray(c.m * c.k, 1), [c.m, c.k]);
        const b = t(randomArray(c.k * c.n, 2), [c.k, c.n]);
        return { run: () => tf.matMul(a, b).dispose(), dispose };
      }
      const x = t(randomArray(c.n * c.h * c.w * c.cIn, 3), [c.n, c.h, c.w, c.cIn]);
      const f = t(randomArray(c.k * c.k * c.cIn * c.cOut, 4), [c.k, c.k, c.cIn, c.cOut]);
      const dy = t(randomArray(c.n * c.h * c.w * c.cOut, 5), [c.n, c.h, c.w, c.cOut]);
      const pad = c.pad; // explicit symmetric padding, as PyTorch
      const kernelName = { conv2d: 'Conv2D', conv2dGradInput: 'Conv2DBackpropInput', conv2dGradFilter: 'Conv2DBackpropFilter' }[c.kind];
      if (!tf.getKernel(kernelName, backend)) {
        dispose();
        return { na: `n/a (no ${kernelName} kernel)` };
      }
      const attrs = { strides: [c.stride, c.stride], pad, dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined };
      const run = c.kind === 'conv2d' ? () => tf.conv2d(x, f, c.stride, pad).dispose()
        : c.kind === 'conv2dGradInput'
          ? () => tf.engine().runKernel(kernelName, { dy, filter: f }, { ...attrs, inputShape: [c.n, c.h, c.w, c.cIn] }).dispose()
          : () => tf.engine().runKernel(kernelName, { x, dy }, { ...attrs, filterShape: [c.k, c.k, c.cIn, c.cOut] }).dispose();
      return { run, dispose };
    },
  };
}

// ---------------------------------------------------------------- timing

interface Stat { best: number; median: number }
type Cell = Stat | { na: string };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/**
 * Warm up (tier-up of wasm code, tfjs kernel caches), then interleaved rounds within the budget:
 * at least 3 rounds, unless the engines are so slow (tfjs-cpu) that 3 rounds would take far longer.
 */
function timeInterleaved(runs: (() => void)[]): Stat[] {
  const times: number[][] = runs.map(() => []);
  for (const run of runs) {
    const t0 = performance.now();
    let calls = 0;
    while (calls < 1 || (calls < 3 && performance.now() - t0 < 1000) || (performance.now() - t0 < 300 && calls < 50)) {
      run();
      calls++;
    }
  }
  const start = performance.now();
  let rounds = 0;
  const elapsed = (): number => (performance.now() - start) / 1000;
  while (rounds < 1 || (rounds < 3 && elapsed() < 3 * budget) || (elapsed() < budget && rounds < 400)) {
    runs.forEach((run, i) => {
      const t0 = performance.now();
      run();
      times[i]!.push((performance.now() - t0) / 1000);
    });
    rounds++;
  }
  return times.map((t) => ({ best: Math.min(...t), median: median(t) }));
}

// ---------------------------------------------------------------- environment

function cpuModel(): string {
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
    if (m) return m[1]!.trim();
  } catch { /* not Linux */ }
  return cpus()[0]?.model ?? 'unknown';
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

interface TorchRun {
  torch: string; torchvision: string | null; threads: number; mkl: boolean; mkldnn: boolean; results: Record<string, Cell>;
}

function runTorch(threads: number, list: Case[]): TorchRun | string {
  const py = '/usr/bin/python3';
  if (!existsSync(py) || spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) return 'torch not installed';
  const payload = list.map((c) => ({ ...c, budget }));
  const r = spawnSync(py, [resolve('bench/torch_kernels.py'), String(threads), JSON.stringify(payload)], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) return `torch failed: ${r.stderr.trim().split('\n').pop()}`;
  return JSON.parse(r.stdout) as TorchRun;
}

// ---------------------------------------------------------------- main

const fmt = (c: Case, cell: Cell | undefined): string => {
  if (!cell) return '—';
  if ('na' in cell) return cell.na;
  if ('error' in cell) return `error: ${(cell as unknown as { error: string }).error}`;
  if (c.kind === 'roiAlign') return `${(cell.best * 1e3).toFixed(2)} / ${(cell.median * 1e3).toFixed(2)} ms`;
  const g = (t: number): string => {
    const v = c.flops / t / 1e9;
    return v < 1 ? v.toFixed(2) : v.toFixed(1);
  };
  return `${g(cell.best)} / ${g(cell.median)}`;
};

async function main(): Promise<void> {
  const tfLoaded = await loadTf();
  // The backend at 1 thread and at all threads (KDET_THREADS, else every core), unless --raw:
  // the raw kernel exports, one thread.
  const raw = flag('raw');
  const all = Number(process.env.KDET_THREADS ?? cpus().length);
  const engines: Engine[] = raw ? [kdetRawEngine()] : [await kdetBackendEngine(1)];
  if (!raw && all > 1) engines.push(await kdetBackendEngine(all));
  const kdet1 = engines[0]!.name;
  const kdetN = engines.length > 1 ? engines[1]!.name : null;
  if (tfLoaded) {
    engines.push(tfEngine(tfLoaded.tf, 'wasm'));
    if (!flag('no-tfjs-cpu')) engines.push(tfEngine(tfLoaded.tf, 'cpu'));
  }
  const cells = new Map<string, Map<string, Cell>>(); // case id → engine → cell
  for (const c of selected) cells.set(c.id, new Map());

  for (const group of ['wasm', 'tfjs-cpu']) {
    const members = engines.filter((e) => e.group === group);
    if (members.length === 0) continue;
    if (tfLoaded) await tfLoaded.tf.setBackend(group === 'wasm' ? 'wasm' : 'cpu');
    for (const c of selected) {
      const prepared: [Engine, Prepared][] = [];
      for (const e of members) {
        try {
          prepared.push([e, await e.prepare(c)]);
        } catch (err) {
          prepared.push([e, { na: `error: ${(err as Error).message.split('\n')[0]}` }]);
        }
      }
      const live = prepared.filter((p): p is [Engine, { run: () => void; dispose: () => void }] => 'run' in p[1]);
      let stats: Stat[] = [];
      try {
        stats = timeInterleaved(live.map(([, p]) => p.run));
      } catch (err) {
        for (const [e] of live) cells.get(c.id)!.set(e.name, { na: `error: ${(err as Error).message.split('\n')[0]}` });
      }
      live.forEach(([e], i) => stats[i] && cells.get(c.id)!.set(e.name, stats[i]!));
      for (const [e, p] of prepared) {
        if ('na' in p) cells.get(c.id)!.set(e.name, { na: p.na });
        else p.dispose();
      }
      process.stderr.write(`${c.id}: ${[...cells.get(c.id)!].map(([e, cell]) => `${e} ${fmt(c, cell)}`).join(', ')}\n`);
    }
  }

  const torchCols: string[] = [];
  const torchNotes: string[] = [];
  let torchVersion = 'not available';
  if (!flag('no-torch')) {
    for (const threads of [...new Set([1, all])]) {
      const r = runTorch(threads, selected);
      if (typeof r === 'string') {
        torchNotes.push(r);
        break;
      }
      torchVersion = `${r.torch}${r.torchvision ? `, torchvision ${r.torchvision}` : ''} (MKL ${r.mkl ? 'yes' : 'no'}, oneDNN ${r.mkldnn ? 'yes' : 'no'})`;
      const col = `torch ${r.threads} thread${r.threads > 1 ? 's' : ''}`;
      torchCols.push(col);
      for (const c of selected) cells.get(c.id)!.set(col, r.results[c.id] ?? { na: '—' });
    }
  }

  const load = loadavg().map((l) => l.toFixed(1)).join(' / ');
  const cols = [...engines.map((e) => e.name), ...torchCols];
  for (const e of engines) (e as { close?: () => void }).close?.();
  const lines: string[] = [];
  lines.push(`Machine: ${cpuModel()}, ${cpus().length} cores. Node ${process.version}, kdet ${gitCommit()}, ` +
    `tfjs ${tfLoaded?.version ?? 'not available'}, torch ${torchVersion}. ${new Date().toISOString().slice(0, 10)}, ` +
    `load average ${load} (1/5/15 min) at the end: other processes share these cores.`);
  lines.push('');
  lines.push('GFLOP/s, best / median over interleaved rounds (roi_align: milliseconds per forward + backward). ' +
    `kdet-wasm at 1 thread and at ${all} threads (the same kernels split over a worker pool on shared memory, ` +
    'bitwise the same results); tfjs runs one thread (its wasm backend does not thread on Node); conv is 3×3, stride 1, ' +
    'padding 1 (tfjs in its native NHWC).');
  lines.push('');
  const ratio = (num: Cell | undefined, den: Cell | undefined): string =>
    num && den && 'best' in num && 'best' in den ? `${(num.best / den.best).toFixed(2)}×` : '—';
  lines.push(`| op | shape | ${cols.join(' | ')} | kdet scaling ${all}T / 1T | kdet 1T / tfjs-wasm |`);
  lines.push(`|---|---|${cols.map(() => '---:').join('|')}|---:|---:|`);
  for (const c of selected) {
    const row = cells.get(c.id)!;
    // Ratios of times: speed-up of kdet at all threads over 1 thread; kdet 1 thread over tfjs-wasm.
    const scaling = kdetN ? ratio(row.get(kdet1), row.get(kdetN)) : '—';
    const vsTf = ratio(row.get('tfjs-wasm'), row.get(kdet1));
    const op = c.kind === 'conv2d' ? 'conv2d forward' : c.kind === 'conv2dGradInput' ? 'conv2d input-grad'
      : c.kind === 'conv2dGradFilter' ? 'conv2d filter-grad' : c.kind === 'matmul' ? 'matmul' : 'roi_align fwd+bwd';
    lines.push(`| ${op} | ${c.label} | ${cols.map((col) => fmt(c, row.get(col))).join(' | ')} | ${scaling} | ${vsTf} |`);
  }
  for (const n of torchNotes) lines.push('', `PyTorch: ${n}.`);
  lines.push('', !raw
    ? 'kdet-wasm ran through the backend (createWasmBackend({ threads })): the methods the engine ops and their backward ' +
      'call; allocation of outputs included.'
    : 'kdet-wasm ran the raw kernel exports of build/kdet.wasm (no engine glue); roi_align needs the backend and is left out.');
  const table = lines.join('\n');
  console.log(table);

  if (flag('write')) {
    const path = resolve('bench/RESULTS.md');
    const begin = '<!-- kernels.ts table: begin -->';
    const end = '<!-- kernels.ts table: end -->';
    const block = `${begin}\n${table}\n${end}`;
    const old = existsSync(path) ? readFileSync(path, 'utf8') : `# Kernel benchmark\n\n${begin}\n${end}\n`;
    const next = old.includes(begin) && old.includes(end)
      ? old.slice(0, old.indexOf(begin)) + block + old.slice(old.indexOf(end) + end.length)
      : `${old.trimEnd()}\n\n${block}\n`;
    writeFileSync(path, next);
    console.error(`wrote ${path}`);
  }
}

await main();
