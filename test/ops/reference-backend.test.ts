import { describe, expect, it } from 'vitest';
import { createReferenceBackend } from '../../src/backends/reference/index.js';
import type { Conv2dParams, RoiParams } from '../../src/engine/backend.js';

/**
 * The reference backend's own contract (the parts the PyTorch fixtures cannot reach): float64
 * storage, exact memory accounting, loud failure on misuse, and PyTorch's NaN / edge semantics.
 */
const f64 = (b: ReturnType<typeof createReferenceBackend>, buf: unknown) => Array.from(b.readF64(buf));

describe('reference backend: storage and memory', () => {
  it('computes in float64 and reads back float32 / int32 per dtype', () => {
    const b = createReferenceBackend();
    const x = b.uploadF64(Float64Array.from([1e8]));
    const y = b.uploadF64(Float64Array.from([1e-8]));
    const s = b.binary('add', x, [1], y, [1], [1]);
    expect(f64(b, s)).toEqual([1e8 + 1e-8]);
    expect(b.readSync(s, 'float32', 1)).toEqual(Float32Array.from([1e8]));
    const i = b.upload(Int32Array.from([-3, 7]));
    expect(b.readSync(i, 'int32', 2)).toEqual(Int32Array.from([-3, 7]));
    expect(b.name).toBe('reference');
    expect(b.canReadSync).toBe(true);
  });

  it('counts 4 bytes per element of every live buffer', async () => {
    const b = createReferenceBackend();
    const a = b.alloc('float32', 10);
    const c = b.fill('int32', 3, 2.9);
    expect(b.memory()).toEqual({ bytes: 52, buffers: 2 });
    expect(f64(b, a)).toEqual(new Array(10).fill(0));
    expect(Array.from(await b.read(c, 'int32', 3))).toEqual([2, 2, 2]);
    b.free(a);
    expect(b.memory()).toEqual({ bytes: 12, buffers: 1 });
    b.free(c);
    expect(b.memory()).toEqual({ bytes: 0, buffers: 0 });
  });

  it('rejects double frees, foreign handles, use after free, wrong dtypes and sizes', () => {
    const b = createReferenceBackend();
    const other = createReferenceBackend();
    const x = b.upload(Float32Array.from([1, 2, 3]));
    const idx = b.upload(Int32Array.from([0]));
    expect(() => b.unary('exp', x, 4)).toThrow(/unary: x: expected 4 elements, the buffer holds 3/);
    expect(() => b.unary('exp', idx, 1)).toThrow(/expected a float32 buffer, got int32/);
    expect(() => b.readSync(x, 'int32', 3)).toThrow(/expected a int32 buffer/);
    expect(() => b.gather(x, [3], x, 1, 0, 'float32')).toThrow(/gather: indices: expected a int32 buffer/);
    expect(() => other.unary('neg', x, 3)).toThrow(/used after free/);
    b.free(x);
    expect(() => b.unary('neg', x, 3)).toThrow(/used after free/);
    expect(() => b.free(x)).toThrow(/already freed/);
    expect(() => b.free(new Float32Array(2))).toThrow(/not a reference-backend buffer/);
    b.dispose();
    expect(b.memory()).toEqual({ bytes: 0, buffers: 0 });
    expect(() => b.alloc('float32', 1)).toThrow(/disposed/);
  });

  it('checks kernel parameters against buffer sizes (engine bugs surface here)', () => {
    const b = createReferenceBackend();
    const p: Conv2dParams = {
      n: 1, cIn: 1, h: 4, w: 4, cOut: 1, kh: 3, kw: 3, strideH: 1, strideW: 1, padH: 0, padW: 0,
      dilationH: 1, dilationW: 1, groups: 1, outH: 3, outW: 2,
    };
    const x = b.alloc('float32', 16);
    const w = b.alloc('float32', 9);
    expect(() => b.conv2d(x, w, null, p)).toThrow(/inconsistent parameters/);
    expect(() => b.transpose(x, [4, 4], [0, 0], 'float32')).toThrow(/not a permutation/);
    expect(() => b.slice(x, [4, 4], [3, 0], [2, 4], 'float32')).toThrow(/outside/);
    expect(() => b.gather(x, [4, 4], b.upload(Int32Array.from([4])), 1, 0, 'float32')).toThrow(/indices\[0\] = 4 is out of range/);
  });
});

