// GpuContext.warmUp: pipelines built ahead from recorded keys are the ones dispatches then use;
// keys that do not parse or build are reported, never fatal. And demo/pipelines.json (the
// demo's recorded list) names only kernels and pipeline constants that exist.
import { afterAll, describe, expect, it } from 'vitest';
import { parsePipelineKey } from '../../src/backends/webgpu/context.js';
import { moduleSource } from '../../src/backends/webgpu/modules.js';
import pipelines from '../../demo/pipelines.json';
import { downF, openBackend, randf, rng, title, up } from './helpers.js';
import type { WebGPUBackend } from '../../src/backends/webgpu/index.js';

const o = await openBackend();
const b = o.backend!;

/** A matmul, a unary op and a reduction; the pipeline keys they needed. */
async function work(be: WebGPUBackend): Promise<number[]> {
  const r = rng(3);
  const a = up(be, randf(r, 12 * 7));
  const m = be.matmul(a, up(be, randf(r, 7 * 5)), { m: 12, n: 5, k: 7, transA: false, transB: false, batchA: 1, batchB: 1 });
  const e = be.unary('exp', m, 60);
  return Array.from(await downF(be, be.reduce('sum', e, 12, 5, 1), 12));
}

describe('demo/pipelines.json', () => {
  it('lists only existing entry points and pipeline constants', () => {
    for (const key of [...pipelines.cpuEmulated, ...pipelines.gpu]) {
      const spec = parsePipelineKey(key);
      expect(spec, key).not.toBeNull();
      const source = moduleSource(spec!.kernel.module);
      expect(source, key).toMatch(new RegExp(`\\bfn ${spec!.kernel.entry}\\(`));
      for (const name of Object.keys(spec!.constants)) expect(source, `${key}: ${name}`).toMatch(new RegExp(`\\boverride ${name}\\b`));
    }
  });
});

describe.skipIf(!o.backend)(title('webgpu pipeline warm-up', o), () => {
  afterAll(() => b.dispose());

  for (const async of [false, true]) {
    it(`builds recorded pipelines ahead, and dispatches then build none (${async ? 'createComputePipelineAsync' : 'createComputePipeline'})`, async () => {
      const want = await work(b);
      const keys = b.pipelineKeys();
      const fresh = (await openBackend()).backend!;
      try {
        const { built, failed } = await fresh.warmUp(keys, { async, concurrency: 2 });
        expect(failed).toEqual([]);
        expect(built).toBe(keys.length);
        expect(fresh.ctx.stats().pipelines).toBe(keys.length);
        expect(await work(fresh)).toEqual(want);
        expect(fresh.pipelineKeys()).toEqual(expect.arrayContaining(keys));
        expect(fresh.ctx.stats().pipelines).toBe(keys.length);
      } finally {
        fresh.dispose();
      }
    });
  }

  it('reports keys that do not parse or do not build, and goes on working', async () => {
    const bad = ['nonsense', 'elementwise.no_such_entry|urw|WG=256', 'elementwise.unary|urw|NO_SUCH_CONSTANT=1,OP=1,WG=256', 'nomodule.unary|urw|'];
    for (const async of [false, true]) {
      const fresh = (await openBackend()).backend!;
      try {
        const { built, failed } = await fresh.warmUp([...bad, 'elementwise.unary|urw|OP=1,WG=256'], { async });
        expect(built).toBe(1);
        expect([...failed].sort()).toEqual([...bad].sort());
        expect(await work(fresh)).toEqual(await work(b));
        await fresh.sync();
      } finally {
        fresh.dispose();
      }
    }
  });
});
