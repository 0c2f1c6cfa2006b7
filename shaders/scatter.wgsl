// index_add into zeros without float atomics, so that results are deterministic run to run:
// the indices are grouped by target row into a CSR list (integer atomics only decide the slot
// order, which scatter_order then sorts away), and each output element sums its own sources in
// ascending source order.
//
//   scatter_count  counts[t] += 1 for each valid index t            (counts zeroed by the host)
//   scatter_scan   starts = exclusive prefix sum of counts, cursor = 0 (one workgroup)
//   scatter_fill   list[starts[t] + k] = j, k from an atomic cursor  (arbitrary order in a row)
//   scatter_order  sorted[starts[t] + rank of j among its row] = j    (stable, deterministic)
//   scatter_sum    out[o, t, i] = Σ src[o, j, i] over sorted j of row t
// Sorting by rank costs O(Σ row²) comparisons over n_index parallel invocations.

override WG: u32 = 256u;

struct Scatter {
  n_index: u32,
  axis_out: u32,
  inner: u32,
  size: u32,   // outer · axis_out · inner, for scatter_sum
}

@group(0) @binding(0) var<uniform> p: Scatter;
@group(0) @binding(1) var<storage, read> indices: array<i32>;
@group(0) @binding(1) var<storage, read> counts_in: array<u32>;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(2) var<storage, read_write> starts_out: array<u32>;
@group(0) @binding(2) var<storage, read> starts: array<u32>;
@group(0) @binding(3) var<storage, read_write> cursor_zero: array<u32>;
@group(0) @binding(3) var<storage, read_write> cursor: array<atomic<u32>>;
@group(0) @binding(3) var<storage, read> list_in: array<u32>;
@group(0) @binding(4) var<storage, read_write> list: array<u32>;
@group(0) @binding(4) var<storage, read_write> sorted: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn target_of(j: u32) -> u32 {
  let t = indices[j];
  return select(0xffffffffu, u32(t), t >= 0 && u32(t) < p.axis_out);
}

@compute @workgroup_size(WG)
fn scatter_count(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = flat_index(gid, nwg, WG);
  if (j >= p.n_index) {
    return;
  }
  let t = target_of(j);
  if (t != 0xffffffffu) {
    atomicAdd(&counts[t], 1u);
  }
}

var<workgroup> partial: array<u32, 256>;

@compute @workgroup_size(256)
fn scatter_scan(@builtin(local_invocation_index) li: u32) {
  let n = p.axis_out;
  let per = (n + 255u) / 256u;
  let b = min(n, li * per);
  let e = min(n, b + per);
  var s = 0u;
  for (var t = b; t < e; t++) {
    s += counts_in[t];
    cursor_zero[t] = 0u;
  }
  partial[li] = s;
  workgroupBarrier();
  // Hillis–Steele inclusive scan of the 256 chunk sums.
  for (var off = 1u; off < 256u; off = off << 1u) {
    var v = 0u;
    if (li >= off) {
      v = partial[li - off];
    }
    workgroupBarrier();
    partial[li] += v;
    workgroupBarrier();
  }
  var run = 0u;
  if (li > 0u) {
    run = partial[li - 1u];
  }
  for (var t = b; t < e; t++) {
    starts_out[t] = run;
    run += counts_in[t];
  }
  if (li == 255u) {
    starts_out[n] = partial[255u];
  }
}

@compute @workgroup_size(WG)
fn scatter_fill(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = flat_index(gid, nwg, WG);
  if (j >= p.n_index) {
    return;
  }
  let t = target_of(j);
  if (t != 0xffffffffu) {
    list[starts[t] + atomicAdd(&cursor[t], 1u)] = j;
  }
}

@compute @workgroup_size(WG)
fn scatter_order(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s = flat_index(gid, nwg, WG);
  if (s >= starts[p.axis_out]) {
    return;
  }
  let j = list_in[s];
  let t = target_of(j);
  let b = starts[t];
  let e = starts[t + 1u];
  var rank = 0u;
  for (var q = b; q < e; q++) {
    rank += select(0u, 1u, list_in[q] < j);
  }
  sorted[b + rank] = j;
}

@compute @workgroup_size(WG)
fn scatter_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.size) {
    return;
  }
  let inner_i = i % p.inner;
  let row = i / p.inner;
  let t = row % p.axis_out;
  let o = row / p.axis_out;
  var acc = 0.0;
  for (var q = starts[t]; q < starts[t + 1u]; q++) {
    acc += src[(o * p.n_index + list_in[q]) * p.inner + inner_i];
  }
  out[i] = acc;
}
