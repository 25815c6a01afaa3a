// Group norm, pass 2: one thread per segment combines its chunks' partial
// statistics (Chan et al.) into mean and 1/sqrt(var + eps), stored at
// gs[2*seg].
// consts: WG; params: nseg, nchunks, eps
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let s = gid.x;
  if (s >= P.nseg) { return; }
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
  st_gs(2u * s, mean);
  st_gs(2u * s + 1u, 1.0 / sqrt(m2 / n + P.eps));
}
