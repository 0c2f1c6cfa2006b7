// roi_align forward and backward with torchvision 0.14 semantics (the same float expressions as
// its kernels, so sample positions agree bit for bit where the compiler allows): a bin averages
// grid_h × grid_w bilinear samples; a sample outside [−1, size] contributes 0 but still counts.
//
// Backward as a gather (deterministic, no float atomics; torchvision scatters with atomicAdd):
// each input element (img, c, iy, ix) visits the ROIs of its image, bounds the range of sample
// rows / columns whose bilinear corners can land on iy / ix (inverting the affine sample map,
// with a margin), then recomputes those samples exactly as the forward and adds the weights of
// the corners that are this pixel.
//
// roi_geom runs first, one invocation per ROI: it writes the ROI's geometry (bins, sample grid)
// and, with a fixed sampling ratio S (p.sampling > 0), its sample table: the bilinear axis of
// every sample row (pooled_h · S) and column (pooled_w · S), p.table entries per ROI. The two
// passes read these instead of recomputing them per element (the backward visits every ROI
// for every input element), with the same expressions, so the same bits; and each pass then
// inlines div_exact's loop once or twice instead of eight times, which is what made the
// backward's compile take 13 s on SwiftShader.

override WG: u32 = 256u;
// ≥ 0 where every bin has 2^COUNT_SHIFT samples (a fixed sampling ratio that is a power of two,
// 2 in Faster R-CNN): see div_count.
override COUNT_SHIFT: i32 = -1;
// roi_align_grad's invocation order: see there.
override C_FASTEST: bool = false;

struct Roi {
  size: u32,
  c: u32,
  h: u32,
  w: u32,
  k: u32,
  pooled_h: u32,
  pooled_w: u32,
  sampling: i32,
  scale: f32,
  aligned: u32,
  batch: u32,
  table: u32,   // sample-table entries per ROI: (pooled_h + pooled_w) · sampling, or 0
}

struct Geom {
  batch: i32,
  start_h: f32,
  start_w: f32,
  bin_h: f32,
  bin_w: f32,
  grid_h: i32,
  grid_w: i32,
  count: f32,
  // Pixels that some sample's bilinear corners reach (lowest / highest row, column), from the
  // sample table; the whole map without one. roi_align_grad skips the ROI elsewhere.
  reach_y0: i32,
  reach_y1: i32,
  reach_x0: i32,
  reach_x1: i32,
}

@group(0) @binding(0) var<uniform> p: Roi;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> rois: array<f32>;
@group(0) @binding(2) var<storage, read> geoms: array<Geom>;
@group(0) @binding(2) var<storage, read_write> geoms_out: array<Geom>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> samples_out: array<Sample>;
@group(0) @binding(4) var<storage, read> samples: array<Sample>;

fn geom_of(k: u32) -> Geom {
  var g: Geom;
  let r = k * 5u;
  g.batch = i32(rois[r]);
  let offset = select(0.0, 0.5, p.aligned != 0u);
  g.start_w = rois[r + 1u] * p.scale - offset;
  g.start_h = rois[r + 2u] * p.scale - offset;
  let end_w = rois[r + 3u] * p.scale - offset;
  let end_h = rois[r + 4u] * p.scale - offset;
  var rw = end_w - g.start_w;
  var rh = end_h - g.start_h;
  if (p.aligned == 0u) {
    rw = max(rw, 1.0);
    rh = max(rh, 1.0);
  }
  // Divisions as IEEE float32 divides (div_exact): the sample count is a ceil of one of them.
  g.bin_h = div_exact(rh, p.pooled_h);
  g.bin_w = div_exact(rw, p.pooled_w);
  g.grid_h = select(i32(ceil(g.bin_h)), p.sampling, p.sampling > 0);
  g.grid_w = select(i32(ceil(g.bin_w)), p.sampling, p.sampling > 0);
  g.count = f32(max(g.grid_h * g.grid_w, 1));
  g.reach_y0 = 0;
  g.reach_y1 = i32(p.h) - 1;
  g.reach_x0 = 0;
  g.reach_x1 = i32(p.w) - 1;
  return g;
}

// Sample coordinate `s` of bin `b` along one axis, written as torchvision writes it.
fn sample_at(start: f32, bin: f32, b: i32, s: i32, grid: i32) -> f32 {
  return start + f32(b) * bin + div_exact((f32(s) + 0.5) * bin, u32(grid));
}

// One axis of torchvision's bilinear_interpolate: low / high neighbours and their weights;
// ok = false for a sample outside [−1, size].
struct Axis {
  ok: bool,
  low: i32,
  high: i32,
  w_low: f32,
  w_high: f32,
}

fn axis(v_in: f32, size: u32) -> Axis {
  var a: Axis;
  a.ok = !(v_in < -1.0 || v_in > f32(size));
  var v = max(v_in, 0.0);
  a.low = i32(v);
  if (a.low >= i32(size) - 1) {
    a.low = i32(size) - 1;
    a.high = a.low;
    v = f32(a.low);
  } else {
    a.high = a.low + 1;
  }
  a.w_high = v - f32(a.low);
  a.w_low = 1.0 - a.w_high;
  return a;
}

