// Sums split-K partial products: y[i] = bias[(i / inner) % nch] + sum_s part[s * n + i] (+ res[i],
// a residual folded into the GEMM; a stub returning 0 when there is none)
// (the order of s is fixed, so results do not depend on scheduling).
// consts: WG, VEC4 (each thread sums 4 consecutive values with 16-byte
//         loads and stores: n % 4 == 0, bindings as vec4 arrays, kb_vec4;
//         the same additions in the same order, so the same bits)
// params: n, inner, nch, nsplit
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
//#if VEC4
  let i = (wg_flat(wid, nwg) * WG + li) * 4u;
  if (i >= P.n) { return; }
  var s = vec4<f32>(0.0);
  for (var k = 0u; k < P.nsplit; k++) { s += ld4_part(k * P.n + i); }
  let c = i / P.inner;
  var bias: vec4<f32>;
  if (P.inner % 4u == 0u) {
    bias = vec4<f32>(ld_bias(c % P.nch));
  } else {
    bias = vec4<f32>(ld_bias(c % P.nch), ld_bias(((i + 1u) / P.inner) % P.nch),
                     ld_bias(((i + 2u) / P.inner) % P.nch), ld_bias(((i + 3u) / P.inner) % P.nch));
  }
  st4_y(i, s + bias + ld4_res(i));
//#else
  let i = wg_flat(wid, nwg) * WG + li;
  if (i >= P.n) { return; }
  var s = 0.0;
  for (var k = 0u; k < P.nsplit; k++) { s += ld_part(k * P.n + i); }
  st_y(i, s + ld_bias((i / P.inner) % P.nch) + ld_res(i));
//#endif
}
