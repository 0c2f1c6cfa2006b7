import { afterAll, describe, expect, it } from 'vitest';
import { moduleNames, moduleSource } from '../../src/backends/webgpu/modules.js';
import { openBackend, title } from './helpers.js';

const o = await openBackend();
const b = o.backend!;

describe.skipIf(!o.backend)(title('webgpu shader modules', o), () => {
  afterAll(() => b.dispose());

  it.each(moduleNames)('%s compiles without errors or warnings', async (name) => {
    const module = b.ctx.device.createShaderModule({ code: moduleSource(name) });
    const info = await module.getCompilationInfo();
    const messages = info.messages.map((m) => `${m.type} ${m.lineNum}:${m.linePos} ${m.message}`);
    expect(messages).toEqual([]);
  });
});