// div_exact(v, count): with 2^COUNT_SHIFT samples, v / count is v · 2^−COUNT_SHIFT exactly (as
// IEEE rounds it, subnormals and flushing included), which is what div_exact returns, through
// its long division for 1e-30 < |v| ≤ 1e38 and the device's division elsewhere; a multiply gives
// those bits far more cheaply where the device emulates a GPU (SwiftShader runs both sides of
// every branch, so a run-time test would not save div_exact's loop: this is a pipeline constant).
fn div_count(v: f32, count: f32) -> f32 {
  if (COUNT_SHIFT >= 0) {
    return v * ldexp(1.0, -COUNT_SHIFT);
  }
  return div_exact(v, u32(count));
}

// An Axis in a sample table; low = −1 where the sample is outside (ok = false).
struct Sample {
  low: i32,
  high: i32,
  w_low: f32,
  w_high: f32,
}

fn pack(a: Axis) -> Sample {
  return Sample(select(-1, a.low, a.ok), a.high, a.w_low, a.w_high);
}

// Sample `s` of bin `b` of ROI k along y (x = false) or x: from the table or computed.
fn sample_axis(k: u32, g: Geom, along_x: bool, b: i32, s: i32) -> Axis {
  let grid = select(g.grid_h, g.grid_w, along_x);
  if (p.table > 0u) {
    let t = samples[k * p.table + select(0u, p.pooled_h * u32(g.grid_h), along_x) + u32(b * grid + s)];
    return Axis(t.low >= 0, t.low, t.high, t.w_low, t.w_high);
  }
  if (along_x) {
    return axis(sample_at(g.start_w, g.bin_w, b, s, grid), p.w);
  }
  return axis(sample_at(g.start_h, g.bin_h, b, s, grid), p.h);
}

// One invocation per ROI (p.k of them): its geometry, and its sample table when p.table > 0.
@compute @workgroup_size(WG)
fn roi_geom(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let k = flat_index(gid, nwg, WG);
  if (k >= p.k) {
    return;
  }
  var g = geom_of(k);
  if (p.table == 0u) {
    geoms_out[k] = g;
    return;
  }
  let base = k * p.table;
  let rows = p.pooled_h * u32(g.grid_h);
  // Reach: empty (first > last) until an in-range sample is seen.
  g.reach_y0 = i32(p.h);
  g.reach_y1 = -1;
  g.reach_x0 = i32(p.w);
  g.reach_x1 = -1;
  for (var t = 0u; t < rows; t++) {
    let b = t / u32(g.grid_h);
    let a = axis(sample_at(g.start_h, g.bin_h, i32(b), i32(t - b * u32(g.grid_h)), g.grid_h), p.h);
    samples_out[base + t] = pack(a);
    if (a.ok) {
      g.reach_y0 = min(g.reach_y0, a.low);
      g.reach_y1 = max(g.reach_y1, a.high);
    }
  }
  for (var t = 0u; t < p.pooled_w * u32(g.grid_w); t++) {
    let b = t / u32(g.grid_w);
    let a = axis(sample_at(g.start_w, g.bin_w, i32(b), i32(t - b * u32(g.grid_w)), g.grid_w), p.w);
    samples_out[base + rows + t] = pack(a);
    if (a.ok) {
      g.reach_x0 = min(g.reach_x0, a.low);
      g.reach_x1 = max(g.reach_x1, a.high);
    }
  }
  geoms_out[k] = g;
}

@compute @workgroup_size(WG)
fn roi_align(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.size) {
    return;
  }
  let pw = i32(i % p.pooled_w);
  let ph = i32((i / p.pooled_w) % p.pooled_h);
  let c = (i / (p.pooled_w * p.pooled_h)) % p.c;
  let k = i / (p.pooled_w * p.pooled_h * p.c);
  let g = geoms[k];
  if (g.batch < 0 || u32(g.batch) >= p.batch) {
    out[i] = 0.0;
    return;
  }
  let base = (u32(g.batch) * p.c + c) * p.h * p.w;
  var acc = 0.0;
  for (var sy = 0; sy < g.grid_h; sy++) {
    let ay = sample_axis(k, g, false, ph, sy);
    for (var sx = 0; sx < g.grid_w; sx++) {
      let ax = sample_axis(k, g, true, pw, sx);
      if (!ay.ok || !ax.ok) {
        continue;
      }
      let w1 = ay.w_low * ax.w_low;
      let w2 = ay.w_low * ax.w_high;
      let w3 = ay.w_high * ax.w_low;
      let w4 = ay.w_high * ax.w_high;
      acc += w1 * x[base + u32(ay.low) * p.w + u32(ax.low)] + w2 * x[base + u32(ay.low) * p.w + u32(ax.high)]
        + w3 * x[base + u32(ay.high) * p.w + u32(ax.low)] + w4 * x[base + u32(ay.high) * p.w + u32(ax.high)];
    }
  }
  out[i] = div_count(acc, g.count);
}

