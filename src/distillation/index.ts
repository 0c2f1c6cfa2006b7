/** Knowledge distillation for Faster R-CNN (Chen et al., NIPS 2017) and fine-grained imitation. */
export * from './config.js';
export * from './losses.js';
export * from './feature-losses.js';
export * from './distiller.js';
export * from './imitation-mask.js';
export * from './ablation.js';
export * from './recipes.js';
export * from './tv-distiller.js';
