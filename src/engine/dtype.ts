/** Element types. float32 for values, int32 for indices and labels (PyTorch's float / long roles). */
export type DType = 'float32' | 'int32';
export type TypedArrayFor<D extends DType> = D extends 'float32' ? Float32Array : Int32Array;
export type DataArray = Float32Array | Int32Array;

export function bytesPerElement(_dtype: DType): number {
  return 4;
}

export function arrayFor(dtype: DType, n: number): DataArray {
  return dtype === 'float32' ? new Float32Array(n) : new Int32Array(n);
}