// Global sample indices (bin · grid + s) along one axis whose bilinear corners may include
// pixel `pix`: samples in [pix − 1, pix + 1), widened to −1 / size at the borders where
// clamping folds samples onto the edge pixel, plus a margin for rounding.
fn sample_range(pix: u32, size: u32, start: f32, bin: f32, grid: i32, pooled: u32) -> vec2<i32> {
  let total = i32(pooled) * grid;
  let lo = select(f32(pix) - 1.0, -1.0, pix <= 1u);
  let hi = select(f32(pix) + 1.0, f32(size), pix + 1u >= size);
  let step = bin / f32(grid);
  let a = (lo - start) / step - 0.5;
  let b = (hi - start) / step - 0.5;
  if (!(abs(step) > 1e-30) || is_nan(a) || is_nan(b) || abs(a) > 1e8 || abs(b) > 1e8) {
    return vec2<i32>(0, total - 1);
  }
  let margin = 2 + i32(ceil(1e-6 * (abs(start) + abs(bin) * f32(pooled) + 2.0) / abs(step)));
  return vec2<i32>(max(i32(floor(min(a, b))) - margin, 0), min(i32(ceil(max(a, b))) + margin, total - 1));
}

@compute @workgroup_size(WG)
fn roi_align_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg, WG);
  if (i >= p.size) {
    return;
  }
  // With C_FASTEST (CPU-emulated devices) channels vary fastest over the invocations, the output
  // still [n, c, h, w]: neighbouring invocations then share their pixel, hence their ROIs'
  // sample ranges and every branch below, which a CPU running invocations in SIMD lanes
  // (SwiftShader) needs: 1.3-1.4x faster there. Per element, the same terms in the same order.
  var c = (i / (p.w * p.h)) % p.c;
  var ix = i % p.w;
  var iy = (i / p.w) % p.h;
  var img = i32(i / (p.w * p.h * p.c));
  if (C_FASTEST) {
    c = i % p.c;
    ix = (i / p.c) % p.w;
    iy = (i / (p.c * p.w)) % p.h;
    img = i32(i / (p.c * p.w * p.h));
  }
  let o = ((u32(img) * p.c + c) * p.h + iy) * p.w + ix;
  let me_y = i32(iy);
  let me_x = i32(ix);
  var acc = 0.0;
  for (var k = 0u; k < p.k; k++) {
    let g = geoms[k];
    if (g.batch != img || g.grid_h <= 0 || g.grid_w <= 0 || me_y < g.reach_y0 || me_y > g.reach_y1 || me_x < g.reach_x0 || me_x > g.reach_x1) {
      continue;
    }
    let ry = sample_range(iy, p.h, g.start_h, g.bin_h, g.grid_h, p.pooled_h);
    let rx = sample_range(ix, p.w, g.start_w, g.bin_w, g.grid_w, p.pooled_w);
    let obase = (k * p.c + c) * p.pooled_h * p.pooled_w;
    // Global sample t = bin · grid + s; (bin, s) are stepped along rather than divided out
    // of t at every sample (integer division is slow where a CPU emulates the GPU).
    var ph = ry.x / g.grid_h;
    var sy = ry.x - ph * g.grid_h;
    for (var ty = ry.x; ty <= ry.y; ty++) {
      let ay = sample_axis(k, g, false, ph, sy);
      let this_ph = ph;
      sy++;
      if (sy == g.grid_h) {
        sy = 0;
        ph++;
      }
      if (!ay.ok || (ay.low != me_y && ay.high != me_y)) {
        continue;
      }
      var pw = rx.x / g.grid_w;
      var sx = rx.x - pw * g.grid_w;
      for (var tx = rx.x; tx <= rx.y; tx++) {
        let ax = sample_axis(k, g, true, pw, sx);
        let this_pw = pw;
        sx++;
        if (sx == g.grid_w) {
          sx = 0;
          pw++;
        }
        if (!ax.ok || (ax.low != me_x && ax.high != me_x)) {
          continue;
        }
        let grad = dy[obase + u32(this_ph) * p.pooled_w + u32(this_pw)];
        // The four corners in torchvision's order (low/low, low/high, high/low, high/high);
        // coinciding corners each add their share. A loop, so that div_count is inlined once.
        for (var corner = 0u; corner < 4u; corner++) {
          let y_low = corner < 2u;
          let x_low = (corner & 1u) == 0u;
          if (select(ay.high, ay.low, y_low) == me_y && select(ax.high, ax.low, x_low) == me_x) {
            let wy = select(ay.w_high, ay.w_low, y_low);
            let wx = select(ax.w_high, ax.w_low, x_low);
            acc += div_count(grad * (wy * wx), g.count);
          }
        }
      }
    }
  }
  out[o] = acc;
}
