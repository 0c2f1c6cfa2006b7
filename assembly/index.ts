// Entry point of the WebAssembly module: every kernel family lives in its own file.
// Kernels take raw pointers into linear memory (allocated by the JS side, see
// src/backends/wasm/memory.ts) and never allocate themselves; scratch space is passed in.
export * from './memory';
export * from './gemm';
export * from './conv';
export * from './depthwise';
export * from './elementwise';
export * from './reduce';
export * from './layout';
export * from './pool';
export * from './roi';
export * from './boxes';
export * from './optim';
export * from './batchnorm';
export * from './sparse';
