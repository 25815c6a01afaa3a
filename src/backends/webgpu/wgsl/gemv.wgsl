// y[m, n] = sum_k x[m, k] * w[n, k] + bias[n] (+ res[m, n]) for a few rows
// (m <= MR <= 8; the time embedding's projections have 2). The tiled GEMMs
// leave most of a tile empty there and need split-K plus a reduction pass
// to fill the GPU; here TPC threads share one output column, each summing a
// strided share of k (a warp reads a column's weights as one contiguous
// run), and add up through workgroup memory: one dispatch, weights read once.
// The k loop takes four elements per turn, loads first: a GPU thread issues
// in order, so one element per turn waited a memory latency each.
// consts: WG, MR, RES; params: m, n, k
// grid: ceil(n / NC) workgroups (flat)
const NC: u32 = 2u;        // output columns per workgroup
const TPC: u32 = WG / NC;  // threads per column
var<workgroup> red: array<f32, WG * MR>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let lane = li % TPC;
  let col = wg_flat(wid, nwg) * NC + li / TPC;
  var acc: array<f32, MR>;
  for (var m = 0u; m < MR; m++) { acc[m] = 0.0; }
  if (col < P.n) {
    let wb = col * P.k;
    var k = lane;
    for (; k + 3u * TPC < P.k; k += 4u * TPC) {
      let w = vec4<f32>(ld_w(wb + k), ld_w(wb + k + TPC), ld_w(wb + k + 2u * TPC), ld_w(wb + k + 3u * TPC));
      for (var m = 0u; m < MR; m++) {
        let xb = m * P.k + k;
        let x = vec4<f32>(ld_x(xb), ld_x(xb + TPC), ld_x(xb + 2u * TPC), ld_x(xb + 3u * TPC));
        acc[m] += dot(w, x);
      }
    }
    for (; k < P.k; k += TPC) {
      let w = ld_w(wb + k);
      for (var m = 0u; m < MR; m++) { acc[m] = fma(ld_x(m * P.k + k), w, acc[m]); }
    }
  }
  for (var m = 0u; m < MR; m++) { red[li * MR + m] = acc[m]; }
  workgroupBarrier();
  for (var s = TPC / 2u; s > 0u; s = s >> 1u) {
    if (lane < s) {
      for (var m = 0u; m < MR; m++) { red[li * MR + m] += red[(li + s) * MR + m]; }
    }
    workgroupBarrier();
  }
  if (lane == 0u && col < P.n) {
    for (var m = 0u; m < MR; m++) {
      if (m < P.m) {
        var v = red[li * MR + m] + ld_bias(col);
        if (RES) { v += ld_res(m * P.n + col); }
        st_y(m * P.n + col, v);
      }
    }
  }
}
