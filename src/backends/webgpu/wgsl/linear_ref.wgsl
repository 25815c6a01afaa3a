// y[m, n] = sum_k x[m, k] * w[n, k] + bias[n]: one thread per output.
// consts: WG; params: m, n, k
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let e = wg_flat(wid, nwg) * WG + li;
  if (e >= P.m * P.n) { return; }
  let row = e / P.n;
  let col = e - row * P.n;
  var s = 0.0;
  for (var k = 0u; k < P.k; k++) { s = fma(ld_x(row * P.k + k), ld_w(col * P.k + k), s); }
  st_y(e, s + ld_bias(col));
}
