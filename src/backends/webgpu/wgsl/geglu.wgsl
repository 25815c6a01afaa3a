// y[m, i] = x[m, i] * gelu(x[m, F + i]) for x[M, 2F], y[M, F].
// consts: WG; params: n (= M*F), f
fn erf_approx(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * z);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let r = 1.0 - poly * exp(-z * z);
  return select(r, -r, x < 0.0);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let e = wg_flat(wid, nwg) * WG + li;
  if (e >= P.n) { return; }
  let m = e / P.f;
  let i = e - m * P.f;
  let a = ld_x(m * 2u * P.f + i);
  let g = ld_x(m * 2u * P.f + P.f + i);
  st_y(e, a * (0.5 * g * (1.0 + erf_approx(g * 0.70710678118654752))));
}
