import { fmtShape } from '../../engine/errors.js';
import { sizeOf, stridesOf, type Shape } from '../../engine/shape.js';
import { refFail } from './buffer.js';

/**
 * For each element of `outShape` (row-major order), the offset of the element of an input of
 * `inShape` that broadcasting maps onto it. Spelled out once so that every broadcasting kernel
 * uses the same, obviously correct rule: align right, a size-1 (or missing) axis repeats.
 */
export function broadcastOffsets(kernel: string, inShape: Shape, outShape: Shape): Int32Array {
  const rank = outShape.length;
  if (inShape.length > rank) refFail(kernel, `input ${fmtShape(inShape)} has more axes than output ${fmtShape(outShape)}`);
  const lead = rank - inShape.length;
  const inStrides = stridesOf(inShape);
  // Stride 0 along axes that are broadcast.
  const strides = outShape.map((d, i) => {
    if (i < lead) return 0;
    const di = inShape[i - lead]!;
    if (di !== d && di !== 1) refFail(kernel, `input ${fmtShape(inShape)} cannot broadcast to ${fmtShape(outShape)}`);
    return di === 1 ? 0 : inStrides[i - lead]!;
  });
  return mapIndices(outShape, strides);
}

/** offsets[i] = Σ_axis coordinate_axis(i) · strides[axis] for every i in row-major order of `shape`. */
export function mapIndices(shape: Shape, strides: readonly number[]): Int32Array {
  const n = sizeOf(shape);
  const out = new Int32Array(n);
  const rank = shape.length;
  const coord = new Array<number>(rank).fill(0);
  let offset = 0;
  for (let i = 0; i < n; i++) {
    out[i] = offset;
    // Odometer increment of the coordinate, updating the offset incrementally.
    for (let ax = rank - 1; ax >= 0; ax--) {
      coord[ax]!++;
      offset += strides[ax]!;
      if (coord[ax]! < shape[ax]!) break;
      offset -= strides[ax]! * shape[ax]!;
      coord[ax] = 0;
    }
  }
  return out;
}

/** Split `shape` around `axis` into [outer, shape[axis], inner]. */
export function aroundAxis(shape: Shape, axis: number): [number, number, number] {
  const outer = sizeOf(shape.slice(0, axis));
  const inner = sizeOf(shape.slice(axis + 1));
  return [outer, shape[axis]!, inner];
}

export { sizeOf, stridesOf };
