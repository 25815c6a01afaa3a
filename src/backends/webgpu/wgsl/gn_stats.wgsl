// Group norm, pass 1: partial statistics. The bound x holds segments
// (one per (batch, group)) of seg_len contiguous elements; workgroup
// (c, s) reduces elements [c*chunk, min((c+1)*chunk, seg_len)) of segment s
// and writes (mean, M2, count) of that chunk to st[(sbase + s*nchunks + c)*3].
// consts: WG (power of two); params: seg_len, chunk, nchunks, sbase
var<workgroup> red: array<f32, WG>;

fn reduce_sum(li: u32, v: f32) -> f32 {
  red[li] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (li < s) { red[li] = red[li] + red[li + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let c = wid.x;
  let s = wid.y;
  let lo = c * P.chunk;
  let hi = min(lo + P.chunk, P.seg_len);
  let base = s * P.seg_len;
  var a = 0.0;
  for (var i = lo + li; i < hi; i += WG) { a += ld_x(base + i); }
  let cnt = f32(hi - lo);
  let mean = reduce_sum(li, a) / cnt;
  var q = 0.0;
  for (var i = lo + li; i < hi; i += WG) { let d = ld_x(base + i) - mean; q += d * d; }
  let m2 = reduce_sum(li, q);
  if (li == 0u) {
    let o = (P.sbase + s * P.nchunks + c) * 3u;
    st_st(o, mean);
    st_st(o + 1u, m2);
    st_st(o + 2u, cnt);
  }
}
