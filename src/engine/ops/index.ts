export * from './creation.js';
export * from './elementwise.js';
export * from './layout.js';
export * from './reduce.js';
export * from './linalg.js';
export * from './conv.js';
export * from './nn.js';
export * from './detection.js';
