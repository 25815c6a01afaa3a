// Nearest-neighbour resize of planes [h, w] -> [ho, wo]:
//   src row = min(floor(oy * sh), h - 1) with sh = h / ho in float32, as the
//   CPU reference computes it (sh, sw passed in). The dispatch covers n outputs.
// consts: WG; params: n, h, w, ho, wo, sh, sw
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let e = wg_flat(wid, nwg) * WG + li;
  if (e >= P.n) { return; }
  let plane_o = P.ho * P.wo;
  let pl = e / plane_o;
  let r = e - pl * plane_o;
  let oy = r / P.wo;
  let ox = r - oy * P.wo;
  let iy = min(u32(floor(f32(oy) * P.sh)), P.h - 1u);
  let ix = min(u32(floor(f32(ox) * P.sw)), P.w - 1u);
  st_y(e, ld_x(pl * P.h * P.w + iy * P.w + ix));
}
