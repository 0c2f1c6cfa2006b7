// Reductions over the middle axis of [outer, n, inner], as a tree in workgroup memory.
//
// The outputs form outer·inner "columns" (column q is o = q / inner, c = q % inner). A
// workgroup is COLS adjacent columns × LANES lanes: each lane strides down the n axis keeping
// its own partial, then the LANES partials of a column are folded pairwise in workgroup memory
// (log2 LANES steps). Adjacent columns are adjacent in memory when inner is large (coalesced
// loads); for a short axis with inner = 1, one workgroup serves many rows instead of idling.
// For a long axis with few workgroups the host splits n into `chunks` ranges (one workgroup
// each), writing [outer, chunks, inner] partials that a second pass reduces: no atomics, so
// sums are deterministic.
//
// reduce:     OP 0 sum, 1 max, 2 min (max / min propagate NaN, as torch.amax).
// arg_reduce: OP 0 argmax, 1 argmin: index of the first extreme; NaN counts as the extreme,
//             as torch.argmax.

override COLS: u32 = 1u;
override LANES: u32 = 256u;
override OP: u32 = 0u;
override WGS: u32 = COLS * LANES;

struct Reduce {
  outer: u32,
  n: u32,
  inner: u32,
  chunk_len: u32,
  chunks: u32,
  col_tiles: u32,
  lanes: u32,   // reduce_direct: the LANES whose summation order it reproduces
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Reduce;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> out_idx: array<i32>;

var<workgroup> vals: array<f32, WGS>;
var<workgroup> idxs: array<u32, WGS>;

fn identity() -> f32 {
  switch OP {
    case 1u: { return neg_inf(); }
    case 2u: { return pos_inf(); }
    default: { return 0.0; }
  }
}

fn combine(a: f32, b: f32) -> f32 {
  switch OP {
    case 1u: { return max_nan(a, b); }
    case 2u: { return min_nan(a, b); }
    default: { return a + b; }
  }
}

struct Tile {
  live: bool,
  lane: u32,
  o: u32,
  col: u32,
  chunk: u32,
  r0: u32,
  r1: u32,
}

fn tile_of(li: u32, group: u32) -> Tile {
  var t: Tile;
  let q = (group % p.col_tiles) * COLS + li % COLS;
  t.live = q < p.outer * p.inner;
  t.o = q / p.inner;
  t.col = q % p.inner;
  t.lane = li / COLS;
  t.chunk = group / p.col_tiles;
  t.r0 = t.chunk * p.chunk_len;
  t.r1 = min(p.n, t.r0 + p.chunk_len);
  return t;
}

fn out_index(t: Tile) -> u32 {
  return (t.o * p.chunks + t.chunk) * p.inner + t.col;
}

@compute @workgroup_size(WGS)
fn reduce(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>) {
  // Leaving before any barrier is fine: the test is uniform over the workgroup.
  let group = flat_group(wid, nwg);
  if (group >= p.chunks * p.col_tiles) {
    return;
  }
  let t = tile_of(li, group);
  var acc = identity();
  if (t.live) {
    for (var r = t.r0 + t.lane; r < t.r1; r += LANES) {
      acc = combine(acc, x[(t.o * p.n + r) * p.inner + t.col]);
    }
  }
  vals[li] = acc;
  workgroupBarrier();
  for (var s = LANES >> 1u; s > 0u; s = s >> 1u) {
    if (t.lane < s) {
      vals[li] = combine(vals[li], vals[li + s * COLS]);
    }
    workgroupBarrier();
  }
  if (t.lane == 0u && t.live) {
    out[out_index(t)] = vals[li];
  }
}

// reduce without workgroup memory, for CPU-emulated devices (see gemm_direct in gemm.wgsl): one
// invocation per output column and chunk, combining in exactly the order `reduce` does with
// LANES = p.lanes, so the same bits. Lane l's partial strides down n as there; the tree, where
// lane l takes in lane l + s for s = LANES/2 … 1, is a pairwise merge of the lanes taken in
// bit-reversed order (lanes 0, 4, 2, 6, 1, 5, 3, 7 for 8), each partial merged into the one
// before it as a binary counter carries: a stack of log2 LANES + 1 partials.
@compute @workgroup_size(64)
fn reduce_direct(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, 64u);
  let cols = p.outer * p.inner;
  if (i >= p.chunks * cols) {
    return;
  }
  let q = i % cols;
  let chunk = i / cols;
  let o = q / p.inner;
  let col = q % p.inner;
  let r0 = chunk * p.chunk_len;
  let r1 = min(p.n, r0 + p.chunk_len);
  let lanes = p.lanes;
  let bits = countTrailingZeros(lanes);
  var stack: array<f32, 9>;
  var top = 0u;
  for (var j = 0u; j < lanes; j++) {
    let lane = (reverseBits(j) >> (31u - bits)) >> 1u;
    var acc = identity();
    for (var r = r0 + lane; r < r1; r += lanes) {
      acc = combine(acc, x[(o * p.n + r) * p.inner + col]);
    }
    stack[top] = acc;
    top++;
    for (var k = j + 1u; (k & 1u) == 0u; k = k >> 1u) {
      top--;
      stack[top - 1u] = combine(stack[top - 1u], stack[top]);
    }
  }
  out[(o * p.chunks + chunk) * p.inner + col] = stack[0];
}

// Whether candidate (bv, bi) beats (av, ai): a strictly better value, NaN over a number, or an
// equal value (or both NaN) at a lower index.
fn better(av: f32, ai: u32, bv: f32, bi: u32) -> bool {
  let an = is_nan(av);
  let bn = is_nan(bv);
  if (an || bn) {
    return bn && (!an || bi < ai);
  }
  if (bv == av) {
    return bi < ai;
  }
  return select(bv > av, bv < av, OP == 1u);
}

@compute @workgroup_size(WGS)
fn arg_reduce(@builtin(local_invocation_index) li: u32, @builtin(workgroup_id) wid: vec3<u32>,
              @builtin(num_workgroups) nwg: vec3<u32>) {
  // Leaving before any barrier is fine: the test is uniform over the workgroup.
  let group = flat_group(wid, nwg);
  if (group >= p.chunks * p.col_tiles) {
    return;
  }
  let t = tile_of(li, group);
  var best = select(neg_inf(), pos_inf(), OP == 1u);
  var best_i = 0xffffffffu;
  if (t.live) {
    for (var r = t.r0 + t.lane; r < t.r1; r += LANES) {
      let v = x[(t.o * p.n + r) * p.inner + t.col];
      if (better(best, best_i, v, r)) {
        best = v;
        best_i = r;
      }
    }
  }
  vals[li] = best;
  idxs[li] = best_i;
  workgroupBarrier();
  for (var s = LANES >> 1u; s > 0u; s = s >> 1u) {
    if (t.lane < s && better(vals[li], idxs[li], vals[li + s * COLS], idxs[li + s * COLS])) {
      vals[li] = vals[li + s * COLS];
      idxs[li] = idxs[li + s * COLS];
    }
    workgroupBarrier();
  }
  if (t.lane == 0u && t.live) {
    out_idx[out_index(t)] = i32(idxs[li]);
  }
}
