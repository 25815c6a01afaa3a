// Group norm, pass 2: combines a segment's chunks of partial statistics
// from gn_stats.wgsl (Chan et al.) into mean and 1/sqrt(var + eps).
//   one thread per segment: stored at gs[2*seg] (gn_apply.wgsl reads them);
//   COEF (the norm is folded into the next convolution): one thread per
//   (batch, channel), which combines its group's statistics itself and
//   stores the scale gamma * rstd and the shift beta - mean * scale at
//   cf[2 * (b * c + ch)] (the conv reads x * scale + shift): no pass between.
// consts: WG, COEF; params: nchunks, eps, and nseg, or with COEF n (= batch * c), c, cpg, groups
fn seg_stats(s: u32) -> vec2<f32> {
  var n = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var c = 0u; c < P.nchunks; c++) {
    let o = (s * P.nchunks + c) * 3u;
    let mb = ld_st(o);
    let m2b = ld_st(o + 1u);
    let nb = ld_st(o + 2u);
    let nn = n + nb;
    let d = mb - mean;
    mean = mean + d * (nb / nn);
    m2 = m2 + m2b + d * d * (n * nb / nn);
    n = nn;
  }
  return vec2<f32>(mean, 1.0 / sqrt(m2 / n + P.eps));
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
//#if COEF
  if (i >= P.n) { return; }
  let b = i / P.c;
  let ch = i - b * P.c;
  let ms = seg_stats(b * P.groups + ch / P.cpg);
  let sc = ld_gamma(ch) * ms.y;
  st_cf(2u * i, sc);
  st_cf(2u * i + 1u, ld_beta(ch) - ms.x * sc);
//#else
  if (i >= P.nseg) { return; }
  let ms = seg_stats(i);
  st_gs(2u * i, ms.x);
  st_gs(2u * i + 1u, ms.y);
//#endif
}
