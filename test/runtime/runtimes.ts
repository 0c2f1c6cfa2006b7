// Shared by the runtime tests: the package must be built (npm test builds it first).
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { vulkanIcd } from '../helpers/vulkan.js';

export const run = promisify(execFile);

export function requireDist(): void {
  if (!existsSync('dist/index.js') || !existsSync('dist/types/index.d.ts')) {
    throw new Error('dist/ is missing: run `npm run build` first (`npm test` does)');
  }
}

export interface StepLoss {
  step: number;
  loss: number;
  parts: Record<string, number>;
}

/** Largest absolute difference between two runs' losses and loss parts, step by step. */
export function maxLossDiff(a: StepLoss[], b: StepLoss[]): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  a.forEach((s, i) => {
    const t = b[i]!;
    d = Math.max(d, Math.abs(s.loss - t.loss));
    for (const k of new Set([...Object.keys(s.parts), ...Object.keys(t.parts)])) d = Math.max(d, Math.abs((s.parts[k] ?? NaN) - (t.parts[k] ?? NaN)));
  });
  return Number.isNaN(d) ? Infinity : d;
}

export const swiftshaderEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  VK_ICD_FILENAMES: vulkanIcd(), // VK_ICD_FILENAMES, else SwiftShader's (see ../helpers/vulkan.ts)
  XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp',
});

/** Deno from the npm `deno` package, on the package's dist/ through examples/import_map.json. */
export async function denoSteps(args: string[]): Promise<{ backend: string; losses: StepLoss[] }[]> {
  const { stdout } = await run('npx', ['deno', 'run', '--import-map', 'examples/import_map.json', '--allow-read', '--allow-env', 'examples/deno-steps.mjs', ...args], {
    env: swiftshaderEnv(),
    maxBuffer: 1 << 24,
  });
  return stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { backend: string; losses: StepLoss[] });
}
