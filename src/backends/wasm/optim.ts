import type { SgdParams } from '../../engine/backend.js';
import type { WasmContext } from './context.js';
import type { WasmBuffer } from './memory.js';
import { runRanges } from './split.js';

/** Flags of assembly/optim.ts sgdUpdate. */
const HAS_BUF = 1;
const MOMENTUM = 2;
const NESTEROV = 4;
const DECAY = 8;
const SCALED = 16;

export function sgdUpdate(ctx: WasmContext, p: unknown, g: unknown, buf: unknown, scale: unknown, size: number, o: SgdParams): { param: WasmBuffer; momentum: WasmBuffer | null } {
  const pp = ctx.ptr('sgdUpdate', 'p', p, size);
  const gp = ctx.ptr('sgdUpdate', 'g', g, size);
  const bp = buf === null ? 0 : ctx.ptr('sgdUpdate', 'buf', buf, size);
  const sp = scale === null ? 0 : ctx.ptr('sgdUpdate', 'scale', scale, 1);
  const flags = (buf !== null && o.momentum ? HAS_BUF : 0) | (o.momentum ? MOMENTUM : 0) | (o.nesterov ? NESTEROV : 0) | (o.weightDecay ? DECAY : 0) | (scale !== null ? SCALED : 0);
  const param = ctx.output(size);
  const momentum = o.momentum ? ctx.output(size) : null;
  const outputs = momentum ? [param, momentum] : [param];
  ctx.produce('sgdUpdate', outputs, () =>
    runRanges(ctx, 'sgdUpdate', [pp, gp, bp, sp, param.ptr, momentum?.ptr ?? 0, o.lr, o.momentum, o.weightDecay, flags, 0, 0], 10, size),
  );
  return { param, momentum };
}
