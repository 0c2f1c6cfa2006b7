// Tiled GEMM core shared by matmul.wgsl and conv.wgsl (which is how conv2d and its two
// gradients become implicit GEMMs: their loaders compute im2col addresses on the fly).
//
// The including module supplies the uniform `p` (fields m, n, k, k_chunk, splits, z0) and
//   fn load_a(z: u32, m: u32, k: u32) -> f32   A[z] is M×K
//   fn load_b(z: u32, k: u32, n: u32) -> f32   B[z] is K×N
//   fn store(z: u32, m: u32, n: u32, v: f32)    C[z] = A[z]·B[z] over k ∈ this split's range
// which are only called in range. z = batch · splits + split: with splits > 1 each split covers
// k_chunk of K and the host sums the partial products afterwards (split-K, deterministic).
//
// A workgroup computes a BM×BN tile of C, BM = TM·WY and BN = 4·TN4·WX. Invocation (tx, ty)
// owns rows ty + i·WY (i < TM) and the vec4 column groups tx + j·WX (j < TN4), accumulated as
// vec4: per k step, TN4 vec4 reads of B and TM broadcast reads of A from workgroup memory feed
// 4·TM·TN4 multiply-adds, and neighbours write neighbouring columns (coalesced). The host picks
// 64×64 tiles (TM 4, TN4 1), 16 on a short side; 128×128 (TM 8, TN4 2) is kept for tuning.
// TK-deep slices of A and B are staged in workgroup memory, loaded with consecutive
// invocations on the operand's contiguous axis (A_K_FAST, B_N_FAST).

override WX: u32 = 16u;
override WY: u32 = 16u;
override TK: u32 = 16u;
override TM: u32 = 4u;    // ≤ 8
override TN4: u32 = 1u;   // ≤ 2
override A_K_FAST: bool = true;
override B_N_FAST: bool = true;
override BM: u32 = WY * TM;
override BN: u32 = WX * TN4 * 4u;

// Rows are padded by one element (one vec4 for B): loading A along k writes a column of
// tile_a, and without the pad every invocation of a warp would hit the same memory bank.
override SA: u32 = BM + 1u;
override SB: u32 = WX * TN4 + 1u;
var<workgroup> tile_a: array<f32, TK * SA>;          // [kk][m]
var<workgroup> tile_b: array<vec4<f32>, TK * SB>;    // [kk][n / 4]

