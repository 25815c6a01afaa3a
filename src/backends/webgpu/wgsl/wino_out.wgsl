// Winograd F(2x2, 3x3), the output part (see wino.wgsl): one thread per
// (output channel c, tile column q) sums the split-K slices of the tile's 16
// values M, takes them to its 2x2 outputs (A^T M A, A^T = [1 1 1 0; 0 1 -1 -1])
// and adds the bias; outputs past an odd edge are dropped.
// consts: WG; params: co, nq, q0, tpi, tw, ho, wo, ybs, nsplit, mstride
// (floats per split slice), astride (floats per alpha = co * nq)
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let i = wg_flat(wid, nwg) * WG + li;
  if (i >= P.co * P.nq) { return; }
  let c = i / P.nq;
  let ql = i - c * P.nq;
  var m: array<f32, 16>;
  for (var a = 0u; a < 16u; a++) {
    var s = 0.0;
    for (var k = 0u; k < P.nsplit; k++) { s += ld_part(k * P.mstride + a * P.astride + i); }
    m[a] = s;
  }
  var r0: array<f32, 4>;
  var r1: array<f32, 4>;
  for (var j = 0u; j < 4u; j++) {
    r0[j] = m[j] + m[4u + j] + m[8u + j];
    r1[j] = m[4u + j] - m[8u + j] - m[12u + j];
  }
  let bias = ld_bias(c);
  let q = P.q0 + ql;
  let b = q / P.tpi;
  let t = q - b * P.tpi;
  let oy = 2u * (t / P.tw);
  let ox = 2u * (t % P.tw);
  let o = b * P.ybs + c * P.ho * P.wo + oy * P.wo + ox;
  let right = ox + 1u < P.wo;
  st_y(o, r0[0] + r0[1] + r0[2] + bias);
  if (right) { st_y(o + 1u, r0[1] - r0[2] - r0[3] + bias); }
  if (oy + 1u < P.ho) {
    st_y(o + P.wo, r1[0] + r1[1] + r1[2] + bias);
    if (right) { st_y(o + P.wo + 1u, r1[1] - r1[2] - r1[3] + bias); }
  }
}
