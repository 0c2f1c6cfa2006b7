/** The engine: tensors, memory scopes, the gradient tape and the ops (with their gradients). */
export * from './ops/index.js';
export { Tensor } from './tensor.js';
export { scope, keep, dispose } from './scope.js';
export { valueAndGrads, valueAndGradsAsync, valueAndGrad, grad, noGrad, type ValueAndGrads, type LossWithAux } from './tape.js';
export { setBackend, getBackend, registerBackend, memoryStats } from './state.js';
export { KdetError } from './errors.js';
export type { Backend, Conv2dParams, Pool2dParams, RoiParams, MatmulParams, SpmmParams, UnaryOp, BinaryOp, ReduceOp } from './backend.js';
export type { DType, DataArray } from './dtype.js';
export type { Shape } from './shape.js';
