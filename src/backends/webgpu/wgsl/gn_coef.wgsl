// Group norm folded into the next convolution: per (batch, channel) the
// scale gamma * rstd and the shift beta - mean * scale of its group, at
// cf[2 * (b * c + ch)], from the statistics gn_combine.wgsl left at
// gs[2 * seg] (the conv reads x * scale + shift).
// consts: WG; params: n (= batch * c), c, cpg, groups
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= P.n) { return; }
  let b = i / P.c;
  let ch = i - b * P.c;
  let seg = b * P.groups + ch / P.cpg;
  let sc = ld_gamma(ch) * ld_gs(2u * seg + 1u);
  st_cf(2u * i, sc);
  st_cf(2u * i + 1u, ld_beta(ch) - ld_gs(2u * seg) * sc);
}
