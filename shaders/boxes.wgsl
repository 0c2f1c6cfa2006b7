// Box kernels, torchvision semantics (no +1 pixel convention).
//
// box_iou:    [na, 4] × [nb, 4] → [na, nb]; inter / (area_a + area_b − inter).
// NMS in three passes, all on the device:
//   nms_rank:   rank of each box in descending score order, ties to the lower index (a total
//               order on the score bits, so ranks form a permutation even with NaN); writes
//               order[rank] = box. O(n²) comparisons, n parallel invocations.
//   nms_mask:   for sorted i < j, bit j of row i when IoU(i, j) > threshold, 32 per word.
//   nms_select: one workgroup walks the sorted boxes, keeping a box unless an earlier kept one
//               suppressed it, and ORs the kept box's row into the suppressed set (workgroup
//               memory, WORDS words). Writes [count, kept indices…].

override WG: u32 = 256u;
override WORDS: u32 = 1u;

struct Boxes {
  na: u32,
  nb: u32,
  size: u32,
  threshold: f32,
}

@group(0) @binding(0) var<uniform> p: Boxes;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(1) var<storage, read> mask_in: array<u32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> order_out: array<u32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read_write> iou_out: array<f32>;
@group(0) @binding(3) var<storage, read_write> mask: array<u32>;
@group(0) @binding(3) var<storage, read_write> keep: array<i32>;

fn area(v: vec4<f32>) -> f32 {
  return (v.z - v.x) * (v.w - v.y);
}

fn inter(u: vec4<f32>, v: vec4<f32>) -> f32 {
  let w = max(min(u.z, v.z) - max(u.x, v.x), 0.0);
  let h = max(min(u.w, v.w) - max(u.y, v.y), 0.0);
  return w * h;
}

fn box_a(i: u32) -> vec4<f32> {
  return vec4<f32>(a[i * 4u], a[i * 4u + 1u], a[i * 4u + 2u], a[i * 4u + 3u]);
}

fn box_b(i: u32) -> vec4<f32> {
  return vec4<f32>(b[i * 4u], b[i * 4u + 1u], b[i * 4u + 2u], b[i * 4u + 3u]);
}

@compute @workgroup_size(WG)
fn box_iou(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_index(gid, nwg, WG);
  if (t >= p.na * p.nb) {
    return;
  }
  let u = box_a(t / p.nb);
  let v = box_b(t % p.nb);
  let it = inter(u, v);
  iou_out[t] = it / (area(u) + area(v) - it);
}

// Monotone map from f32 to u32 (larger score, larger key).
fn score_key(s: f32) -> u32 {
  let bits = bitcast<u32>(s);
  return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
}

var<workgroup> keys: array<u32, 256>;

@compute @workgroup_size(256)
fn nms_rank(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let n = p.na;
  let i = gid.x;
  var mine = 0u;
  if (i < n) {
    mine = score_key(scores[i]);
  }
  var rank = 0u;
  for (var j0 = 0u; j0 < n; j0 += 256u) {
    if (j0 + li < n) {
      keys[li] = score_key(scores[j0 + li]);
    }
    workgroupBarrier();
    let len = min(256u, n - j0);
    for (var t = 0u; t < len; t++) {
      let kj = keys[t];
      let j = j0 + t;
      rank += select(0u, 1u, kj > mine || (kj == mine && j < i));
    }
    workgroupBarrier();
  }
  if (i < n) {
    order_out[rank] = i;
  }
}

@compute @workgroup_size(WG)
fn nms_mask(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = flat_index(gid, nwg, WG);
  let n = p.na;
  let words = (n + 31u) / 32u;
  if (t >= n * words) {
    return;
  }
  let i = t / words;
  let word = t % words;
  let bi = box_a(order[i]);
  let ai = area(bi);
  var bits = 0u;
  for (var q = 0u; q < 32u; q++) {
    let j = word * 32u + q;
    if (j > i && j < n) {
      let bj = box_a(order[j]);
      let it = inter(bi, bj);
      // As torchvision's float32 division would decide, whatever the device's division does.
      if (quotient_gt(it, ai + area(bj) - it, p.threshold)) {
        bits |= 1u << q;
      }
    }
  }
  mask[t] = bits;
}

var<workgroup> removed: array<u32, WORDS>;

@compute @workgroup_size(256)
fn nms_select(@builtin(local_invocation_index) li: u32) {
  let n = p.na;
  let words = (n + 31u) / 32u;
  for (var w = li; w < words; w += 256u) {
    removed[w] = 0u;
  }
  var count = 0u;
  for (var i = 0u; i < n; i++) {
    // Also a barrier: every invocation sees the ORs of the previous step.
    let word = workgroupUniformLoad(&removed[i >> 5u]);
    if (((word >> (i & 31u)) & 1u) == 0u) {
      if (li == 0u) {
        keep[count + 1u] = i32(order[i]);
      }
      count += 1u;
      for (var w = (i >> 5u) + li; w < words; w += 256u) {
        removed[w] |= mask_in[i * words + w];
      }
    }
  }
  if (li == 0u) {
    keep[0] = i32(count);
  }
}
