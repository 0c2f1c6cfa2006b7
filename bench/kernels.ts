// Kernel benchmark: GFLOP/s of conv2d (forward, input gradient, filter gradient) and matmul for
// kdet-wasm, TensorFlow.js (wasm/XNNPACK and cpu backends), onnxruntime-web (wasm), PyTorch CPU
// and, where a WebGPU adapter is found, kdet-webgpu and tfjs-webgpu, measured side by side in one
// run on this machine, printed as one markdown table.
//
//   node scripts/run.mjs bench/kernels.ts [--write] [--only=SUBSTRING] [--budget=SECONDS]
//     [--webgpu-budget=SECONDS] [--no-torch] [--no-tfjs-cpu] [--no-ort] [--no-webgpu] [--raw]
//
// --write also stores the table in bench/RESULTS.md (between the markers there). A script, not a
// test: nothing here asserts a timing. kdet-wasm runs at 1 thread and at all threads (KDET_THREADS,
// else every core), tfjs-wasm one thread, onnxruntime-web (ort-wasm) at 1 thread and at all
// threads; they are timed in interleaved rounds (one call of each per round), so background load
// hits them alike; each cell is best / median GFLOP/s over the rounds. tfjs-cpu runs alone, then
// the WebGPU pair interleaved with each other (a smaller budget: software GPUs are slow); every
// WebGPU call is awaited until the GPU has finished it. PyTorch runs at 1 thread and at all
// threads too, in a subprocess.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { RawHeap, convParamsArray, convShape, instantiateKdet, randomArray } from './wasm-raw.js';
import { createWasmBackend, type WasmBackend } from '../src/backends/wasm/index.js';
import { backendEngine, type Case, type Engine, type Prepared, type Run } from './peers/common.js';
import { loadOrt } from './peers/ort.js';
import { loadTf, tfEngine } from './peers/tfjs.js';
import { isSoftwareAdapter, loadWebGpu } from './peers/webgpu.js';

const args = process.argv.slice(2);
const flag = (name: string): boolean => args.includes(`--${name}`);
const option = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const budget = Number(option('budget') ?? 1.5); // seconds of rounds per case and engine group
// The WebGPU group's budget: on a software GPU (SwiftShader) one 1024³ matmul takes seconds, so
// its cases get one warm-up call and a few rounds, which keeps the whole bench to a few minutes.
const webgpuBudget = Number(option('webgpu-budget') ?? Math.min(budget, 0.3));
const only = option('only');

// ---------------------------------------------------------------- cases

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

// ---------------------------------------------------------------- timing

interface Stat { best: number; median: number }
type Cell = Stat | { na: string };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** How a group is timed: its budget (seconds of rounds) and how long warm-up may take. */
interface Schedule { budget: number; warmupMs: number; warmupThreeMs: number }

const cpuSchedule: Schedule = { budget, warmupMs: 300, warmupThreeMs: 1000 };
/** One warm-up call (pipelines compiled, buffers pooled) and at most 100 ms more. */
const gpuSchedule: Schedule = { budget: webgpuBudget, warmupMs: 100, warmupThreeMs: 0 };

