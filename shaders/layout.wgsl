// Layout kernels on raw 32-bit words (float32 and int32 move alike).
//
// copy_gather:  out[i] = src[base + Σ c_d·stride_d], (c_d) the coordinates of i in `dims`
//               — transpose (permuted strides) and slice (base = offset of `begin`);
// copy_scatter: out[base + Σ c_d·stride_d] = src[i] — concat (each input placed in its
//               slab of the output) and pad (after a zero fill);
// transpose_tiled: [batch, rows, cols] → [batch, cols, rows] through a 32×32 workgroup tile,
//               so that both the read and the write are coalesced;
// gather_rows:  index_select over the middle axis of [outer, n, inner].
// The host merges contiguous dims first, so ranks here are small (≤ 12).

override WG: u32 = 256u;

struct Strided {
  size: u32,
  rank: u32,
  base: u32,
  _pad: u32,
  dims: array<vec4<u32>, 3>,
  strides: array<vec4<u32>, 3>,
}

struct Tiled {
  rows: u32,
  cols: u32,
  _pad0: u32,
  _pad1: u32,
}

struct Gather {
  size: u32,
  n: u32,
  n_index: u32,
  inner: u32,
}

@group(0) @binding(0) var<uniform> st: Strided;
@group(0) @binding(0) var<uniform> tl: Tiled;
@group(0) @binding(0) var<uniform> ga: Gather;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<storage, read> indices: array<i32>;
@group(0) @binding(3) var<storage, read_write> dst3: array<u32>;

fn strided_offset(i: u32) -> u32 {
  var rem = i;
  var off = st.base;
  for (var k = st.rank - 1u; k > 0u; k--) {
    let n = st.dims[k >> 2u][k & 3u];
    let c = rem % n;
    rem = rem / n;
    off += c * st.strides[k >> 2u][k & 3u];
  }
  // The outermost dim needs no division: i < size leaves rem < dims[0].
  return off + rem * st.strides[0].x;
}

@compute @workgroup_size(WG)
fn copy_gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= st.size) {
    return;
  }
  dst[i] = src[strided_offset(i)];
}

@compute @workgroup_size(WG)
fn copy_scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= st.size) {
    return;
  }
  dst[strided_offset(i)] = src[i];
}

// 32 × 33: the extra column puts a tile column in distinct banks for the transposed read.
var<workgroup> tile: array<u32, 1056>;

@compute @workgroup_size(32, 8)
fn transpose_tiled(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let batch = wid.z;
  let r0 = wid.y * 32u;
  let c0 = wid.x * 32u;
  let plane = tl.rows * tl.cols;
  for (var j = 0u; j < 32u; j += 8u) {
    let r = r0 + lid.y + j;
    let c = c0 + lid.x;
    if (r < tl.rows && c < tl.cols) {
      tile[(lid.y + j) * 33u + lid.x] = src[batch * plane + r * tl.cols + c];
    }
  }
  workgroupBarrier();
  for (var j = 0u; j < 32u; j += 8u) {
    let c = c0 + lid.y + j;
    let r = r0 + lid.x;
    if (c < tl.cols && r < tl.rows) {
      dst[batch * plane + c * tl.rows + r] = tile[lid.x * 33u + lid.y + j];
    }
  }
}

// out[o, j, i] = x[o, indices[j], i]; an index out of range (unchecked on an async backend)
// reads as zero rather than as whatever lies there.
@compute @workgroup_size(WG)
fn gather_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= ga.size) {
    return;
  }
  let inner_i = i % ga.inner;
  let row = i / ga.inner;
  let j = row % ga.n_index;
  let o = row / ga.n_index;
  let t = indices[j];
  var v = 0u;
  if (t >= 0 && u32(t) < ga.n) {
    v = src[(o * ga.n + u32(t)) * ga.inner + inner_i];
  }
  dst3[i] = v;
}
