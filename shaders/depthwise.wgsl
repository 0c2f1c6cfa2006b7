// Depthwise convolution (groups = c_in, c_out = mult·c_in; PyTorch semantics: cross-correlation,
// zero padding, stride, dilation; x [N, c_in, H, W], w [c_out, 1, KH, KW]). The GEMM-based conv
// (conv.wgsl) would run one product per channel with M = 1 row; here each output is a direct sum
// over its kh·kw taps.
//
// depthwise_forward:     one invocation per output y[img, oc, oy, ox].
// depthwise_grad_input:  one invocation per dx[img, c, iy, ix], gathering the dy taps that reach
//                        it ((iy + pad − ky·dil) divisible by the stride, inside the output): each
//                        element written once, no atomics.
// depthwise_grad_filter: one workgroup per dw[oc, ky, kx]: its invocations stride over the
//                        N·OH·OW products, then fold their partials pairwise in workgroup memory
//                        (a fixed order, so the sum is deterministic; no float atomics).

override WG: u32 = 256u;

struct Depthwise {
  size: u32,   // forward: outputs; input gradient: inputs; filter gradient: filter elements (workgroups)
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
  mult: u32,
  has_bias: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Depthwise;
@group(0) @binding(1) var<storage, read> in0: array<f32>;   // x (forward, filter gradient) or dy (input gradient)
@group(0) @binding(2) var<storage, read> in1: array<f32>;   // w (forward, input gradient) or dy (filter gradient)
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn depthwise_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.size) {
    return;
  }
  let ox = i % p.out_w;
  let oy = (i / p.out_w) % p.out_h;
  let oc = (i / (p.out_w * p.out_h)) % p.c_out;
  let img = i / (p.out_w * p.out_h * p.c_out);
  let plane = (img * p.c_in + oc / p.mult) * p.h;
  var acc = 0.0;
  for (var ky = 0u; ky < p.kh; ky++) {
    let iy = i32(oy * p.stride_h + ky * p.dil_h) - i32(p.pad_h);
    if (iy < 0 || iy >= i32(p.h)) {
      continue;
    }
    let row = (plane + u32(iy)) * p.w;
    let wrow = (oc * p.kh + ky) * p.kw;
    for (var kx = 0u; kx < p.kw; kx++) {
      let ix = i32(ox * p.stride_w + kx * p.dil_w) - i32(p.pad_w);
      if (ix >= 0 && ix < i32(p.w)) {
        acc += in0[row + u32(ix)] * in1[wrow + kx];
      }
    }
  }
  if (p.has_bias != 0u) {
    acc += bias[oc];
  }
  out[i] = acc;
}

@compute @workgroup_size(WG)
fn depthwise_grad_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.size) {
    return;
  }
  let ix = i % p.w;
  let iy = (i / p.w) % p.h;
  let c = (i / (p.w * p.h)) % p.c_in;
  let img = i / (p.w * p.h * p.c_in);
  var acc = 0.0;
  for (var m = 0u; m < p.mult; m++) {
    let oc = c * p.mult + m;
    let plane = (img * p.c_out + oc) * p.out_h;
    for (var ky = 0u; ky < p.kh; ky++) {
      let ty = i32(iy + p.pad_h) - i32(ky * p.dil_h);
      if (ty < 0) {
        break;   // ty only falls as ky grows
      }
      let oy = u32(ty) / p.stride_h;
      if (oy * p.stride_h != u32(ty) || oy >= p.out_h) {
        continue;
      }
      let row = (plane + oy) * p.out_w;
      let wrow = (oc * p.kh + ky) * p.kw;
      for (var kx = 0u; kx < p.kw; kx++) {
        let tx = i32(ix + p.pad_w) - i32(kx * p.dil_w);
        if (tx < 0) {
          break;
        }
        let ox = u32(tx) / p.stride_w;
        if (ox * p.stride_w == u32(tx) && ox < p.out_w) {
          acc += in0[row + ox] * in1[wrow + kx];
        }
      }
    }
  }
  out[i] = acc;
}

@compute @workgroup_size(WG)
fn depthwise_grad_filter(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>,
                         @builtin(num_workgroups) nwg: vec3<u32>) {
  // Leaving before the barriers is fine: the test is uniform over the workgroup.
  let g = flat_group(wid, nwg);
  if (g >= p.size) {
    return;
  }
  let taps = p.kh * p.kw;
  let oc = g / taps;
  let ky = (g % taps) / p.kw;
  let kx = g % p.kw;
  let c = oc / p.mult;
  let plane = p.out_h * p.out_w;
  var acc = 0.0;
  for (var k = li; k < p.batch * plane; k += WG) {
    let img = k / plane;
    let q = k - img * plane;
    let oy = q / p.out_w;
    let ox = q - oy * p.out_w;
    let iy = i32(oy * p.stride_h + ky * p.dil_h) - i32(p.pad_h);
    let ix = i32(ox * p.stride_w + kx * p.dil_w) - i32(p.pad_w);
    if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
      acc += in1[(img * p.c_out + oc) * plane + q] * in0[((img * p.c_in + c) * p.h + u32(iy)) * p.w + u32(ix)];
    }
  }
  partial[li] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (li < s) {
      partial[li] += partial[li + s];
    }
    workgroupBarrier();
  }
  if (li == 0u) {
    out[g] = partial[0];
  }
}
