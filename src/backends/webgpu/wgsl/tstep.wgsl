// Sinusoidal timestep features: for t[B] and frequencies f[half] (computed on
// the host exactly as the CPU reference does), a = t[b] * f[i] in float32,
// y[b, i] = sin(a), y[b, half + i] = cos(a) (swapped when FLIP).
// sin/cos are computed here with Cody-Waite range reduction and Taylor
// polynomials (about 1 ulp), because WGSL's built-ins are only accurate near
// zero and these arguments reach ~1000.
// consts: WG, FLIP; params: n (= B * half), half
fn sincos_acc(x: f32) -> vec2<f32> {
  // k = nearest multiple of pi/2; pi/2 = C1 + C2 + C3 with C1, C2 short
  // enough that k * C1 and k * C2 are exact for |k| < 2^11.
  let kf = round(x * 0.63661977236758134);
  let r = ((x - kf * 1.5703125) - kf * 4.8387050628662109e-4) - kf * (-4.3711390001862428e-8);
  let r2 = r * r;
  let s = r + r * r2 * (-1.6666666666666666e-1 + r2 * (8.3333333333333332e-3 + r2 * (-1.9841269841269841e-4
          + r2 * (2.7557319223985893e-6 + r2 * (-2.5052108385441720e-8)))));
  let c = 1.0 + r2 * (-0.5 + r2 * (4.1666666666666664e-2 + r2 * (-1.3888888888888889e-3 + r2 * (2.4801587301587302e-5
          + r2 * (-2.7557319223985888e-7 + r2 * 2.0876756987868100e-9)))));
  let q = i32(kf) & 3;
  if (q == 0) { return vec2<f32>(s, c); }
  if (q == 1) { return vec2<f32>(c, -s); }
  if (q == 2) { return vec2<f32>(-s, -c); }
  return vec2<f32>(-c, s);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let e = wg_flat(wid, nwg) * WG + li;
  if (e >= P.n) { return; }
  let b = e / P.half;
  let i = e - b * P.half;
  let a = ld_t(b) * ld_f(i);
  let sc = sincos_acc(a);
  let row = b * 2u * P.half;
  if (FLIP) {
    st_y(row + i, sc.y);
    st_y(row + P.half + i, sc.x);
  } else {
    st_y(row + i, sc.x);
    st_y(row + P.half + i, sc.y);
  }
}
