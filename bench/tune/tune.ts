// Tuning runs that chose the kernel design (results in bench/RESULTS.md). Times configurations in
// interleaved rounds (one call of each per round; best and median kept) so that background load
// on this shared machine hits every configuration alike.
//
//   node scripts/run.mjs bench/tune/tune.ts blocking   [--rounds=N]   cache block sizes MC/KC/NC
//   node scripts/run.mjs bench/tune/tune.ts gradinput  [--rounds=N] [--shapes=NxHWxCINxCOUT,...]   stride-1 input gradient paths
//   node scripts/run.mjs bench/tune/tune.ts gradfilter [--rounds=N] [--shapes=...]   filter gradient orientations
//   node scripts/run.mjs bench/tune/tune.ts ab --wasm=A.wasm,B.wasm [--rounds=N]   two builds side by side
//   node scripts/run.mjs bench/tune/tune.ts fc6 [--configs=MC:KC:NC,...]   block sizes on the box head's fc6 GEMMs
//
// blocking/gradinput build a variant of the module with tuning exports (build/kdet-tune.wasm).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { RawHeap, convParamsArray, convShape, instantiateKdet, type KdetExports } from '../wasm-raw.js';

type Tunable = KdetExports & { setBlocking?(mc: number, kc: number, nc: number): void };

const mode = process.argv[2] ?? 'blocking';
const option = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const rounds = Number(option('rounds') ?? 15);

function buildTuningModule(): string {
  // The extra exports live in a generated AssemblyScript entry under build/ (AssemblyScript is not
  // TypeScript, so it must not sit in the type-checked tree).
  const entry = resolve('build/tune-exports.ts');
  writeFileSync(entry, "export { setBlocking } from '../assembly/gemm-driver';\n");
  const out = resolve('build/kdet-tune.wasm');
  execFileSync(resolve('node_modules/.bin/asc'), ['assembly/index.ts', entry, '--config', 'asconfig.json',
    '--target', 'release', '-o', out, '-t', resolve('build/kdet-tune.wat')], { stdio: 'inherit' });
  return out;
}

function load(path: string | undefined): Tunable {
  if (path) process.env.KDET_WASM = path;
  else delete process.env.KDET_WASM;
  return instantiateKdet() as Tunable;
}

const rnd = (n: number): Float32Array => Float32Array.from({ length: n }, () => Math.random() - 0.5);

interface Job { name: string; flops: number; run: () => void }

/** The benchmark's shapes (3×3, stride 1, padding 1) and matmuls, on one module instance. */
class Jobs {
  private readonly heap: RawHeap;
  private readonly scratch: number;

  constructor(readonly ex: Tunable) {
    this.heap = new RawHeap(ex);
    this.scratch = this.heap.alloc(64 << 20);
  }

  /** y[m×n] = op(A)·op(B) on fresh random operands. */
  gemm(name: string, m: number, k: number, n: number, transA: boolean, transB: boolean): Job {
    const { heap, ex, scratch } = this;
    const a = heap.upload(rnd(m * k));
    const b = heap.upload(rnd(k * n));
    const y = heap.alloc(m * n * 4);
    return { name, flops: 2 * m * n * k, run: () => ex.matmul(a, b, y, 1, 1, m, k, n, transA ? 1 : 0, transB ? 1 : 0, scratch) };
  }

  matmul(s: number): Job {
    const { heap, ex, scratch } = this;
    const a = heap.upload(rnd(s * s));
    const b = heap.upload(rnd(s * s));
    const y = heap.alloc(s * s * 4);
    return { name: `matmul ${s}³`, flops: 2 * s * s * s, run: () => ex.matmul(a, b, y, 1, 1, s, s, s, 0, 0, scratch) };
  }

  /**
   * kind 0 forward, 1 input gradient (path: 0 auto, 1 col2im, 2 transposed conv), 2 filter
   * gradient (path: 0 auto, 1 dY·im2colᵀ, 2 transposed).
   */
  conv(kind: 0 | 1 | 2, n: number, hw: number, cIn: number, cOut: number, path = 0): Job {
    const { heap, ex, scratch } = this;
    const s = convShape(n, cIn, hw, hw, cOut, 3, 3, { pad: [1, 1] });
    const params = heap.i32s(convParamsArray(s));
    const x = heap.upload(rnd(n * cIn * hw * hw));
    const w = heap.upload(rnd(cOut * cIn * 9));
    const dy = heap.upload(rnd(n * cOut * hw * hw));
    const o = heap.alloc(4 * Math.max(n * cIn * hw * hw, n * cOut * hw * hw, cOut * cIn * 9));
    const pathName = kind === 1 ? ['', ' col2im', ' transposed'][path] : kind === 2 ? ['', ' dY·im2colᵀ', ' transposed'][path] : '';
    const name = `${['fwd', 'dx', 'dw'][kind]}${pathName} N${n} ${hw}² ${cIn}→${cOut}`;
    const run = kind === 0 ? () => ex.conv2dForward(x, w, 0, o, params, scratch)
      : kind === 1 ? () => {
        ex.conv2dSetGradInputPath(path);
        ex.conv2dGradInput(dy, w, o, params, scratch);
        ex.conv2dSetGradInputPath(0);
      }
        : () => {
          ex.conv2dSetGradFilterPath(path);
          ex.conv2dGradFilter(x, dy, o, params, scratch);
          ex.conv2dSetGradFilterPath(0);
        };
    return { name, flops: 2 * n * cOut * cIn * 9 * hw * hw, run };
  }
}

