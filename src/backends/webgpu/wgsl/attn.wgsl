// Attention with an online softmax over key blocks (the score matrix is
// never stored beyond one BQ x BKV block in workgroup memory):
//   y[b, i, h*DV + d] = sum_j softmax_j(scale * q[b,i,h*D:] . k[b,j,h*D:]) v[b, j, h*DV + d]
// A workgroup owns BQ queries of one (batch, head). Each block of BKV keys:
//   1. S = scale * Q K^T (masked entries -> NEG)
//   2. per row: new max, rescale factor, P = exp(S - max), running sum
//   3. O = O * rescale + P V, O kept in registers: thread (row r, lane)
//      owns dims lane, lane + TPR, ... of row r.
// consts: BQ, BKV, NT, TPR (= NT / BQ), NPT (= ceil(DV / TPR)), D, DV, CAUSAL
// params: tq, tk, qbs, kbs, vbs, ybs (batch strides), qrs, krs, vrs, yrs (row strides), scale
// grid: (ceil(tq / BQ), heads, batch)
const NEG: f32 = -3.0e38;

var<workgroup> S: array<f32, BQ * BKV>;
var<workgroup> mrow: array<f32, BQ>;
var<workgroup> lrow: array<f32, BQ>;
var<workgroup> crow: array<f32, BQ>;

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let q0 = wid.x * BQ;
  let h = wid.y;
  let b = wid.z;
  let r = li / TPR;
  let lane = li - r * TPR;
  let qb = b * P.qbs + h * D;
  let kb = b * P.kbs + h * D;
  let vb = b * P.vbs + h * DV;
  var o: array<f32, NPT>;
  for (var t = 0u; t < NPT; t++) { o[t] = 0.0; }
  if (li < BQ) {
    mrow[li] = NEG;
    lrow[li] = 0.0;
  }
  var kend = P.tk;
  if (CAUSAL) { kend = min(P.tk, q0 + BQ); }
  for (var j0 = 0u; j0 < kend; j0 += BKV) {
    workgroupBarrier();
    for (var e = li; e < BQ * BKV; e += NT) {
      let i = e / BKV;
      let j = e - i * BKV;
      let qi = q0 + i;
      let kj = j0 + j;
      var s = NEG;
      if (qi < P.tq && kj < P.tk && (!CAUSAL || kj <= qi)) {
        var dot = 0.0;
        let qo = qb + qi * P.qrs;
        let ko = kb + kj * P.krs;
        for (var d = 0u; d < D; d++) { dot = fma(ld_q(qo + d), ld_k(ko + d), dot); }
        s = dot * P.scale;
      }
      S[e] = s;
    }
    workgroupBarrier();
    if (li < BQ) {
      let mo = mrow[li];
      var mx = mo;
      for (var j = 0u; j < BKV; j++) { mx = max(mx, S[li * BKV + j]); }
      var l = 0.0;
      for (var j = 0u; j < BKV; j++) {
        let s = S[li * BKV + j];
        let p = select(exp(s - mx), 0.0, s <= NEG);
        S[li * BKV + j] = p;
        l += p;
      }
      let corr = exp(mo - mx);
      mrow[li] = mx;
      lrow[li] = lrow[li] * corr + l;
      crow[li] = corr;
    }
    workgroupBarrier();
    if (r < BQ) {
      let corr = crow[r];
      let jn = min(BKV, kend - j0);
      for (var t = 0u; t < NPT; t++) {
        let d = lane + t * TPR;
        if (d < DV) {
          var a = o[t] * corr;
          for (var j = 0u; j < jn; j++) { a = fma(S[r * BKV + j], ld_v(vb + (j0 + j) * P.vrs + d), a); }
          o[t] = a;
        }
      }
    }
  }
  workgroupBarrier();
  let qi = q0 + r;
  if (r < BQ && qi < P.tq) {
    let inv = 1.0 / lrow[r];
    for (var t = 0u; t < NPT; t++) {
      let d = lane + t * TPR;
      if (d < DV) { st_y(b * P.ybs + qi * P.yrs + h * DV + d, o[t] * inv); }
    }
  }
}
