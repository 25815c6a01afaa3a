// Layer norm over the last dim: one workgroup per row of c elements.
// y = (x - mean) * rstd * gamma + beta (two-pass variance).
// consts: WG (power of two); params: rows, c, eps
var<workgroup> red: array<f32, WG>;

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
  if (row >= P.rows) { return; }
  let base = row * P.c;
  var s = 0.0;
  for (var i = li; i < P.c; i += WG) { s += ld_x(base + i); }
  let mean = reduce_sum(li, s) / f32(P.c);
  var q = 0.0;
  for (var i = li; i < P.c; i += WG) { let d = ld_x(base + i) - mean; q += d * d; }
  let rstd = 1.0 / sqrt(reduce_sum(li, q) / f32(P.c) + P.eps);
  for (var i = li; i < P.c; i += WG) {
    st_y(base + i, (ld_x(base + i) - mean) * rstd * ld_gamma(i) + ld_beta(i));
  }
}
