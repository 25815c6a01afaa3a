// Attention, reference variant: one thread per (batch, head, query row),
// looping over keys with the online softmax exactly as the CPU reference.
// consts: WG, D, DV, CAUSAL
// params: tq, tk, qbs, kbs, vbs, ybs, qrs, krs, vrs, yrs, scale, heads, total
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let e = wg_flat(wid, nwg) * WG + li;
  if (e >= P.total) { return; }
  let i = e % P.tq;
  let bh = e / P.tq;
  let h = bh % P.heads;
  let b = bh / P.heads;
  let qo = b * P.qbs + i * P.qrs + h * D;
  let yo = b * P.ybs + i * P.yrs + h * DV;
  var nk = P.tk;
  if (CAUSAL) { nk = min(i + 1u, P.tk); }
  var m = -3.0e38;
  var l = 0.0;
  var o: array<f32, DV>;
  for (var d = 0u; d < DV; d++) { o[d] = 0.0; }
  for (var j = 0u; j < nk; j++) {
    let ko = b * P.kbs + j * P.krs + h * D;
    var s = 0.0;
    for (var d = 0u; d < D; d++) { s = fma(ld_q(qo + d), ld_k(ko + d), s); }
    s = s * P.scale;
    let vo = b * P.vbs + j * P.vrs + h * DV;
    if (s > m) {
      let corr = exp(m - s);
      l = l * corr;
      for (var d = 0u; d < DV; d++) { o[d] = o[d] * corr; }
      m = s;
    }
    let p = exp(s - m);
    l += p;
    for (var d = 0u; d < DV; d++) { o[d] = fma(p, ld_v(vo + d), o[d]); }
  }
  let inv = 1.0 / l;
  for (var d = 0u; d < DV; d++) { st_y(yo + d, o[d] * inv); }
}
