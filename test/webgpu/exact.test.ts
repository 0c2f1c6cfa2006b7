import { afterAll, describe, expect, it } from 'vitest';
import { shaders } from '../../src/backends/webgpu/shaders.generated.js';
import { openBackend, rng, title } from './helpers.js';

const o = await openBackend();
const b = o.backend!;

// The prelude's exact-division helpers, run on the device: they must reproduce IEEE float32
// division (which GPUs do not guarantee) bit for bit, whatever the device's own division does.
const HARNESS = `
@group(0) @binding(0) var<storage, read> xs: array<f32>;
@group(0) @binding(1) var<storage, read> ds: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> ts: array<f32>;
@group(0) @binding(4) var<storage, read_write> gt: array<u32>;
@group(0) @binding(5) var<storage, read> bs: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= arrayLength(&ds)) { return; }
  out[i] = div_exact(xs[i], ds[i]);
  gt[i] = select(0u, 1u, quotient_gt(xs[i], bs[i], ts[i]));
}`;

async function run(xs: Float32Array, ds: Uint32Array, ts: Float32Array, bs: Float32Array): Promise<{ q: Float32Array; gt: Uint32Array }> {
  const device = b.ctx.device;
  const module = device.createShaderModule({ code: shaders.common + HARNESS });
  const pipe = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const n = ds.length;
  const mk = (data: ArrayBufferView | null, usage: number) => {
    const buf = device.createBuffer({ size: n * 4, usage, mappedAtCreation: !!data });
    if (data) {
      new Uint8Array(buf.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, n * 4));
      buf.unmap();
    }
    return buf;
  };
  const S = 0x80 | 0x4 | 0x8;
  const bufs = [mk(xs, S), mk(ds, S), mk(null, S), mk(ts, S), mk(null, S), mk(bs, S)];
  const read = [mk(null, 0x1 | 0x8), mk(null, 0x1 | 0x8)];
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipe);
  pass.setBindGroup(0, device.createBindGroup({ layout: pipe.getBindGroupLayout(0), entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })) }));
  pass.dispatchWorkgroups(Math.ceil(n / 64));
  pass.end();
  enc.copyBufferToBuffer(bufs[2]!, 0, read[0]!, 0, n * 4);
  enc.copyBufferToBuffer(bufs[4]!, 0, read[1]!, 0, n * 4);
  device.queue.submit([enc.finish()]);
  await Promise.all(read.map((r) => r.mapAsync(1)));
  const q = new Float32Array(read[0]!.getMappedRange().slice(0));
  const gt = new Uint32Array(read[1]!.getMappedRange().slice(0));
  for (const buf of [...bufs, ...read]) buf.destroy();
  return { q, gt };
}

describe.skipIf(!o.backend)(title('webgpu exact division helpers', o), () => {
  afterAll(() => b.dispose());

  it('div_exact matches IEEE division; quotient_gt matches fl(a / b) > t, ties included', async () => {
    const r = rng(9);
    const n = 4096;
    const xs = new Float32Array(n);
    const ds = new Uint32Array(n);
    const ts = new Float32Array(n);
    const bs = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      ds[i] = 1 + Math.floor(r() * (i % 4 === 0 ? 60000 : 300));
      // Integers (bin sizes), multiples of the divisor (exact quotients), neighbours of those,
      // and random magnitudes over many binades, both signs.
      const kind = i % 5;
      let x = kind === 0 ? Math.floor(r() * 5000) : kind === 1 ? ds[i]! * Math.floor(r() * 1000) : kind === 2 ? Math.fround(ds[i]! * 7) * (1 + (r() < 0.5 ? -1 : 1) * 2 ** -23) : 10 ** (r() * 12 - 6);
      if (i % 7 === 3) x = -x;
      xs[i] = x;
      bs[i] = ds[i]! * 0.37;
      const q = Math.fround(Math.abs(xs[i]!) / bs[i]!);
      // Thresholds at, just below and just above the float32 quotient.
      ts[i] = i % 3 === 0 ? q : i % 3 === 1 ? Math.fround(q * (1 - 2 ** -24)) : Math.fround(q * (1 + 2 ** -23));
    }
    const got = await run(xs, ds, ts, bs);
    for (let i = 0; i < n; i++) {
      const want = Math.fround(xs[i]! / ds[i]!);
      if (!Object.is(got.q[i], want)) expect.fail(`div_exact(${xs[i]}, ${ds[i]}) = ${got.q[i]}, want ${want}`);
      const bb = bs[i]!;
      const wantGt = xs[i]! > 0 ? +(Math.fround(xs[i]! / bb) > ts[i]!) : +(xs[i]! / bb > ts[i]!);
      if (got.gt[i] !== wantGt) expect.fail(`quotient_gt(${xs[i]}, ${bb}, ${ts[i]}) = ${got.gt[i]}, want ${wantGt}`);
    }
  });
});
