// Softmax over the last dim: one workgroup per row of c elements.
// consts: WG (power of two); params: rows, c
var<workgroup> red: array<f32, WG>;

fn reduce_max(li: u32, v: f32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (li < s) { red[li] = max(red[li], red[li + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduce_sum(li: u32, v: f32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (li < s) { red[li] = red[li] + red[li + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let row = wg_flat(wid, nwg);
  if (row >= P.rows) { return; }  // uniform per workgroup
  let base = row * P.c;
  var mx = -3.0e38;
  for (var i = li; i < P.c; i += WG) { mx = max(mx, ld_x(base + i)); }
  mx = reduce_max(li, mx);
  var s = 0.0;
  for (var i = li; i < P.c; i += WG) { s += exp(ld_x(base + i) - mx); }
  s = reduce_sum(li, s);
  for (var i = li; i < P.c; i += WG) { st_y(base + i, exp(ld_x(base + i) - mx) / s); }
}
