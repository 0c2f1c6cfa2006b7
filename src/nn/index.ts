/** Neural-network building blocks: parameters, modules, layers, initialisers, optimisers. */
export { Parameter } from './parameter.js';
export { Module } from './module.js';
export { BatchNorm2d, FrozenBatchNorm2d, batchNorm2dTrain, batchNorm2dInference, type BatchNorm2dOptions } from './batchnorm.js';
export { Conv2d, Linear, Lambda, ReLU, MaxPool2d, Sequential, type Layer, type Conv2dLayerOptions } from './layers.js';
export * as init from './init.js';
export { SGD, Adam, Optimizer, clipGradNorm, clipGradCoefficient, type OptimizerState, type SGDOptions, type AdamOptions } from './optim.js';
export * from './safetensors.js';
export * from './checkpoint.js';
export { relu6, hardsigmoid, hardswish, ReLU6, Hardsigmoid, Hardswish } from './activations.js';
export { adaptiveAvgPool2d, interpolateNearest, nearestSourceIndex, AdaptiveAvgPool2d } from './resample.js';
