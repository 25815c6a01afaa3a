// Strided block copy: y[o * ys + i] = x[o * xs + i] for o < outer, i < len.
// consts: WG; params: n (= outer * len), len, xs, ys
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let e = wg_flat(wid, nwg) * WG + li;
  if (e >= P.n) { return; }
  let o = e / P.len;
  let i = e - o * P.len;
  st_y(o * P.ys + i, ld_x(o * P.xs + i));
}
