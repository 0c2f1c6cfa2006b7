// Batched matmul loaders for the GEMM core (gemm.wgsl). a is [batchA, m, k] ([batchA, k, m]
// with TRANS_A), b is [batchB, k, n] ([batchB, n, k] with TRANS_B); a batch stride of 0
// broadcasts an operand over the batch. Output [batch · splits, m, n].

override TRANS_A: bool = false;
override TRANS_B: bool = false;

struct Matmul {
  m: u32,
  n: u32,
  k: u32,
  k_chunk: u32,
  splits: u32,
  z0: u32,
  a_stride: u32,
  b_stride: u32,
}

@group(0) @binding(0) var<uniform> p: Matmul;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

fn load_a(z: u32, m: u32, k: u32) -> f32 {
  let base = (z / p.splits) * p.a_stride;
  if (TRANS_A) {
    return a[base + k * p.m + m];
  }
  return a[base + m * p.k + k];
}

fn load_b(z: u32, k: u32, n: u32) -> f32 {
  let base = (z / p.splits) * p.b_stride;
  if (TRANS_B) {
    return b[base + n * p.k + k];
  }
  return b[base + k * p.n + n];
}

fn store(z: u32, m: u32, n: u32, v: f32) {
  c[(z * p.m + m) * p.n + n] = v;
}