// N, H=W, cIn, cOut; --shapes=1x64x8x64,... replaces the benchmark's four.
const shapes: [number, number, number, number][] = option('shapes')
  ? option('shapes')!.split(',').map((s) => s.split('x').map(Number) as [number, number, number, number])
  : [[1, 128, 3, 32], [1, 64, 32, 64], [1, 32, 64, 128], [8, 32, 64, 64]];

/** Times every (config, job) pair in interleaved rounds; prints GFLOP/s best / median. */
function measure(configs: { name: string; apply: () => void; jobs: Job[] }[]): void {
  const t: number[][][] = configs.map((c) => c.jobs.map(() => []));
  for (let r = 0; r < rounds + 2; r++) {
    configs.forEach((c, ci) => {
      c.apply();
      c.jobs.forEach((j, ji) => {
        const t0 = performance.now();
        j.run();
        if (r >= 2) t[ci]![ji]!.push(performance.now() - t0); // two warm-up rounds
      });
    });
  }
  const cell = (j: Job, ts: number[]): string => {
    const s = [...ts].sort((a, b) => a - b);
    return `${(j.flops / s[0]! / 1e6).toFixed(1)} / ${(j.flops / s[s.length >> 1]! / 1e6).toFixed(1)}`;
  };
  console.log(`| config | ${configs[0]!.jobs.map((j) => j.name).join(' | ')} |`);
  console.log(`|---|${configs[0]!.jobs.map(() => '---:').join('|')}|`);
  configs.forEach((c, ci) => console.log(`| ${c.name} | ${c.jobs.map((j, ji) => cell(j, t[ci]![ji]!)).join(' | ')} |`));
}

function standardJobs(j: Jobs): Job[] {
  return [j.matmul(256), j.matmul(1024), ...shapes.map(([n, hw, ci, co]) => j.conv(0, n, hw, ci, co)),
    ...shapes.map(([n, hw, ci, co]) => j.conv(1, n, hw, ci, co)), ...shapes.map(([n, hw, ci, co]) => j.conv(2, n, hw, ci, co))];
}

if (mode === 'blocking') {
  const jobs = new Jobs(load(buildTuningModule()));
  const list = [jobs.matmul(256), jobs.matmul(1024), ...shapes.map(([n, hw, ci, co]) => jobs.conv(0, n, hw, ci, co)),
    jobs.conv(2, 1, 64, 32, 64)];
  const blocks = (option('configs') ?? '128:256:2048,64:256:2048,256:256:2048,128:128:2048,128:384:2048,128:512:2048,128:256:512,128:256:1024')
    .split(',').map((c) => c.split(':').map(Number) as [number, number, number]);
  measure(blocks.map(([mc, kc, nc]) => ({ name: `MC ${mc} KC ${kc} NC ${nc}`, apply: () => jobs.ex.setBlocking!(mc, kc, nc), jobs: list })));
} else if (mode === 'fc6') {
  // torchvision's TwoMLPHead fc6 in a MobileNetV3-320-FPN training step: 1024 ROIs × 12544 → 1024.
  const jobs = new Jobs(load(buildTuningModule()));
  const list = [jobs.gemm('fwd x·Wᵀ', 1024, 12544, 1024, false, true), jobs.gemm('dx dy·W', 1024, 1024, 12544, false, false),
    jobs.gemm('dW dyᵀ·x', 1024, 1024, 12544, true, false)];
  const blocks = (option('configs') ?? '128:256:512,128:512:512,64:512:512,64:1024:512,128:256:256,32:1024:256')
    .split(',').map((c) => c.split(':').map(Number) as [number, number, number]);
  measure(blocks.map(([mc, kc, nc]) => ({ name: `MC ${mc} KC ${kc} NC ${nc}`, apply: () => jobs.ex.setBlocking!(mc, kc, nc), jobs: list })));
} else if (mode === 'gradinput') {
  const jobs = new Jobs(load(undefined));
  measure([{ name: 'current build', apply: () => {}, jobs: shapes.flatMap(([n, hw, ci, co]) => [jobs.conv(1, n, hw, ci, co, 2), jobs.conv(1, n, hw, ci, co, 1)]) }]);
} else if (mode === 'gradfilter') {
  const jobs = new Jobs(load(undefined));
  measure([{ name: 'current build', apply: () => {}, jobs: shapes.flatMap(([n, hw, ci, co]) => [jobs.conv(2, n, hw, ci, co, 1), jobs.conv(2, n, hw, ci, co, 2)]) }]);
} else if (mode === 'ab') {
  const paths = (option('wasm') ?? '').split(',').filter(Boolean);
  const configs = (paths.length ? paths : ['']).map((p) => {
    const jobs = new Jobs(load(p || undefined));
    return { name: p || 'current build', apply: () => {}, jobs: standardJobs(jobs) };
  });
  measure(configs);
}
