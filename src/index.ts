/**
 * kdet: train Faster R-CNN detectors and distil compact students (Chen et al., NIPS 2017) in any
 * JavaScript runtime. Entry points by layer:
 *   engine       tensors, memory scopes, tape autodiff, ops with gradients
 *   backends     reference (JS, float64), wasm (AssemblyScript SIMD), webgpu (WGSL)
 *   nn           modules, layers, initialisers, optimisers, checkpoints
 *   models       torchvision's ResNet and MobileNetV3 bodies with FPN, under its names
 *   detection    Faster R-CNN parts (kdet's and torchvision's), trainer, evaluation
 *   distillation the paper's losses and the Distiller
 *   data / eval  data sets, loaders, VOC and COCO metrics, pictures
 *   interop      PyTorch .pth and torch safetensors state_dicts, read safely and written
 */
export * from './engine/index.js';
export { Rng } from './engine/random.js';
export * as nn from './nn/index.js';
export * as models from './models/index.js';
export * as detection from './detection/index.js';
export * as distillation from './distillation/index.js';
export * as interop from './interop/index.js';
export { createReferenceBackend } from './backends/reference/index.js';
