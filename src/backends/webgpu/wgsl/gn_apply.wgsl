// Group norm, pass 3: y = (x - mean) * (gamma[c] * rstd) + beta[c], then
// SiLU when SILU. The dispatch covers whole segments seg0.. of the tensor;
// x/y are bound at that sub-range, n elements.
// consts: WG, SILU; params: n, seg_len, seg0, groups, cpg, hw (stats in gs)
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let i = wg_flat(wid, nwg) * WG + li;
  if (i >= P.n) { return; }
  let ls = i / P.seg_len;
  let seg = P.seg0 + ls;
  let g = seg % P.groups;
  let ch = g * P.cpg + (i - ls * P.seg_len) / P.hw;
  let mean = ld_gs(2u * seg);
  let rstd = ld_gs(2u * seg + 1u);
  var v = (ld_x(i) - mean) * (ld_gamma(ch) * rstd) + ld_beta(ch);
  if (SILU) { v = v / (1.0 + exp(-v)); }
  st_y(i, v);
}
