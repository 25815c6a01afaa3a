// A small program of element-wise linear combinations (graph.h: wg_linprog):
// one denoising step's guidance and scheduler update, on the GPU. Per
// element j, registers take row j of a's RA rows, b's RB, c's RC, then
// zeros; the program (operand p, set by the host every step) runs on them;
// a's registers go to y. Arithmetic in the order of the CPU reference.
// consts: WG, RA, RB, RC, NREG, OPW, MAXOPS; params: n (row length)
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let j = wg_flat(wid, nwg) * WG + li;
  if (j >= P.n) { return; }
  var r: array<f32, NREG>;
  for (var i = 0u; i < NREG; i++) { r[i] = 0.0; }
  for (var i = 0u; i < RA; i++) { r[i] = ld_a(i * P.n + j); }
  for (var i = 0u; i < RB; i++) { r[RA + i] = ld_b(i * P.n + j); }
  for (var i = 0u; i < RC; i++) { r[RA + RB + i] = ld_c(i * P.n + j); }
  // indices are clamped: the host checks programs, this keeps a bad one in bounds
  let nops = min(u32(ld_p(0u)), MAXOPS);
  for (var o = 0u; o < nops; o++) {
    let base = 1u + o * OPW;
    let nt = min(u32(ld_p(base + 2u)), (OPW - 4u) / 2u);
    var acc: f32;
    if (ld_p(base) == 1.0) {
      let s0 = r[min(u32(ld_p(base + 4u)), NREG - 1u)];
      let d = r[min(u32(ld_p(base + 6u)), NREG - 1u)] - s0;
      let gd = ld_p(base + 5u) * d;
      acc = s0 + gd;
    } else if (ld_p(base) == 2.0) {
      acc = r[min(u32(ld_p(base + 4u)), NREG - 1u)] / ld_p(base + 5u);
    } else {
      acc = ld_p(base + 5u) * r[min(u32(ld_p(base + 4u)), NREG - 1u)];
      for (var t = 1u; t < nt; t++) {
        let pr = ld_p(base + 5u + 2u * t) * r[min(u32(ld_p(base + 4u + 2u * t)), NREG - 1u)];
        acc = acc + pr;
      }
    }
    let cl = ld_p(base + 3u);
    if (cl > 0.0) { acc = min(max(acc, -cl), cl); }
    r[min(u32(ld_p(base + 1u)), NREG - 1u)] = acc;
  }
  for (var i = 0u; i < RA; i++) { st_y(i * P.n + j, r[i]); }
}
