// y = a (+|*) b with b broadcast to a's shape (4-D, right-aligned; b's
// strides are 0 along broadcast dims). The dispatch covers elements
// [base, base + n) of a/y; a and y are bound at that sub-range, b whole.
// consts: WG, MUL (bool), SAME (b has a's shape: b index = a index)
// params: n, base, d1, d2, d3 (a's dims 1..3), s0, s1, s2, s3 (b's strides)
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let i = wg_flat(wid, nwg) * WG + li;
  if (i >= P.n) { return; }
  let e = P.base + i;
  var bi: u32;
  if (SAME) {
    bi = e;
  } else {
    let i3 = e % P.d3;
    let r3 = e / P.d3;
    let i2 = r3 % P.d2;
    let r2 = r3 / P.d2;
    let i1 = r2 % P.d1;
    let i0 = r2 / P.d1;
    bi = i0 * P.s0 + i1 * P.s1 + i2 * P.s2 + i3 * P.s3;
  }
  let av = ld_a(i);
  let bv = ld_b(bi);
  if (MUL) { st_y(i, av * bv); } else { st_y(i, av + bv); }
}