describe('reference backend: PyTorch semantics at the edges', () => {
  const b = createReferenceBackend();
  const up = (v: number[]) => b.uploadF64(Float64Array.from(v));

  it('NaN: relu, maximum, amax and max-pool propagate it; argmax picks it; sign gives 0 (torch 1.13)', () => {
    const x = up([1, NaN, 3, -2]);
    expect(f64(b, b.unary('relu', x, 4))).toEqual([1, NaN, 3, 0]);
    expect(f64(b, b.unary('sign', x, 4))).toEqual([1, 0, 1, -1]);
    expect(f64(b, b.binary('max', x, [4], up([2, 0, NaN, -3]), [4], [4]))).toEqual([2, NaN, NaN, -2]);
    expect(f64(b, b.reduce('max', x, 1, 4, 1))).toEqual([NaN]);
    expect(f64(b, b.reduce('min', up([NaN, 1, 2, 0]), 1, 4, 1))).toEqual([NaN]);
    expect(f64(b, b.argReduce('argmax', x, 1, 4, 1))).toEqual([1]);
    expect(f64(b, b.argReduce('argmin', up([3, 1, 1, NaN]), 1, 4, 1))).toEqual([3]);
    const pool = b.maxPool2d(up([1, NaN, 3, 2]), {
      n: 1, c: 1, h: 2, w: 2, kh: 2, kw: 2, strideH: 2, strideW: 2, padH: 0, padW: 0, outH: 1, outW: 1,
    });
    expect(f64(b, pool.out)).toEqual([NaN]);
    expect(f64(b, pool.argmax)).toEqual([1]);
  });

  it('comparisons and where treat NaN as PyTorch does', () => {
    const a = up([NaN, 1]);
    const c = up([NaN, 1]);
    expect(f64(b, b.binary('eq', a, [2], c, [2], [2]))).toEqual([0, 1]);
    expect(f64(b, b.binary('ne', a, [2], c, [2], [2]))).toEqual([1, 0]);
    expect(f64(b, b.where(up([NaN, 0]), [2], up([1, 1]), [2], up([2, 2]), [2], [2]))).toEqual([1, 2]);
  });

  it('oneHot gives a zero row for a label outside [0, classes); cast truncates toward zero', () => {
    const labels = b.upload(Int32Array.from([2, -1, 3, 0]));
    expect(f64(b, b.oneHot(labels, 4, 3))).toEqual([0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
    expect(f64(b, b.cast(up([-2.7, 2.7, -0.5]), 3, 'float32', 'int32'))).toEqual([-2, 2, -0]);
  });

  it('roiAlign: one bilinear sample in the middle of a 2×2 map; a bad batch index is an error', () => {
    const p: RoiParams = { n: 1, c: 1, h: 2, w: 2, k: 1, pooledH: 1, pooledW: 1, spatialScale: 1, samplingRatio: 1, aligned: false };
    const x = up([1, 2, 3, 4]);
    expect(f64(b, b.roiAlign(x, up([0, 0, 0, 1, 1]), p))).toEqual([2.5]);
    expect(f64(b, b.roiAlignGrad(up([1]), up([0, 0, 0, 1, 1]), p))).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(() => b.roiAlign(x, up([1, 0, 0, 1, 1]), p)).toThrow(/rois\[0\] has batch index 1/);
    expect(() => b.roiPool(x, up([-1, 0, 0, 1, 1]), p)).toThrow(/batch index -1/);
  });

  it('roiPool ignores NaN (strict >) and marks empty bins with argmax −1', () => {
    const p: RoiParams = { n: 1, c: 1, h: 2, w: 2, k: 2, pooledH: 1, pooledW: 1, spatialScale: 1, samplingRatio: 0, aligned: false };
    const r = b.roiPool(up([NaN, 2, 3, 1]), up([0, 0, 0, 1, 1, 0, 5, 5, 6, 6]), p);
    expect(f64(b, r.out)).toEqual([3, 0]);
    expect(f64(b, r.argmax)).toEqual([2, -1]);
  });

  it('nms: empty input, equal scores keep the lower index, IoU equal to the threshold survives', async () => {
    expect(Array.from(await b.nms(up([]), up([]), 0, 0.5))).toEqual([]);
    const boxes = up([0, 0, 2, 1, 0, 0, 4, 1, 0, 0, 4, 1]);
    expect(Array.from(await b.nms(boxes, up([0.5, 0.5, 0.5]), 3, 0.5))).toEqual([0, 1]);
    expect(Array.from(await b.nms(boxes, up([0.5, 0.5, 0.5]), 3, 0.49))).toEqual([0]);
  });

  it('boxIou: no +1 pixel convention', () => {
    expect(f64(b, b.boxIou(up([0, 0, 2, 2]), 1, up([1, 0, 3, 2, 0, 0, 2, 2]), 2))).toEqual([1 / 3, 1]);
  });
});

