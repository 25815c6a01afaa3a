// Element-wise unary ops over n elements: y[i] = f(x[i]).
// consts: WG (threads), OPK (0 silu, 1 gelu, 2 quick_gelu, 3 scale, 4 clamp)
// params: n, a, b (scale: x*a+b; clamp: [a, b])
// x and y may be the same range (in-place).

// erf with |error| < 1.5e-7 (Abramowitz & Stegun 7.1.26), odd-symmetric.
fn erf_approx(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * z);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let r = 1.0 - poly * exp(-z * z);
  return select(r, -r, x < 0.0);
}

fn unary(v: f32) -> f32 {
  if (OPK == 0u) { return v / (1.0 + exp(-v)); }
  if (OPK == 1u) { return 0.5 * v * (1.0 + erf_approx(v * 0.70710678118654752)); }
  if (OPK == 2u) { return v / (1.0 + exp(-1.702 * v)); }
  if (OPK == 3u) { return v * P.a + P.b; }
  return min(max(v, P.a), P.b);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let i = wg_flat(wid, nwg) * WG + li;
  if (i >= P.n) { return; }
  st_y(i, unary(ld_x(i)));
}
