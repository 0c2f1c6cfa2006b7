// The JS allocator manages all memory above the module's static data.
export function heapBase(): usize {
  return (__heap_base + 63) & ~63;
}
