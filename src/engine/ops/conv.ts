import type { Conv2dParams, Pool2dParams } from '../backend.js';
import { check, fmtShape } from '../errors.js';
import { record } from '../tape.js';
import type { Tensor } from '../tensor.js';
import { sum } from './reduce.js';
import { backendOf, expectDType, expectRank, out } from './util.js';

export type Pair = number | readonly [number, number];

function pair(op: string, name: string, v: Pair, min: number): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  check(p.every((x) => Number.isInteger(x) && x >= min), op, () => `${name} must be integer(s) ≥ ${min}, got ${JSON.stringify(v)}`);
  return p;
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

export function conv2dParams(x: readonly number[], w: readonly number[], opts: Conv2dOptions): Conv2dParams {
  const [strideH, strideW] = pair('conv2d', 'stride', opts.stride ?? 1, 1);
  const [padH, padW] = pair('conv2d', 'padding', opts.padding ?? 0, 0);
  const [dilationH, dilationW] = pair('conv2d', 'dilation', opts.dilation ?? 1, 1);
  const groups = opts.groups ?? 1;
  const [n, cIn, h, wd] = x as [number, number, number, number];
  const [cOut, cPerGroup, kh, kw] = w as [number, number, number, number];
  check(Number.isInteger(groups) && groups >= 1 && cIn % groups === 0 && cOut % groups === 0, 'conv2d', () =>
    `groups ${groups} must divide input channels ${cIn} and output channels ${cOut}`);
  check(cPerGroup * groups === cIn, 'conv2d', () =>
    `weight ${fmtShape(w)} expects ${cPerGroup * groups} input channels (groups ${groups}) but input ${fmtShape(x)} has ${cIn}`);
  const outH = Math.floor((h + 2 * padH - dilationH * (kh - 1) - 1) / strideH) + 1;
  const outW = Math.floor((wd + 2 * padW - dilationW * (kw - 1) - 1) / strideW) + 1;
  check(outH > 0 && outW > 0, 'conv2d', () =>
    `kernel ${kh}×${kw} (dilation ${dilationH}×${dilationW}, padding ${padH}×${padW}) does not fit input ${fmtShape(x)}`);
  return { n, cIn, h, w: wd, cOut, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, groups, outH, outW };
}

/** 2-D convolution (cross-correlation, as PyTorch): x [n, cIn, h, w], w [cOut, cIn/groups, kh, kw]. */
export function conv2d(x: Tensor, w: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  expectDType('conv2d', 'input', x, 'float32');
  expectDType('conv2d', 'weight', w, 'float32');
  expectRank('conv2d', 'input', x, 4);
  expectRank('conv2d', 'weight', w, 4);
  if (bias) {
    check(bias.rank === 1 && bias.shape[0] === w.shape[0], 'conv2d', () => `bias: expected [${w.shape[0]}], got ${fmtShape(bias.shape)}`);
  }
  const backend = backendOf('conv2d', x, w, ...(bias ? [bias] : []));
  const p = conv2dParams(x.shape, w.shape, opts);
  const y = out(backend, backend.conv2d(x.buf, w.buf, bias ? bias.buf : null, p), [p.n, p.cOut, p.outH, p.outW]);
  record('conv2d', bias ? [x, w, bias] : [x, w], [y], (tape) => {
    const sx = tape.save(x);
    const sw = tape.save(w);
    return ([dy], need) => {
      const b = dy!.backend;
      const dx = need[0] ? out(b, b.conv2dGradInput(dy!.buf, sw.buf, p), sx.shape) : null;
      const dw = need[1] ? out(b, b.conv2dGradFilter(sx.buf, dy!.buf, p), sw.shape) : null;
      const db = bias && need[2] ? sum(dy!, [0, 2, 3]) : null;
      return bias ? [dx, dw, db] : [dx, dw];
    };
  });
  return y;
}

export interface Pool2dOptions {
  stride?: Pair;
  padding?: Pair;
}

/** Max pooling (floor mode, implicit −∞ padding), as torch.nn.functional.max_pool2d. */
export function maxPool2d(x: Tensor, kernel: Pair, opts: Pool2dOptions = {}): Tensor {
  expectDType('maxPool2d', 'input', x, 'float32');
  expectRank('maxPool2d', 'input', x, 4);
  const [kh, kw] = pair('maxPool2d', 'kernel', kernel, 1);
  const [strideH, strideW] = pair('maxPool2d', 'stride', opts.stride ?? [kh, kw], 1);
  const [padH, padW] = pair('maxPool2d', 'padding', opts.padding ?? 0, 0);
  check(padH * 2 <= kh && padW * 2 <= kw, 'maxPool2d', () => `padding ${padH}×${padW} must be at most half the kernel ${kh}×${kw}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const outH = Math.floor((h + 2 * padH - kh) / strideH) + 1;
  const outW = Math.floor((w + 2 * padW - kw) / strideW) + 1;
  check(outH > 0 && outW > 0, 'maxPool2d', () => `kernel ${kh}×${kw} does not fit input ${fmtShape(x.shape)}`);
  const p: Pool2dParams = { n, c, h, w, kh, kw, strideH, strideW, padH, padW, outH, outW };
  const backend = x.backend;
  const r = backend.maxPool2d(x.buf, p);
  const y = out(backend, r.out, [n, c, outH, outW]);
  const argmax = out(backend, r.argmax, [n, c, outH, outW], 'int32');
  record('maxPool2d', [x], [y], (tape) => {
    const sa = tape.save(argmax);
    return ([dy]) => [out(dy!.backend, dy!.backend.maxPool2dGrad(dy!.buf, sa.buf, p), x.shape)];
  });
  argmax.dispose();
  return y;
}
