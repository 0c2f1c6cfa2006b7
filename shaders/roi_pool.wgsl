// roi_pool forward (with argmax) and backward, torchvision 0.14 semantics: box corners rounded
// half away from zero (C's round, not WGSL's round-half-even), ROI size at least 1×1, bin
// [floor(p·bin), ceil((p+1)·bin)) clipped to the map; an empty bin gives 0 with argmax −1.
// Backward as a gather: each input element visits the ROIs of its image and the bins that
// contain it, and sums dy where the bin's argmax is this pixel (deterministic, no atomics).

override WG: u32 = 256u;

struct Roi {
  size: u32,
  c: u32,
  h: u32,
  w: u32,
  k: u32,
  pooled_h: u32,
  pooled_w: u32,
  batch: u32,
  scale: f32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Roi;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> rois: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> argmax_in: array<i32>;
@group(0) @binding(4) var<storage, read_write> argmax: array<i32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

fn round_away(v: f32) -> f32 {
  let a = abs(v);
  let f = floor(a);
  let r = select(f, f + 1.0, a - f >= 0.5);
  return select(r, -r, v < 0.0);
}

struct Geom {
  batch: i32,
  start_h: i32,
  start_w: i32,
  bin_h: f32,
  bin_w: f32,
}

fn geom(k: u32) -> Geom {
  var g: Geom;
  let r = k * 5u;
  g.batch = i32(rois[r]);
  g.start_w = i32(round_away(rois[r + 1u] * p.scale));
  g.start_h = i32(round_away(rois[r + 2u] * p.scale));
  let end_w = i32(round_away(rois[r + 3u] * p.scale));
  let end_h = i32(round_away(rois[r + 4u] * p.scale));
  // Bin edges are floors / ceils of multiples of these: divide exactly (see div_exact).
  g.bin_h = div_exact(f32(max(end_h - g.start_h + 1, 1)), p.pooled_h);
  g.bin_w = div_exact(f32(max(end_w - g.start_w + 1, 1)), p.pooled_w);
  return g;
}

// [start, end) of bin `b` along one axis, clipped to [0, size].
fn bin_range(b: u32, bin: f32, start: i32, size: u32) -> vec2<i32> {
  let s = i32(floor(f32(b) * bin)) + start;
  let e = i32(ceil(f32(b + 1u) * bin)) + start;
  return vec2<i32>(clamp(s, 0, i32(size)), clamp(e, 0, i32(size)));
}

@compute @workgroup_size(WG)
fn roi_pool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.size) {
    return;
  }
  let pw = i % p.pooled_w;
  let ph = (i / p.pooled_w) % p.pooled_h;
  let c = (i / (p.pooled_w * p.pooled_h)) % p.c;
  let k = i / (p.pooled_w * p.pooled_h * p.c);
  let g = geom(k);
  if (g.batch < 0 || u32(g.batch) >= p.batch) {
    out[i] = 0.0;
    argmax[i] = -1;
    return;
  }
  let ry = bin_range(ph, g.bin_h, g.start_h, p.h);
  let rx = bin_range(pw, g.bin_w, g.start_w, p.w);
  let empty = ry.y <= ry.x || rx.y <= rx.x;
  var best = select(bitcast<f32>(0xff7fffffu), 0.0, empty);  // −FLT_MAX
  var best_i = -1;
  let base = (u32(g.batch) * p.c + c) * p.h * p.w;
  for (var yy = ry.x; yy < ry.y; yy++) {
    for (var xx = rx.x; xx < rx.y; xx++) {
      let idx = yy * i32(p.w) + xx;
      let v = x[base + u32(idx)];
      if (v > best) {
        best = v;
        best_i = idx;
      }
    }
  }
  out[i] = best;
  argmax[i] = best_i;
}

@compute @workgroup_size(WG)
fn roi_pool_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.size) {
    return;
  }
  let ix = i32(i % p.w);
  let iy = i32((i / p.w) % p.h);
  let c = (i / (p.w * p.h)) % p.c;
  let img = i32(i / (p.w * p.h * p.c));
  let me = iy * i32(p.w) + ix;
  var acc = 0.0;
  for (var k = 0u; k < p.k; k++) {
    let g = geom(k);
    if (g.batch != img) {
      continue;
    }
    let obase = (k * p.c + c) * p.pooled_h * p.pooled_w;
    for (var ph = 0u; ph < p.pooled_h; ph++) {
      let ry = bin_range(ph, g.bin_h, g.start_h, p.h);
      if (iy < ry.x || iy >= ry.y) {
        continue;
      }
      for (var pw = 0u; pw < p.pooled_w; pw++) {
        let rx = bin_range(pw, g.bin_w, g.start_w, p.w);
        if (ix < rx.x || ix >= rx.y) {
          continue;
        }
        let o = obase + ph * p.pooled_w + pw;
        if (argmax_in[o] == me) {
          acc += dy[o];
        }
      }
    }
  }
  dx[i] = acc;
}
