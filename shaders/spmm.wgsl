// Sparse (CSR) × dense: out[r, c] = Σ vals[j] · x[col_idx[j], c] over j ∈ [row_ptr[r], row_ptr[r+1]),
// summed in j order (src/engine/ops/sparse.ts sparseMatmul; the engine has checked the indices).
//
// One invocation per output element. A workgroup is a WX × WY tile: x over columns, y over rows,
// so for WX ≥ the subgroup width every subgroup walks one row's entries together (uniform loop,
// broadcast loads of row_ptr / col_idx / vals, contiguous loads of x). The tiles are numbered
// flat, column tile fastest, and the host splits that count over x and y of the dispatch when it
// exceeds 65535 (params.ts gridFor); flat_group undoes the split and the surplus returns.

override WX: u32 = 64u;
override WY: u32 = 4u;

struct Spmm {
  rows: u32,
  width: u32,
  // ceil(width / WX), and the tile count ceil(rows / WY) · col_tiles.
  col_tiles: u32,
  tiles: u32,
}

@group(0) @binding(0) var<uniform> sp: Spmm;
@group(0) @binding(1) var<storage, read> row_ptr: array<i32>;
@group(0) @binding(2) var<storage, read> col_idx: array<i32>;
@group(0) @binding(3) var<storage, read> vals: array<f32>;
@group(0) @binding(4) var<storage, read> dense: array<f32>;
@group(0) @binding(5) var<storage, read_write> spmm_out: array<f32>;

@compute @workgroup_size(WX, WY)
fn spmm(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_group(wid, nwg);
  if (t >= sp.tiles) {
    return;
  }
  let c = (t % sp.col_tiles) * WX + lid.x;
  let r = (t / sp.col_tiles) * WY + lid.y;
  if (c >= sp.width || r >= sp.rows) {
    return;
  }
  let end = u32(row_ptr[r + 1u]);
  var acc = 0.0;
  for (var j = u32(row_ptr[r]); j < end; j++) {
    acc += vals[j] * dense[u32(col_idx[j]) * sp.width + c];
  }
  spmm_out[r * sp.width + c] = acc;
}
