// y[i, c] = table[ids[i] - row0, c] for ids in [row0, row0 + rows) (one part
// of a table split by rows; other ids are left to the other parts' dispatches).
// consts: WG; params: n (= ids * c), c, row0, rows
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let e = wg_flat(wid, nwg) * WG + li;
  if (e >= P.n) { return; }
  let i = e / P.c;
  let c = e - i * P.c;
  let id = ldi_ids(i) - i32(P.row0);
  if (id >= 0 && u32(id) < P.rows) { st_y(e, ld_t(u32(id) * P.c + c)); }
}