/** Calls `run` and returns its seconds; an asynchronous run is timed until its promise settles. */
async function timeOne(run: Run): Promise<number> {
  const t0 = performance.now();
  const pending = run();
  if (pending) await pending;
  return (performance.now() - t0) / 1000;
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/**
 * Warm up (tier-up of wasm code, tfjs kernel caches, GPU pipelines), then interleaved rounds
 * within the budget: at least 3 rounds, unless the engines are so slow (tfjs-cpu, a software GPU)
 * that 3 rounds would take far longer. An engine may ask for a longer warm-up (`warmupMs`) and
 * for an untimed pause after each of its calls (`settleMs`, see Engine).
 */
async function timeInterleaved(runs: { run: Run; warmupMs?: number; settleMs?: number }[], sched: Schedule): Promise<Stat[]> {
  const times: number[][] = runs.map(() => []);
  for (const { run, warmupMs, settleMs } of runs) {
    const t0 = performance.now();
    let calls = 0;
    const warm = (): boolean => (warmupMs !== undefined && performance.now() - t0 < warmupMs) ||
      (calls < 3 && performance.now() - t0 < sched.warmupThreeMs) || (performance.now() - t0 < sched.warmupMs && calls < 50);
    while (calls < 1 || warm()) {
      await timeOne(run);
      calls++;
    }
    if (settleMs) await sleep(settleMs);
  }
  const start = performance.now();
  let rounds = 0;
  const elapsed = (): number => (performance.now() - start) / 1000;
  while (rounds < 1 || (rounds < 3 && elapsed() < 3 * sched.budget) || (elapsed() < sched.budget && rounds < 400)) {
    for (let i = 0; i < runs.length; i++) {
      times[i]!.push(await timeOne(runs[i]!.run));
      if (runs[i]!.settleMs) await sleep(runs[i]!.settleMs!);
    }
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

/** A one-line note from an error or reason: first line, no trailing period. */
const oneLine = (m: string): string => m.split('\n')[0]!.replace(/\.$/, '');

async function main(): Promise<void> {
  const tfLoaded = await loadTf();
  // The backend at 1 thread and at all threads (KDET_THREADS, else every core), unless --raw:
  // the raw kernel exports, one thread.
  const raw = flag('raw');
  const all = Number(process.env.KDET_THREADS ?? cpus().length);
  const kdetWasm = async (threads: number): Promise<Engine> => {
    const b = (await createWasmBackend({ threads })) as WasmBackend;
    const e = backendEngine(b, threads === 1 ? 'kdet-wasm 1 thread' : `kdet-wasm ${b.threads} threads`, 'wasm', false);
    e.close = () => b.dispose();
    return e;
  };
  const engines: Engine[] = raw ? [kdetRawEngine()] : [await kdetWasm(1)];
  if (!raw && all > 1) engines.push(await kdetWasm(all));
  const kdet1 = engines[0]!.name;
  const kdetN = engines.length > 1 ? engines[1]!.name : null;
  const notes: string[] = [];
  if (tfLoaded) engines.push(tfEngine(tfLoaded.tf, 'wasm'));

  // onnxruntime-web (issue 7), interleaved with kdet-wasm: 1 thread and all threads.
  let ortVersion: string | null = null;
  let ortN: string | null = null;
  if (!flag('no-ort')) {
    const ort = await loadOrt([1, all]).catch((e: Error) => `onnxruntime-web failed to load: ${oneLine(e.message)}`);
    if (typeof ort === 'string') notes.push(`ort-wasm columns skipped: ${ort}.`);
    else {
      ortVersion = ort.version;
      engines.push(...ort.engines);
      ortN = ort.engines[ort.engines.length - 1]!.name;
    }
  }
  if (tfLoaded && !flag('no-tfjs-cpu')) engines.push(tfEngine(tfLoaded.tf, 'cpu'));

  // WebGPU (issue 4): kdet-webgpu and tfjs-webgpu on the adapter found, if any.
  let adapter: string | null = null;
  if (flag('no-webgpu')) notes.push('WebGPU columns skipped: --no-webgpu.');
  else {
    const gpu = await loadWebGpu(tfLoaded?.tf ?? null).catch((e: Error) => oneLine(e.message));
    if (typeof gpu === 'string') {
      notes.push(`WebGPU columns skipped: ${oneLine(gpu)}.`);
      process.stderr.write(`WebGPU columns skipped: ${oneLine(gpu)}\n`);
    } else {
      adapter = gpu.description;
      engines.push(...gpu.engines);
      notes.push(...gpu.notes.map((n) => `${oneLine(n)}.`));
      process.stderr.write(`WebGPU adapter: ${adapter}\n`);
    }
  }

  const cells = new Map<string, Map<string, Cell>>(); // case id → engine → cell
  for (const c of selected) cells.set(c.id, new Map());

  for (const group of ['wasm', 'tfjs-cpu', 'webgpu'] as const) {
    let members = engines.filter((e) => e.group === group);
    if (members.length === 0) continue;
    if (tfLoaded && members.some((e) => e.name.startsWith('tfjs-'))) {
      const name = { wasm: 'wasm', 'tfjs-cpu': 'cpu', webgpu: 'webgpu' }[group];
      let ok = false;
      let why = 'setBackend refused it';
      try {
        ok = await tfLoaded.tf.setBackend(name);
      } catch (e) {
        why = oneLine((e as Error).message);
      }
      if (!ok) {
        for (const e of members.filter((m) => m.name.startsWith('tfjs-'))) {
          for (const c of selected) cells.get(c.id)!.set(e.name, { na: `n/a (tfjs ${name} backend: ${why})` });
        }
        members = members.filter((m) => !m.name.startsWith('tfjs-'));
      }
    }
    const sched = group === 'webgpu' ? gpuSchedule : cpuSchedule;
    for (const c of selected) {
      const prepared: [Engine, Prepared][] = [];
      for (const e of members) {
        try {
          prepared.push([e, await e.prepare(c)]);
        } catch (err) {
          prepared.push([e, { na: `error: ${oneLine((err as Error).message)}` }]);
        }
      }
      const live = prepared.filter((p): p is [Engine, { run: Run; dispose: () => void }] => 'run' in p[1]);
      let stats: Stat[] = [];
      try {
        stats = await timeInterleaved(live.map(([e, p]) => ({ run: p.run, warmupMs: e.warmupMs, settleMs: e.settleMs })), sched);
      } catch (err) {
        for (const [e] of live) cells.get(c.id)!.set(e.name, { na: `error: ${oneLine((err as Error).message)}` });
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
  let torchVersion = 'not available';
  if (!flag('no-torch')) {
    for (const threads of [...new Set([1, all])]) {
      const r = runTorch(threads, selected);
      if (typeof r === 'string') {
        notes.push(`PyTorch: ${r}.`);
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
  for (const e of engines) {
    try {
      await e.close?.();
    } catch { /* closing is best effort */ }
  }
  const software = adapter !== null && isSoftwareAdapter(adapter);
  const lines: string[] = [];
  lines.push(`Machine: ${cpuModel()}, ${cpus().length} cores. Node ${process.version}, kdet ${gitCommit()}, ` +
    `tfjs ${tfLoaded?.version ?? 'not available'}, onnxruntime-web ${ortVersion ?? 'not run'}, torch ${torchVersion}. ` +
    `${new Date().toISOString().slice(0, 10)}, load average ${load} (1/5/15 min) at the end: other processes share these cores.` +
    (adapter ? ` WebGPU adapter: ${adapter}${software ? ' (a software GPU on the CPU: its columns are for completeness only)' : ''}.` : ''));
  lines.push('');
  lines.push('GFLOP/s, best / median over interleaved rounds (roi_align: milliseconds per forward + backward). ' +
    `kdet-wasm at 1 thread and at ${all} threads (the same kernels split over a worker pool on shared memory, ` +
    'bitwise the same results); tfjs runs one thread (its wasm backend does not thread on Node); ' +
    (ortVersion ? `ort-wasm is onnxruntime-web's wasm backend at 1 and ${all} threads (one module instance each), running a ` +
      'one-node ONNX model (Conv NCHW or MatMul, the weight an initializer), inference only; ' : '') +
    (adapter ? 'the WebGPU columns await the GPU\'s completion of every call (queue.onSubmittedWorkDone, no read-back) ' +
      `and have a budget of ${webgpuBudget} s per case; ` : '') +
    'conv is 3×3, stride 1, padding 1 (tfjs in its native NHWC).');
  lines.push('');
  const ratio = (num: Cell | undefined, den: Cell | undefined): string =>
    num && den && 'best' in num && 'best' in den ? `${(num.best / den.best).toFixed(2)}×` : '—';
  const ratioCols = [`kdet scaling ${all}T / 1T`, 'kdet 1T / tfjs-wasm', ...(ortN && kdetN ? [`kdet ${all}T / ort-wasm ${all}T`] : [])];
  lines.push(`| op | shape | ${cols.join(' | ')} | ${ratioCols.join(' | ')} |`);
  lines.push(`|---|---|${[...cols, ...ratioCols].map(() => '---:').join('|')}|`);
  for (const c of selected) {
    const row = cells.get(c.id)!;
    // Ratios of times: speed-up of kdet at all threads over 1 thread; kdet 1 thread over tfjs-wasm;
    // kdet at all threads over onnxruntime-web at all threads.
    const ratios = [kdetN ? ratio(row.get(kdet1), row.get(kdetN)) : '—', ratio(row.get('tfjs-wasm'), row.get(kdet1))];
    if (ortN && kdetN) ratios.push(ratio(row.get(ortN), row.get(kdetN)));
    const op = c.kind === 'conv2d' ? 'conv2d forward' : c.kind === 'conv2dGradInput' ? 'conv2d input-grad'
      : c.kind === 'conv2dGradFilter' ? 'conv2d filter-grad' : c.kind === 'matmul' ? 'matmul' : 'roi_align fwd+bwd';
    lines.push(`| ${op} | ${c.label} | ${cols.map((col) => fmt(c, row.get(col))).join(' | ')} | ${ratios.join(' | ')} |`);
  }
  for (const n of notes) lines.push('', n);
  lines.push('', (!raw
    ? 'kdet-wasm ran through the backend (createWasmBackend({ threads })): the methods the engine ops and their backward ' +
      'call; allocation of outputs included.'
    : 'kdet-wasm ran the raw kernel exports of build/kdet.wasm (no engine glue); roi_align needs the backend and is left out.') +
    (adapter ? ' kdet-webgpu ran the same methods on createWebGPUBackend(), each call followed by backend.sync().' : ''));
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
