export * from './types.js';
export * from './voc.js';
export * from './coco.js';
export * from './results.js';
