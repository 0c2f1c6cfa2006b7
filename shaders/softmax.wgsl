// softmax / log-softmax over the rows of [rows, cols]. A workgroup holds RPW rows of TPR
// invocations each (TPR a power of two ≥ cols up to 256, so short rows do not idle a whole
// workgroup). Three sweeps over the row: max (tree), Σ exp(x − max) (tree), write.
// LOG 1 gives x − max − log Σ; a row of −∞ gives NaN, as PyTorch.

override TPR: u32 = 64u;
override RPW: u32 = 1u;
override LOG: u32 = 0u;
override WGS: u32 = TPR * RPW;

struct Softmax {
  rows: u32,
  cols: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Softmax;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> red: array<f32, WGS>;

// Tree over the TPR invocations of one row segment; every invocation gets the result.
fn row_reduce(li: u32, lane: u32, v: f32, is_max: bool) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = TPR >> 1u; s > 0u; s = s >> 1u) {
    if (lane < s) {
      let a = red[li];
      let b = red[li + s];
      red[li] = select(a + b, max_nan(a, b), is_max);
    }
    workgroupBarrier();
  }
  let r = red[li - lane];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WGS)
fn softmax(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>,
           @builtin(num_workgroups) nwg: vec3<u32>) {
  let lane = li % TPR;
  let row = flat_group(wid, nwg) * RPW + li / TPR;
  let live = row < p.rows;
  let base = row * p.cols;
  var m = neg_inf();
  if (live) {
    for (var c = lane; c < p.cols; c += TPR) {
      m = max_nan(m, x[base + c]);
    }
  }
  m = row_reduce(li, lane, m, true);
  var s = 0.0;
  if (live) {
    for (var c = lane; c < p.cols; c += TPR) {
      s += exp(x[base + c] - m);
    }
  }
  s = row_reduce(li, lane, s, false);
  if (!live) {
    return;
  }
  if (is_nan(m)) {
    // A NaN in the row makes the whole row NaN (exp(NaN) is not NaN everywhere).
    for (var c = lane; c < p.cols; c += TPR) {
      out[base + c] = m;
    }
    return;
  }
  if (LOG == 1u) {
    let ls = log_precise(s);
    for (var c = lane; c < p.cols; c += TPR) {
      out[base + c] = x[base + c] - m - ls;
    }
  } else {
    let inv = 1.0 / s;
    for (var c = lane; c < p.cols; c += TPR) {
      out[base + c] = exp(x[base + c] - m) * inv;
    }
  }
}
