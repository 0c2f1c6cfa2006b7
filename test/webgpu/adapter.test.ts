// rejectSoftwareAdapter: a software adapter is refused by name before a device is requested (the
// demo's 'auto' then takes wasm without making the GPU process build a device it will not use);
// a hardware one, or the option unset, goes on to a device. navigator.gpu is stubbed here: with
// Dawn, a test file that made and dropped a device, then made another, crashed or hung its test
// process in four of five runs on this machine (2026-11-29).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SoftwareAdapterError, createWebGPUBackend } from '../../src/backends/webgpu/index.js';

function stubGpu(info: Record<string, unknown>): { requestDevice: ReturnType<typeof vi.fn> } {
  const requestDevice = vi.fn(async () => {
    throw new Error('stub: no device');
  });
  const adapter = { info, limits: { maxBufferSize: 1 << 28, maxStorageBufferBindingSize: 1 << 27 }, requestDevice };
  vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => adapter } });
  return { requestDevice };
}

afterEach(() => vi.unstubAllGlobals());

describe('webgpu adapter selection (navigator.gpu stubbed)', () => {
  for (const info of [
    { vendor: 'google', architecture: 'swiftshader', device: 'swiftshader-device-subzero', description: 'SwiftShader driver' },
    { vendor: 'mesa', architecture: '', device: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' },
    { vendor: 'microsoft', architecture: '', device: '', description: 'Microsoft Basic Render Driver', isFallbackAdapter: true },
  ]) {
    it(`refuses ${info.description} before requesting a device, naming it`, async () => {
      const { requestDevice } = stubGpu(info);
      const err = await createWebGPUBackend({ rejectSoftwareAdapter: true }).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(SoftwareAdapterError);
      expect((err as Error).message).toMatch(/^kdet\.webgpu: the WebGPU adapter is a software one \(.+ via navigator\.gpu\)/);
      expect((err as Error).message).toContain(info.description);
      expect(requestDevice).not.toHaveBeenCalled();
    });
  }

  it('goes on to a device for a hardware adapter, and for a software one without the option', async () => {
    for (const [info, reject] of [
      [{ vendor: 'nvidia', architecture: 'hopper', device: '', description: 'NVIDIA H200' }, true],
      [{ vendor: 'google', architecture: 'swiftshader', device: '', description: 'SwiftShader driver' }, false],
    ] as const) {
      const { requestDevice } = stubGpu(info);
      await expect(createWebGPUBackend({ rejectSoftwareAdapter: reject })).rejects.toThrow(/refused a device: stub: no device/);
      expect(requestDevice).toHaveBeenCalledOnce();
    }
  });
});
