// BatchNorm2d in training mode (batch statistics; running statistics updated), forward and
// forward + backward of sum(y·dy) (gradients of x, weight and bias; the same graph in both, since
// kdet's tape seeds a scalar), on the batch-norm shapes of MobileNetV3-Large-FPN-320 and
// ResNet-50-FPN training at batch 2: kdet-wasm (1 thread; BatchNorm2d through the fused kernels of
// assembly/batchnorm.ts) against PyTorch CPU (1 thread, bench/batchnorm_peer.py). Median milliseconds per call; tfjs and onnxruntime-web
// have no batch-norm training. A script, not a test: nothing here asserts a timing.
//
//   node scripts/run.mjs bench/batchnorm.ts [runs] [--write]    # --write: bench/BATCHNORM.md
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { createWasmBackend } from '../src/backends/wasm/index.js';
import * as k from '../src/engine/index.js';
import { Rng } from '../src/engine/random.js';
import { noGrad, valueAndGrads } from '../src/engine/tape.js';
import { BatchNorm2d } from '../src/nn/batchnorm.js';

const runs = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 20);
const SHAPES: { model: string; shape: [number, number, number, number] }[] = [
  { model: 'MobileNetV3 stem', shape: [2, 16, 160, 160] },
  { model: 'MobileNetV3 expand', shape: [2, 64, 160, 160] },
  { model: 'MobileNetV3', shape: [2, 72, 80, 80] },
  { model: 'MobileNetV3', shape: [2, 120, 40, 40] },
  { model: 'MobileNetV3', shape: [2, 480, 20, 20] },
  { model: 'MobileNetV3', shape: [2, 960, 10, 10] },
  { model: 'ResNet-50 at 256²', shape: [2, 64, 128, 128] },
  { model: 'ResNet-50 at 256²', shape: [2, 256, 64, 64] },
  { model: 'ResNet-50 at 256²', shape: [2, 512, 32, 32] },
  { model: 'ResNet-50 at 256²', shape: [2, 2048, 8, 8] },
];

function median(fn: () => void): number {
  for (let i = 0; i < 3; i++) fn();
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return t.sort((a, b) => a - b)[Math.floor(t.length / 2)]!;
}

const backend = await createWasmBackend({ threads: 1 });
k.setBackend(backend);
const rng = new Rng(0);
const kdet: { forward: number; backward: number }[] = [];
for (const { shape } of SHAPES) {
  const size = shape.reduce((a, b) => a * b, 1);
  const bn = new BatchNorm2d(shape[1]).train();
  const x = k.tensor(Float32Array.from({ length: size }, () => rng.normal()), shape);
  const dy = k.tensor(Float32Array.from({ length: size }, () => rng.normal()), shape);
  const forward = median(() => {
    const y = noGrad(() => bn.forward(x));
    y.dataSync();
    y.dispose();
  });
  const backward = median(() => {
    const { value, grads } = valueAndGrads(() => k.sum(k.mul(bn.forward(x), dy)), [x, bn.weight!.value, bn.bias!.value]);
    grads[0]!.dataSync();
    value.dispose();
    grads.forEach((g) => g.dispose());
  });
  kdet.push({ forward, backward });
  x.dispose();
  dy.dispose();
  bn.dispose();
  console.error(`[${shape}] kdet forward ${forward.toFixed(2)} ms, forward+backward ${backward.toFixed(2)} ms`);
}

const py = '/usr/bin/python3';
let torch: { torch: string; results: Record<string, { forward: number; backward: number }> } | null = null;
if (existsSync(py)) {
  const r = spawnSync(py, [resolve('bench/batchnorm_peer.py'), JSON.stringify(SHAPES.map((s) => s.shape)), String(runs)], { encoding: 'utf8' });
  if (r.status === 0) torch = JSON.parse(r.stdout);
  else console.error(`PyTorch peer failed: ${r.stderr.trim().split('\n').pop()}`);
}
const cell = (ms: number | undefined) => (ms === undefined ? 'n/a' : ms.toFixed(2));
const lines = [
  '# BatchNorm2d training forward and backward, side by side',
  '',
  `Machine: ${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}, Node ${process.versions.node}, 1 thread each; PyTorch ${torch?.torch ?? 'not run'} CPU. Median of ${runs} calls after 3 warm-up calls; load average ${loadavg()[0]!.toFixed(1)} at the end (another job on the second core moves these numbers by up to 2×).`,
  'Command: `node scripts/run.mjs bench/batchnorm.ts 20 --write`.',
  '',
  '| layer | shape | kdet fwd ms | PyTorch fwd ms | kdet fwd+bwd ms | PyTorch fwd+bwd ms | kdet / PyTorch (fwd+bwd) |',
  '| --- | --- | --- | --- | --- | --- | --- |',
  ...SHAPES.map(({ model, shape }, i) => {
    const t = torch?.results[shape.join(',')];
    const tb = t ? t.backward * 1000 : undefined;
    return `| ${model} | ${shape.join('×')} | ${cell(kdet[i]!.forward)} | ${cell(t ? t.forward * 1000 : undefined)} | ${cell(kdet[i]!.backward)} | ${cell(tb)} | ${tb ? (kdet[i]!.backward / tb).toFixed(2) : 'n/a'} |`;
  }),
  '',
];
console.log(lines.join('\n'));
if (process.argv.includes('--write')) writeFileSync('bench/BATCHNORM.md', lines.join('\n'));
