// Sums split-K partial products: y[i] = bias[(i / inner) % nch] + sum_s part[s * n + i] (+ res[i],
// a residual folded into the GEMM; a stub returning 0 when there is none)
// (the order of s is fixed, so results do not depend on scheduling).
// consts: WG; params: n, inner, nch, nsplit
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let i = wg_flat(wid, nwg) * WG + li;
  if (i >= P.n) { return; }
  var s = 0.0;
  for (var k = 0u; k < P.nsplit; k++) { s += ld_part(k * P.n + i); }
  st_y(i, s + ld_bias((i / P.inner) % P.nch) + ld_res(i));
}
