/** torchvision's detection backbones as kdet modules, under torchvision's parameter names. */
export { BackboneWithFPN, type FeatureExtractor } from './backbone-with-fpn.js';
export { conv2dNormActivation, makeNorm, type NormKind, type NormOptions, type Activation, type ConvNormActOptions } from './conv-norm-act.js';
export { ModuleList } from './module-list.js';
export { BodyClassifier, BodyView, buildBody, copyBody, type BodyArch } from './body-classifier.js';
export { ResNetBody, BasicBlock, Bottleneck, resnetFpnBackbone, RESNET_ARCHS, type ResNetArch, type ResNetBodyOptions, type ResNetFpnOptions } from './resnet.js';
export {
  MobileNetV3Body,
  InvertedResidual,
  SqueezeExcitation,
  mobilenetV3LargeFpnBackbone,
  makeDivisible,
  MOBILENET_V3_LARGE,
  type InvertedResidualConfig,
  type MobileNetV3BodyOptions,
  type MobileNetV3FpnOptions,
} from './mobilenetv3.js';
export { FeaturePyramidNetwork, LastLevelMaxPool, type ExtraFPNBlock, type FeatureMaps, type FeaturePyramidNetworkOptions } from '../detection/fpn.js';
