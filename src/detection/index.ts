/** Faster R-CNN cut as torchvision cuts it, plus its trainer and evaluation. */
export * from './anchors.js';
export * from './backbone.js';
export * from './box-coder.js';
export * from './boxes.js';
export * from './config.js';
export * from './faster-rcnn.js';
export * from './matcher.js';
export * from './sampler.js';
export * from './rpn.js';
export * from './roi-heads.js';
export * from './schedule.js';
export * from './trainer.js';
export * from './evaluate.js';
export * from './batch.js';
// kdet's own presets under torchvision's names live in interop/ now; re-exported for existing imports.
export { exportTorchvision, importTorchvision } from '../interop/kdet-presets.js';
export * from './transform.js';
// torchvision's own Faster R-CNN family (inference), under its state_dict names.
export * from './fpn.js';
export * from './multiscale-roi-align.js';
export * from './anchors-multilevel.js';
export * from './tv-rpn-head.js';
export * from './tv-rpn.js';
export * from './tv-box-head.js';
export * from './tv-presets.js';
export * from './tv-faster-rcnn.js';
export * from './tv-checkpoint.js';
