// conv2d and its gradients as implicit GEMMs on the core in gemm.wgsl (PyTorch semantics:
// cross-correlation, zero padding, stride, dilation, groups; x [N, Cin, H, W], w [Cout,
// Cin/groups, KH, KW]). g is the group; per group:
//
// MODE 0 forward:     out[img, co, oy, ox]  M = Cout/g, K = (Cin/g)·KH·KW, N = N·OH·OW
//                     A = w rows, B = im2col(x), bias added on store
// MODE 1 input grad:  dx[img, ci, iy, ix]   M = Cin/g, K = (Cout/g)·KH·KW, N = N·H·W
//                     A = wᵀ, B = dy taps that reach (iy, ix): (iy + pad − ky·dil) divisible by
//                     the stride and inside the output; a gather, so no atomics
// MODE 2 filter grad: dw[co, ci, ky, kx]   M = Cout/g, K = N·OH·OW, N = (Cin/g)·KH·KW
//                     A = dy, B = im2colᵀ(x); z = g · splits + split, split-K partials
//                     [g, splits, M, N] summed by the host

override MODE: u32 = 0u;
override HAS_BIAS: bool = false;

struct Conv {
  m: u32,
  n: u32,
  k: u32,
  k_chunk: u32,
  splits: u32,
  z0: u32,
  batch: u32,
  c_in: u32,
  h: u32,
  w: u32,
  c_out: u32,
  kh: u32,
  kw: u32,
  stride_h: u32,
  stride_w: u32,
  pad_h: u32,
  pad_w: u32,
  dil_h: u32,
  dil_w: u32,
  out_h: u32,
  out_w: u32,
  cpg: u32,    // input channels per group
  copg: u32,   // output channels per group
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Conv;
@group(0) @binding(1) var<storage, read> in0: array<f32>;   // x (0, 2) or dy (1)
@group(0) @binding(2) var<storage, read> in1: array<f32>;   // w (0, 1) or dy (2)
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// x[img, g·cpg + ci, oy·s − pad + ky·dil, …] or 0 in the padding.
fn x_tap(g: u32, img: u32, ci: u32, ky: u32, kx: u32, oy: u32, ox: u32) -> f32 {
  let iy = i32(oy * p.stride_h + ky * p.dil_h) - i32(p.pad_h);
  let ix = i32(ox * p.stride_w + kx * p.dil_w) - i32(p.pad_w);
  if (iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w)) {
    return 0.0;
  }
  return in0[((img * p.c_in + g * p.cpg + ci) * p.h + u32(iy)) * p.w + u32(ix)];
}

fn load_a(z: u32, m: u32, k: u32) -> f32 {
  let taps = p.kh * p.kw;
  switch MODE {
    case 0u: {
      return in1[(z * p.copg + m) * p.k + k];
    }
    case 1u: {
      let co = k / taps;
      let r = k - co * taps;
      return in1[((z * p.copg + co) * p.cpg + m) * taps + r];
    }
    default: {
      let g = z / p.splits;
      let plane = p.out_h * p.out_w;
      let img = k / plane;
      let q = k - img * plane;
      return in1[(img * p.c_out + g * p.copg + m) * plane + q];
    }
  }
}

fn load_b(z: u32, k: u32, n: u32) -> f32 {
  let taps = p.kh * p.kw;
  switch MODE {
    case 0u: {
      let ci = k / taps;
      let r = k - ci * taps;
      let ky = r / p.kw;
      let plane = p.out_h * p.out_w;
      let img = n / plane;
      let q = n - img * plane;
      let oy = q / p.out_w;
      return x_tap(z, img, ci, ky, r - ky * p.kw, oy, q - oy * p.out_w);
    }
    case 1u: {
      let co = k / taps;
      let r = k - co * taps;
      let ky = r / p.kw;
      let kx = r - ky * p.kw;
      let plane = p.h * p.w;
      let img = n / plane;
      let q = n - img * plane;
      let iy = q / p.w;
      let ix = q - iy * p.w;
      let ty = i32(iy + p.pad_h) - i32(ky * p.dil_h);
      let tx = i32(ix + p.pad_w) - i32(kx * p.dil_w);
      if (ty < 0 || tx < 0) {
        return 0.0;
      }
      let oy = u32(ty) / p.stride_h;
      let ox = u32(tx) / p.stride_w;
      if (oy * p.stride_h != u32(ty) || ox * p.stride_w != u32(tx) || oy >= p.out_h || ox >= p.out_w) {
        return 0.0;
      }
      return in0[((img * p.c_out + z * p.copg + co) * p.out_h + oy) * p.out_w + ox];
    }
    default: {
      let g = z / p.splits;
      let ci = n / taps;
      let r = n - ci * taps;
      let ky = r / p.kw;
      let plane = p.out_h * p.out_w;
      let img = k / plane;
      let q = k - img * plane;
      let oy = q / p.out_w;
      return x_tap(g, img, ci, ky, r - ky * p.kw, oy, q - oy * p.out_w);
    }
  }
}

fn store(z: u32, m: u32, n: u32, v: f32) {
  switch MODE {
    case 0u: {
      let co = z * p.copg + m;
      let plane = p.out_h * p.out_w;
      let img = n / plane;
      var r = v;
      if (HAS_BIAS) {
        r += bias[co];
      }
      out[(img * p.c_out + co) * plane + n - img * plane] = r;
    }
    case 1u: {
      let plane = p.h * p.w;
      let img = n / plane;
      out[(img * p.c_in + z * p.cpg + m) * plane + n - img * plane] = v;
    }
    default: {
      out[(z * p.m + m) * p.n + n] = v;
    }
  }
}
