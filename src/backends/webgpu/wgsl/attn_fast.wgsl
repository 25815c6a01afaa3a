// Attention with an online softmax, for head sizes whose whole block fits
// workgroup memory: like attn_tiled.wgsl, but the workgroup's queries Q are
// loaded once for the whole key loop, and each key block's K and V are staged
// whole (one barrier per block for the loads instead of one per chunk of
// dims; P V reads V from workgroup memory).
// consts: BQ, BKV, TQ, TK, RQ, NDG, CD, D, DV, CAUSAL
//   NT = (BQ/TQ)*(BKV/TK) = (BQ/RQ)*NDG threads
// params: tq, tk, qbs, kbs, vbs, ybs, qrs, krs, vrs, yrs, scale
// grid: (ceil(tq / BQ), heads, batch)
const NEG: f32 = -3.0e38;
const SQN: u32 = BQ / TQ;
const SKN: u32 = BKV / TK;
const NT: u32 = SQN * SKN;
const TPR: u32 = NT / BQ;
// the score rows are padded by one float so the per-row softmax reads are
// free of bank conflicts; Q and K are not (that keeps 64x64 blocks of
// 40-wide heads within 48 KiB, the fastest shape measured on the H100)
const QST: u32 = BQ;
const KST: u32 = BKV;
const SST: u32 = BKV + 1u;

var<workgroup> Qs: array<f32, D * QST>;   // [d][q]
var<workgroup> Ks: array<f32, D * KST>;  // [d][k]
var<workgroup> Vs: array<f32, BKV * DV>; // [k][d]
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
  for (var e = li; e < BQ * D; e += NT) {
    let q = e / D;
    let d = e - q * D;
    var v = 0.0;
    if (q0 + q < P.tq) { v = ld_q(qb + (q0 + q) * P.qrs + d); }
    Qs[d * QST + q] = v;
  }
  var kend = P.tk;
  if (CAUSAL) { kend = min(P.tk, q0 + BQ); }
  for (var j0 = 0u; j0 < kend; j0 += BKV) {
    workgroupBarrier();
    for (var e = li; e < BKV * D; e += NT) {
      let kk = e / D;
      let d = e - kk * D;
      var v = 0.0;
      if (j0 + kk < P.tk) { v = ld_k(kb + (j0 + kk) * P.krs + d); }
      Ks[d * KST + kk] = v;
    }
    for (var e = li; e < BKV * DV; e += NT) {
      let kk = e / DV;
      let d = e - kk * DV;
      var v = 0.0;
      if (j0 + kk < P.tk) { v = ld_v(vb + (j0 + kk) * P.vrs + d); }
      Vs[e] = v;
    }
    workgroupBarrier();
    var s: array<f32, TQ * TK>;
    for (var t = 0u; t < TQ * TK; t++) { s[t] = 0.0; }
    for (var d = 0u; d < D; d++) {
      var a: array<f32, TQ>;
      var c: array<f32, TK>;
      for (var i = 0u; i < TQ; i++) { a[i] = Qs[d * QST + sq + i * SQN]; }
      for (var j = 0u; j < TK; j++) { c[j] = Ks[d * KST + sk + j * SKN]; }
      for (var i = 0u; i < TQ; i++) {
        for (var j = 0u; j < TK; j++) { s[i * TK + j] = fma(a[i], c[j], s[i * TK + j]); }
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
      for (var c = 0u; c < CD; c++) {
        let d = od + c * NDG;
        vv[c] = select(0.0, Vs[j * DV + min(d, DV - 1u)], d < DV);
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
