/**
 * Interop with PyTorch files: `.pth` state_dicts read through a restricted unpickler (nothing
 * from the file is ever run) and written as torch.save writes them, plus the ZIP and pickle
 * pieces they are made of; and kdet's own presets' weights under torchvision's FasterRCNN names.
 */
export { readPth, writePth, looksLikePth, PthError, type PthTensor, type PthTensorInput, type ReadPthOptions } from './pth.js';
export { readStateDict, pthToSafetensors, type StateDictFile } from './state-dict.js';
export { decodeTorchSafetensors, type TorchSafetensors } from './safetensors-torch.js';
export { unpickle, UnpickleError, MAX_MARK_DEPTH } from './unpickle.js';
export { readZip, writeZip, ZipReader, ZipError, type ZipEntry, type ZipWriteEntry } from './zip.js';
export type { TorchDType } from './torch-dtypes.js';
export type { PthData } from './tensor-data.js';
export { exportTorchvision, importTorchvision } from './kdet-presets.js';
