import { expect, it } from 'vitest';
import type { Backend } from '../../src/engine/backend.js';
import { memoryStats, setBackend } from '../../src/engine/index.js';
import { describeEachBackend, loadBackendsUnderTest } from '../helpers/backends.js';
import { distil } from '../helpers/distil-fixture.js';

const loaded = await loadBackendsUnderTest();

describeEachBackend(loaded, (backend: Backend) => {
  it('the distiller applies the configured distance to the teacher regression term, and to nothing else', async () => {
    setBackend(backend);
    const before = memoryStats(backend);
    const terms = { soft: false, hint: false, regression: 'bounded' } as const;
    const l2 = await distil(null, { ...terms, regressionDistance: 'l2' });
    const sl1 = await distil(null, { ...terms, regressionDistance: 'smooth-l1' });
    const off = await distil(null, { ...terms, regression: 'none' });
    const [a, b, c] = [l2.steps[0]!, sl1.steps[0]!, off.steps[0]!];
    for (const v of [...Object.values(a), ...Object.values(b)]) expect(Number.isFinite(v)).toBe(true);
    // Step 1 starts from the same weights and batch: classification is untouched by the distance...
    expect(b.rpnCls).toBe(a.rpnCls);
    expect(b.roiCls).toBe(a.roiCls);
    // ...and the regression terms add to the ground truth's smooth-L1 in both forms, differently.
    expect(a.roiReg).toBeGreaterThan(c.roiReg!);
    expect(b.roiReg).toBeGreaterThan(c.roiReg!);
    expect(b.roiReg).not.toBe(a.roiReg);
    expect(memoryStats(backend)).toEqual(before);
  });
});
