/**
 * Where a training step's time goes, per backend method: wraps every WasmBackend method with a
 * wall-clock timer (op-timer.ts), runs the CLI command given, and prints the methods by total
 * time. Run it at 1 and at 2 threads to see which ops split across threads and which stay serial.
 *
 *   KDET_THREADS=2 node scripts/run.mjs bench/tune/op-profile.ts train --preset student --steps 16 --eval-every 0 --test-size 1 --out /tmp/p
 *
 * The first quarter of the calls' time (warm-up) is counted too; compare runs of equal length.
 * bench/tv-train-step.ts profiles single steps after warm-up with the same timer.
 */
import { main } from '../../src/cli/main.js';
import { installOpTimer } from './op-timer.js';

const timer = installOpTimer();
timer.on = true;
const t0 = performance.now();
const code = await main(process.argv.slice(2));
const wall = performance.now() - t0;
const rows = [...timer.byMethod].sort((a, b) => b[1].ms - a[1].ms);
console.log(`wall ${wall.toFixed(0)} ms, in backend methods ${timer.total().toFixed(0)} ms (threads ${process.env.KDET_THREADS ?? 'default'})`);
for (const [name, e] of rows.slice(0, 30)) console.log(`${name.padEnd(22)} ${e.ms.toFixed(1).padStart(9)} ms ${String(e.calls).padStart(7)} calls ${((e.ms / e.calls) * 1000).toFixed(0).padStart(7)} µs/call`);
process.exitCode = code;
