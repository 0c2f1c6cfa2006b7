/**
 * Where a training step's time goes, per backend method: wraps every WasmBackend method with a
 * wall-clock timer, runs the CLI command given, and prints the methods by total time. Run it at
 * 1 and at 2 threads to see which ops split across threads and which stay serial.
 *
 *   KDET_THREADS=2 node scripts/run.mjs bench/tune/op-profile.ts train --preset student --steps 16 --eval-every 0 --test-size 1 --out /tmp/p
 *
 * The first quarter of the calls' time (warm-up) is counted too; compare runs of equal length.
 */
import { WasmBackend } from '../../src/backends/wasm/backend.js';
import { main } from '../../src/cli/main.js';

const totals = new Map<string, { ms: number; calls: number }>();
const proto = WasmBackend.prototype as unknown as Record<string, unknown>;
for (const name of Object.getOwnPropertyNames(proto)) {
  const f = Object.getOwnPropertyDescriptor(proto, name)?.value;
  if (name === 'constructor' || typeof f !== 'function') continue;
  proto[name] = function (this: unknown, ...args: unknown[]) {
    const t0 = performance.now();
    try {
      return (f as (...a: unknown[]) => unknown).apply(this, args);
    } finally {
      const e = totals.get(name) ?? { ms: 0, calls: 0 };
      e.ms += performance.now() - t0;
      e.calls++;
      totals.set(name, e);
    }
  };
}
const t0 = performance.now();
const code = await main(process.argv.slice(2));
const wall = performance.now() - t0;
const rows = [...totals].sort((a, b) => b[1].ms - a[1].ms);
const inBackend = rows.reduce((s, [, e]) => s + e.ms, 0);
console.log(`wall ${wall.toFixed(0)} ms, in backend methods ${inBackend.toFixed(0)} ms (threads ${process.env.KDET_THREADS ?? 'default'})`);
for (const [name, e] of rows.slice(0, 30)) console.log(`${name.padEnd(22)} ${e.ms.toFixed(1).padStart(9)} ms ${String(e.calls).padStart(7)} calls ${((e.ms / e.calls) * 1000).toFixed(0).padStart(7)} µs/call`);
process.exitCode = code;
