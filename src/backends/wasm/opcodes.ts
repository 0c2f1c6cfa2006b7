import type { BinaryOp, UnaryOp } from '../../engine/backend.js';

/** The `op` argument of the `unary` kernel: the switch in assembly/elementwise.ts. */
export const UNARY_OPCODES: Readonly<Record<UnaryOp, number>> = {
  neg: 0, exp: 1, log: 2, sqrt: 3, abs: 4, relu: 5, sigmoid: 6, tanh: 7, square: 8, sign: 9, reciprocal: 10, step: 11,
};

/** The `op` argument of the `binary` kernel: the switch in assembly/elementwise.ts. */
export const BINARY_OPCODES: Readonly<Record<BinaryOp, number>> = {
  add: 0, sub: 1, mul: 2, div: 3, max: 4, min: 5, pow: 6, gt: 7, ge: 8, lt: 9, le: 10, eq: 11, ne: 12,
};
