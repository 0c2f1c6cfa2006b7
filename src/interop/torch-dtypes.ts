/**
 * The tensor dtypes kdet reads from a `.pth`, keyed by the legacy storage class torch.save names
 * in each storage's persistent id (`torch.FloatStorage` for float32, …: still what torch 2.x
 * writes for a plain tensor). Anything else (complex, quantized, float8, …) is an unknown dtype.
 */

export type TorchDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** Storage class name (in module `torch`) → dtype. A Map, never an object: names come from the file. */
export const STORAGE_DTYPES: ReadonlyMap<string, TorchDType> = new Map<string, TorchDType>([
  ['FloatStorage', 'float32'],
  ['DoubleStorage', 'float64'],
  ['HalfStorage', 'float16'],
  ['BFloat16Storage', 'bfloat16'],
  ['LongStorage', 'int64'],
  ['IntStorage', 'int32'],
  ['ShortStorage', 'int16'],
  ['CharStorage', 'int8'],
  ['ByteStorage', 'uint8'],
  ['BoolStorage', 'bool'],
]);

export const STORAGE_NAME: Readonly<Record<TorchDType, string>> = {
  float32: 'FloatStorage',
  float64: 'DoubleStorage',
  float16: 'HalfStorage',
  bfloat16: 'BFloat16Storage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  int16: 'ShortStorage',
  int8: 'CharStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

export const ITEM_SIZE: Readonly<Record<TorchDType, number>> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export const KNOWN_DTYPES = 'float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8 and bool';

export function isFloatDType(d: TorchDType): boolean {
  return d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';
}
