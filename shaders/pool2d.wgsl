// max_pool2d forward (with argmax) and backward, as PyTorch's CPU kernels: floor mode, implicit
// −∞ padding, argmax a flat index into the h×w plane, the last NaN (else the first maximum)
// wins, and a window of −∞ keeps the index of its first in-range element.
// The backward is a gather: an input pixel sums dy over the windows that contain it and chose
// it, in ascending window order (deterministic, no atomics).

override WG: u32 = 256u;

struct Pool {
  size: u32,   // forward: outputs; backward: inputs (n·c·h·w)
  h: u32,
  w: u32,
  kh: u32,
  kw: u32,
  stride_h: u32,
  stride_w: u32,
  pad_h: u32,
  pad_w: u32,
  out_h: u32,
  out_w: u32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Pool;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> argmax_in: array<i32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<i32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;

@compute @workgroup_size(WG)
fn max_pool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.size) {
    return;
  }
  let ox = i % p.out_w;
  let oy = (i / p.out_w) % p.out_h;
  let plane = i / (p.out_w * p.out_h);
  let hs = i32(oy * p.stride_h) - i32(p.pad_h);
  let ws = i32(ox * p.stride_w) - i32(p.pad_w);
  let he = min(hs + i32(p.kh), i32(p.h));
  let we = min(ws + i32(p.kw), i32(p.w));
  let h0 = max(hs, 0);
  let w0 = max(ws, 0);
  var best = neg_inf();
  var best_i = h0 * i32(p.w) + w0;
  let base = plane * p.h * p.w;
  for (var yy = h0; yy < he; yy++) {
    for (var xx = w0; xx < we; xx++) {
      let idx = yy * i32(p.w) + xx;
      let v = x[base + u32(idx)];
      if (v > best || is_nan(v)) {
        best = v;
        best_i = idx;
      }
    }
  }
  out[i] = best;
  argmax[i] = best_i;
}

@compute @workgroup_size(WG)
fn max_pool_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.size) {
    return;
  }
  let ix = i % p.w;
  let iy = (i / p.w) % p.h;
  let plane = i / (p.w * p.h);
  let me = i32(iy * p.w + ix);
  // Windows oy with oy·s − pad ≤ iy ≤ oy·s − pad + kh − 1.
  let ty = i32(iy + p.pad_h);
  let tx = i32(ix + p.pad_w);
  let oy0 = max(0, (ty - i32(p.kh) + i32(p.stride_h)) / i32(p.stride_h));
  let oy1 = min(i32(p.out_h) - 1, ty / i32(p.stride_h));
  let ox0 = max(0, (tx - i32(p.kw) + i32(p.stride_w)) / i32(p.stride_w));
  let ox1 = min(i32(p.out_w) - 1, tx / i32(p.stride_w));
  let base = plane * p.out_h * p.out_w;
  var acc = 0.0;
  for (var oy = oy0; oy <= oy1; oy++) {
    for (var ox = ox0; ox <= ox1; ox++) {
      let o = base + u32(oy) * p.out_w + u32(ox);
      if (argmax_in[o] == me) {
        acc += dy[o];
      }
    }
  }
  dx[i] = acc;
}