@compute @workgroup_size(WX, WY)
fn gemm(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(workgroup_id) wid: vec3<u32>) {
  let z = wid.z + p.z0;
  let split = z % p.splits;
  let k0 = split * p.k_chunk;
  let k1 = min(p.k, k0 + p.k_chunk);
  let m0 = wid.y * BM;
  let n0 = wid.x * BN;
  let threads = WX * WY;
  var acc: array<vec4<f32>, 16>;   // [i · 2 + j]
  for (var kt = k0; kt < k1; kt += TK) {
    for (var e = li; e < TK * BM; e += threads) {
      var mm = e / TK;
      var kk = e % TK;
      if (!A_K_FAST) {
        kk = e / BM;
        mm = e % BM;
      }
      let gm = m0 + mm;
      let gk = kt + kk;
      var v = 0.0;
      if (gm < p.m && gk < k1) {
        v = load_a(z, gm, gk);
      }
      tile_a[kk * SA + mm] = v;
    }
    for (var e = li; e < TK * BN; e += threads) {
      var kk = e / BN;
      var nn = e % BN;
      if (!B_N_FAST) {
        nn = e / TK;
        kk = e % TK;
      }
      let gn = n0 + nn;
      let gk = kt + kk;
      var v = 0.0;
      if (gn < p.n && gk < k1) {
        v = load_b(z, gk, gn);
      }
      tile_b[kk * SB + nn / 4u][nn % 4u] = v;
    }
    workgroupBarrier();
    let kn = min(TK, k1 - kt);
    for (var kk = 0u; kk < kn; kk++) {
      var bv: array<vec4<f32>, 2>;
      for (var j = 0u; j < TN4; j++) {
        bv[j] = tile_b[kk * SB + lid.x + j * WX];
      }
      for (var i = 0u; i < TM; i++) {
        let av = tile_a[kk * SA + lid.y + i * WY];
        for (var j = 0u; j < TN4; j++) {
          acc[i * 2u + j] += av * bv[j];
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let gm = m0 + lid.y + i * WY;
    for (var j = 0u; j < TN4; j++) {
      let gn = n0 + (lid.x + j * WX) * 4u;
      for (var c = 0u; c < 4u; c++) {
        if (gm < p.m && gn + c < p.n) {
          store(z, gm, gn + c, acc[i * 2u + j][c]);
        }
      }
    }
  }
}

fn store_row(z: u32, m: u32, n0: u32, cols: u32, v: vec4<f32>) {
  store(z, m, n0, v.x);
  if (cols > 1u) {
    store(z, m, n0 + 1u, v.y);
  }
  if (cols > 2u) {
    store(z, m, n0 + 2u, v.z);
  }
  if (cols > 3u) {
    store(z, m, n0 + 3u, v.w);
  }
}

// The same product without workgroup memory, for CPU-emulated GPUs (SwiftShader and the like,
// ContextOptions.cpuEmulated). There a pipeline's compile time grows with its workgroup arrays,
// about 1 ms per element (the tiled kernel: 1.3 s at 64×64 tiles, this one 0.1 s), and the
// dynamically indexed accumulators above run 3–4× slower than registers; the CPU's caches do
// what the staged tiles do on a GPU. Invocation (x, y) owns rows 8y … 8y + 7 and columns
// 4x … 4x + 3 of the output (64×32 per workgroup: on SwiftShader 8 rows ran 1.3× faster than 4,
// 2 rows 2× slower, 16 no faster for matmul and twice as slow to compile) and adds, for each k
// of its split in order, the same products as `gemm`: on SwiftShader both give the same bits.
@compute @workgroup_size(8, 8)
fn gemm_direct(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let z = wid.z + p.z0;
  let split = z % p.splits;
  let k0 = split * p.k_chunk;
  let k1 = min(p.k, k0 + p.k_chunk);
  let m0 = gid.y * 8u;
  let n0 = gid.x * 4u;
  if (m0 >= p.m || n0 >= p.n) {
    return;
  }
  let rows = min(8u, p.m - m0);
  let cols = min(4u, p.n - n0);
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var acc4 = vec4<f32>(0.0);
  var acc5 = vec4<f32>(0.0);
  var acc6 = vec4<f32>(0.0);
  var acc7 = vec4<f32>(0.0);
  for (var kk = k0; kk < k1; kk++) {
    var bv = vec4<f32>(load_b(z, kk, n0), 0.0, 0.0, 0.0);
    if (cols > 1u) {
      bv.y = load_b(z, kk, n0 + 1u);
    }
    if (cols > 2u) {
      bv.z = load_b(z, kk, n0 + 2u);
    }
    if (cols > 3u) {
      bv.w = load_b(z, kk, n0 + 3u);
    }
    acc0 += load_a(z, m0, kk) * bv;
    if (rows > 1u) {
      acc1 += load_a(z, m0 + 1u, kk) * bv;
    }
    if (rows > 2u) {
      acc2 += load_a(z, m0 + 2u, kk) * bv;
    }
    if (rows > 3u) {
      acc3 += load_a(z, m0 + 3u, kk) * bv;
    }
    if (rows > 4u) {
      acc4 += load_a(z, m0 + 4u, kk) * bv;
    }
    if (rows > 5u) {
      acc5 += load_a(z, m0 + 5u, kk) * bv;
    }
    if (rows > 6u) {
      acc6 += load_a(z, m0 + 6u, kk) * bv;
    }
    if (rows > 7u) {
      acc7 += load_a(z, m0 + 7u, kk) * bv;
    }
  }
  store_row(z, m0, n0, cols, acc0);
  if (rows > 1u) {
    store_row(z, m0 + 1u, n0, cols, acc1);
  }
  if (rows > 2u) {
    store_row(z, m0 + 2u, n0, cols, acc2);
  }
  if (rows > 3u) {
    store_row(z, m0 + 3u, n0, cols, acc3);
  }
  if (rows > 4u) {
    store_row(z, m0 + 4u, n0, cols, acc4);
  }
  if (rows > 5u) {
    store_row(z, m0 + 5u, n0, cols, acc5);
  }
  if (rows > 6u) {
    store_row(z, m0 + 6u, n0, cols, acc6);
  }
  if (rows > 7u) {
    store_row(z, m0 + 7u, n0, cols, acc7);
  }
}
