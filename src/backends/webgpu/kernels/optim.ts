import type { SgdParams } from '../../../engine/backend.js';
import type { GpuBuffer, GpuContext } from '../context.js';
import { kernel } from '../modules.js';
import { grid1, Params } from '../params.js';

const WG = 256;

const K = {
  plain: kernel('optim', 'sgd_plain', 'urrrw'),
  momentum: kernel('optim', 'sgd_momentum', 'urrrrww'),
};

/** shaders/optim.wgsl's FLAGS bits. */
const HAS_BUF = 1;
const MOMENTUM = 2;
const NESTEROV = 4;
const DECAY = 8;
const SCALED = 16;

export function sgdUpdate(ctx: GpuContext, p: GpuBuffer, g: GpuBuffer, buf: GpuBuffer | null, scale: GpuBuffer | null, size: number, o: SgdParams): { param: GpuBuffer; momentum: GpuBuffer | null } {
  const params = new Params().u32(size).f32(o.lr, o.momentum, o.weightDecay);
  const param = ctx.alloc(size * 4);
  if (!o.momentum) {
    ctx.run(K.plain, { WG, FLAGS: (o.weightDecay ? DECAY : 0) | (scale ? SCALED : 0) }, params, [p, g, scale ?? g, param], grid1(size, WG));
    return { param, momentum: null };
  }
  const flags = (buf ? HAS_BUF : 0) | MOMENTUM | (o.nesterov ? NESTEROV : 0) | (o.weightDecay ? DECAY : 0) | (scale ? SCALED : 0);
  const momentum = ctx.alloc(size * 4);
  ctx.run(K.momentum, { WG, FLAGS: flags }, params, [p, g, scale ?? g, buf ?? g, param, momentum], grid1(size, WG));
  return { param, momentum };
}
