// Group norm folded into the next convolution: per (batch, channel) the
// scale gamma * rstd and the shift beta - mean * scale of its group, at
// cf[2 * (b * c + ch)]. Each thread combines its group's partial statistics
// from gn_stats.wgsl itself (as gn_combine.wgsl does, in the same order, so
// the results agree bit for bit): a separate pass cost a dispatch per norm.
// consts: WG; params: n (= batch * c), c, cpg, groups, nchunks, eps
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= P.n) { return; }
  let b = i / P.c;
  let ch = i - b * P.c;
  let seg = b * P.groups + ch / P.cpg;
  var n = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var c = 0u; c < P.nchunks; c++) {
    let o = (seg * P.nchunks + c) * 3u;
    let mb = ld_st(o);
    let m2b = ld_st(o + 1u);
    let nb = ld_st(o + 2u);
    let nn = n + nb;
    let d = mb - mean;
    mean = mean + d * (nb / nn);
    m2 = m2 + m2b + d * d * (n * nb / nn);
    n = nn;
  }
  let sc = ld_gamma(ch) * (1.0 / sqrt(m2 / n + P.eps));
  st_cf(2u * i, sc);
  st_cf(2u * i + 1u, ld_beta(ch) - mean * sc);
}
