// Micro-kernel shape study (the measurement behind the 2×16 choice in assembly/gemm-kernel.ts).
// Generates AssemblyScript kernels for several MR×NR register tiles (same loop form as the real
// kernel: broadcast A, v128 B, mul + add, one k step per iteration), builds them into a scratch
// module under build/, and times each on L1-resident panels (kc = 256) in interleaved rounds.
//
//   node scripts/run.mjs bench/tune/microkernels.ts [--rounds=N]
// To see why the wide tiles lose, run a script that calls them under
// `node --no-liftoff --print-wasm-code`: their inner loops move xmm registers to and from [rbp-…]
// (spills), the ≤ 8-accumulator ones do not.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

const rounds = Number(process.argv.find((a) => a.startsWith('--rounds='))?.split('=')[1] ?? 25);
const shapes: [number, number][] = [[2, 16], [4, 8], [3, 8], [1, 28], [2, 12], [5, 8], [3, 12], [4, 12], [6, 8]];

/** One MR×NR kernel: C (+)= A·B over kc steps, A panel kc×MR, B panel kc×NR (k-major). */
function kernelSource(mr: number, nr: number): string {
  const nv = nr / 4;
  const acc = (i: number, j: number): string => `c${i}_${j}`;
  const lines = [`export function k${mr}x${nr}(kc: i32, a: usize, b: usize, c: usize, ldc: usize): void {`];
  for (let i = 0; i < mr; i++) for (let j = 0; j < nv; j++) lines.push(`  let ${acc(i, j)} = f32x4.splat(0);`);
  lines.push('  let p = kc;', '  do {');
  for (let j = 0; j < nv; j++) lines.push(`    const b${j} = v128.load(b, ${j * 16});`);
  for (let i = 0; i < mr; i++) {
    lines.push(`    const a${i} = v128.load32_splat(a, ${i * 4});`);
    for (let j = 0; j < nv; j++) lines.push(`    ${acc(i, j)} = f32x4.add(${acc(i, j)}, f32x4.mul(a${i}, b${j}));`);
  }
  lines.push(`    a += ${mr * 4};`, `    b += ${nr * 4};`, '  } while (--p);');
  for (let i = 0; i < mr; i++) {
    for (let j = 0; j < nv; j++) {
      lines.push(`  v128.store(c + ${i} * ldc, f32x4.add(v128.load(c + ${i} * ldc, ${j * 16}), ${acc(i, j)}), ${j * 16});`);
    }
  }
  lines.push('}');
  return lines.join('\n');
}

const src = resolve('build/microkernels.ts');
const wasmPath = resolve('build/microkernels.wasm');
writeFileSync(src, `export function base(): usize { return (__heap_base + 63) & ~63; }\n${shapes.map(([m, n]) => kernelSource(m, n)).join('\n')}\n`);
execFileSync(resolve('node_modules/.bin/asc'), [src, '-O3', '--runtime', 'stub', '--enable', 'simd', '--noAssert',
  '--initialMemory', '64', '-o', wasmPath], { stdio: 'inherit' });
const { exports: ex } = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(wasmPath)), {}) as unknown as {
  exports: Record<string, (...args: number[]) => number> & { memory: WebAssembly.Memory };
};
const heap = ex.base!();
const f = new Float32Array(ex.memory.buffer);
for (let i = heap / 4; i < heap / 4 + 300_000; i++) f[i] = Math.random();
const kc = 256;
const [A, B, C] = [heap, heap + (1 << 17), heap + (1 << 19)];
const best = new Map<string, number>();
for (let r = 0; r < rounds; r++) {
  for (const [m, n] of shapes) {
    const fn = ex[`k${m}x${n}`]!;
    const reps = Math.ceil(3e7 / (2 * m * n * kc));
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn(kc, A, B, C, 256);
    const gflops = (2 * m * n * kc * reps) / (performance.now() - t0) / 1e6;
    if (r > 0) best.set(`${m}×${n}`, Math.max(best.get(`${m}×${n}`) ?? 0, gflops));
  }
}
console.log('| tile | accumulators | loads per k step | GFLOP/s (best of rounds, L1) |\n|---|---:|---:|---:|');
for (const [m, n] of shapes) console.log(`| ${m}×${n} | ${m * n / 4} | ${m} splat + ${n / 4} | ${best.get(`${m}×${n}`)!.toFixed(1)} |`);
