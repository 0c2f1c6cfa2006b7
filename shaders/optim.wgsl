// The optimiser's update, fused: one invocation per element of a parameter does what five or
// six elementwise dispatches would (torch.optim.SGD; src/engine/backend.ts sgdUpdate says the
// formula). FLAGS is an override constant, so each combination gets a pipeline with its
// branches folded away: 1 a momentum buffer from the previous step is bound, 2 momentum,
// 4 Nesterov, 8 weight decay, 16 the gradient is scaled by scale_in[0] (clipping).

override WG: u32 = 256u;
override FLAGS: u32 = 0u;

struct SgdScalars {
  size: u32,
  lr: f32,
  momentum: f32,
  weight_decay: f32,
}

@group(0) @binding(0) var<uniform> sgd: SgdScalars;
@group(0) @binding(1) var<storage, read> param_in: array<f32>;
@group(0) @binding(2) var<storage, read> grad_in: array<f32>;
// The scale (the gradient again when FLAGS has no 16, unread).
@group(0) @binding(3) var<storage, read> scale_in: array<f32>;
// Without momentum: the new parameter. With momentum: the previous buffer (the gradient again
// at the first step, unread).
@group(0) @binding(4) var<storage, read_write> param_out: array<f32>;
@group(0) @binding(4) var<storage, read> buf_in: array<f32>;
@group(0) @binding(5) var<storage, read_write> param_out_m: array<f32>;
@group(0) @binding(6) var<storage, read_write> buf_out: array<f32>;

fn direction(i: u32) -> f32 {
  var g = grad_in[i];
  if ((FLAGS & 16u) != 0u) {
    g = g * scale_in[0];
  }
  if ((FLAGS & 8u) != 0u) {
    return g + param_in[i] * sgd.weight_decay;
  }
  return g;
}

@compute @workgroup_size(WG)
fn sgd_plain(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= sgd.size) {
    return;
  }
  param_out[i] = param_in[i] - direction(i) * sgd.lr;
}

@compute @workgroup_size(WG)
fn sgd_momentum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= sgd.size) {
    return;
  }
  var d = direction(i);
  var b = d;
  if ((FLAGS & 1u) != 0u) {
    b = buf_in[i] * sgd.momentum + d;
  }
  buf_out[i] = b;
  if ((FLAGS & 4u) != 0u) {
    d = d + b * sgd.momentum;
  } else {
    d = b;
  }
  param_out_m[i] = param_in[i] - d * sgd.lr;
}
