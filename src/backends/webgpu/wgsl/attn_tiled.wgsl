// Attention with an online softmax over key blocks, register-tiled:
//   y[b, i, h*DV + d] = sum_j softmax_j(scale * q[b,i,h*D:] . k[b,j,h*D:]) v[b, j, h*DV + d]
// A workgroup owns BQ queries of one (batch, head) and walks the keys in
// blocks of BKV. Per block:
//   1. S = Q K^T as a small GEMM: Q and K stream through workgroup memory in
//      chunks of DC dims; each thread accumulates a TQ x TK tile of S in
//      registers (rows sq + i*(BQ/TQ), keys sk + j*(BKV/TK)).
//   2. S (scaled, masked) goes to workgroup memory; NT / BQ threads per row
//      update the running max and sum and turn S into P = exp(S - max).
//   3. O = O * rescale + P V: thread (og, od) keeps rows og*RQ .. +RQ and
//      dims od, od + NDG, ... (CD of them) in registers; V is read from
//      global memory (each value is shared by the BQ/RQ row groups).
// The score matrix never exists beyond one BQ x BKV block.
// consts: BQ, BKV, TQ, TK, DC, RQ, NDG, CD, D, DV, CAUSAL
//   NT = (BQ/TQ)*(BKV/TK) = (BQ/RQ)*NDG threads
// params: tq, tk, qbs, kbs, vbs, ybs, qrs, krs, vrs, yrs, scale
// grid: (ceil(tq / BQ), heads, batch)
const NEG: f32 = -3.0e38;
const SQN: u32 = BQ / TQ;
const SKN: u32 = BKV / TK;
const NT: u32 = SQN * SKN;
const TPR: u32 = NT / BQ;
// padded strides (one float) keep the transposing stores and the per-row
// softmax reads free of bank conflicts
const QST: u32 = BQ + 1u;
const KST: u32 = BKV + 1u;
const SST: u32 = BKV + 1u;

var<workgroup> Qs: array<f32, DC * QST>;
var<workgroup> Ks: array<f32, DC * KST>;
var<workgroup> S: array<f32, BQ * SST>;
var<workgroup> mrow: array<f32, BQ>;
var<workgroup> lrow: array<f32, BQ>;
var<workgroup> crow: array<f32, BQ>;
var<workgroup> red: array<f32, NT>;

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let q0 = wid.x * BQ;
  let h = wid.y;
  let b = wid.z;
  let qb = b * P.qbs + h * D;
  let kb = b * P.kbs + h * D;
  let vb = b * P.vbs + h * DV;
  let sq = li / SKN;
  let sk = li - sq * SKN;
  let og = li / NDG;
  let od = li - og * NDG;
  var o: array<f32, RQ * CD>;
  for (var t = 0u; t < RQ * CD; t++) { o[t] = 0.0; }
  if (li < BQ) {
    mrow[li] = NEG;
    lrow[li] = 0.0;
  }
  var kend = P.tk;
  if (CAUSAL) { kend = min(P.tk, q0 + BQ); }
  for (var j0 = 0u; j0 < kend; j0 += BKV) {
    var s: array<f32, TQ * TK>;
    for (var t = 0u; t < TQ * TK; t++) { s[t] = 0.0; }
    for (var d0 = 0u; d0 < D; d0 += DC) {
      workgroupBarrier();
      for (var e = li; e < BQ * DC; e += NT) {
        let q = e / DC;
        let dd = e - q * DC;
        var v = 0.0;
        if (q0 + q < P.tq && d0 + dd < D) { v = ld_q(qb + (q0 + q) * P.qrs + d0 + dd); }
        Qs[dd * QST + q] = v;
      }
      for (var e = li; e < BKV * DC; e += NT) {
        let kk = e / DC;
        let dd = e - kk * DC;
        var v = 0.0;
        if (j0 + kk < P.tk && d0 + dd < D) { v = ld_k(kb + (j0 + kk) * P.krs + d0 + dd); }
        Ks[dd * KST + kk] = v;
      }
      workgroupBarrier();
      for (var dd = 0u; dd < DC; dd++) {
        var a: array<f32, TQ>;
        var c: array<f32, TK>;
        for (var i = 0u; i < TQ; i++) { a[i] = Qs[dd * QST + sq + i * SQN]; }
        for (var j = 0u; j < TK; j++) { c[j] = Ks[dd * KST + sk + j * SKN]; }
        for (var i = 0u; i < TQ; i++) {
          for (var j = 0u; j < TK; j++) { s[i * TK + j] = fma(a[i], c[j], s[i * TK + j]); }
        }
      }
    }
    for (var i = 0u; i < TQ; i++) {
      let qi = q0 + sq + i * SQN;
      for (var j = 0u; j < TK; j++) {
        let kj = j0 + sk + j * SKN;
        var v = s[i * TK + j] * P.scale;
        if (qi >= P.tq || kj >= P.tk || (CAUSAL && kj > qi)) { v = NEG; }
        S[(sq + i * SQN) * SST + sk + j * SKN] = v;
      }
    }
    workgroupBarrier();
    // online-softmax update, TPR threads per row: partial max, then
    // partial sums, combined through workgroup memory
    {
      let r = li / TPR;
      let lane = li - r * TPR;
      var mx = NEG;
      for (var j = lane; j < BKV; j += TPR) { mx = max(mx, S[r * SST + j]); }
      red[li] = mx;
      workgroupBarrier();
      let mo = mrow[r];
      mx = mo;
      for (var t = 0u; t < TPR; t++) { mx = max(mx, red[r * TPR + t]); }
      workgroupBarrier();
      var l = 0.0;
      for (var j = lane; j < BKV; j += TPR) {
        let v = S[r * SST + j];
        let p = select(exp(v - mx), 0.0, v <= NEG);
        S[r * SST + j] = p;
        l += p;
      }
      red[li] = l;
      workgroupBarrier();
      if (lane == 0u) {
        var ls = 0.0;
        for (var t = 0u; t < TPR; t++) { ls += red[r * TPR + t]; }
        let corr = exp(mo - mx);
        mrow[r] = mx;
        lrow[r] = lrow[r] * corr + ls;
        crow[r] = corr;
      }
    }
    workgroupBarrier();
    let jn = min(BKV, P.tk - j0);
    for (var r = 0u; r < RQ; r++) {
      let corr = crow[og * RQ + r];
      for (var c = 0u; c < CD; c++) { o[r * CD + c] = o[r * CD + c] * corr; }
    }
    for (var j = 0u; j < jn; j++) {
      var vv: array<f32, CD>;
      let vo = vb + (j0 + j) * P.vrs;
      for (var c = 0u; c < CD; c++) {
        let d = od + c * NDG;
        vv[c] = select(0.0, ld_v(vo + min(d, DV - 1u)), d < DV);
      }
      for (var r = 0u; r < RQ; r++) {
        let p = S[(og * RQ + r) * SST + j];
        for (var c = 0u; c < CD; c++) { o[r * CD + c] = fma(p, vv[c], o[r * CD + c]); }
      }
    }
  }
  workgroupBarrier();
  for (var r = 0u; r < RQ; r++) {
    let row = og * RQ + r;
    let qi = q0 + row;
    if (qi < P.tq) {
      let inv = 1.0 / lrow[row];
      for (var c = 0u; c < CD; c++) {
        let d = od + c * NDG;
        if (d < DV) { st_y(b * P.ybs + qi * P.yrs + h * DV + d, o[r * CD + c] * inv); }
      }
    }
  }
}
