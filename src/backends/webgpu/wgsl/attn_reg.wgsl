// Attention with an online softmax where every thread owns whole query rows:
// its RQ rows of Q (pre-scaled) and of the output stay in registers for the
// whole key loop, and so do the scores of a chunk of KC keys, so the softmax
// needs no communication between threads. A workgroup holds BQ queries x KS
// key splits: the KS threads of a row each take a contiguous share of every
// key block staged in workgroup memory. Consecutive threads share a split,
// so a subgroup reads the same K/V element at a time (a broadcast, no bank
// conflicts), and a key costs D + DV fused multiply-adds per row against
// (D + DV) / 4 vector reads shared by RQ rows. The splits combine their
// partial (max, sum, output) at the end through workgroup memory.
// K2D stages the blocks as 2-D arrays (key, then d): with the d loops
// unrolled only the key index is dynamic, so WebGPU's bounds checks clamp
// one index per key instead of every vector read (on the H100 the clamps
// kept the compiler from folding the d offsets into the reads: the 4096-token
// layer 3.6 -> 2.2 ms); for d = 80 the flat array is faster.
// consts: BQ, RQ, KS, BKV, KC, SMN, K2D, D, DV, CAUSAL
//   D and DV multiples of 4; NT = (BQ / RQ) * KS threads; BKV / KS a
//   multiple of KC; SMN = max(BKV * (D + DV), BQ * DV) / 4; with K2D
//   BQ * DV <= BKV * (D + DV) (the outputs' combine uses both blocks)
// params: tq, tk, qbs, kbs, vbs, ybs, qrs, krs, vrs, yrs, scale
// grid: (ceil(tq / BQ), heads, batch)
const NEG: f32 = -3.0e38;
const NR: u32 = BQ / RQ;
const NT: u32 = NR * KS;
const D4: u32 = D / 4u;
const DV4: u32 = DV / 4u;
const KPS: u32 = BKV / KS;
const KN: u32 = BKV * D4;

//#if K2D
var<workgroup> SK: array<array<vec4<f32>, D4>, BKV>;  // K block [key][d4]
var<workgroup> SV: array<array<vec4<f32>, DV4>, BKV>; // V block [key][d4]
// the outputs' combine at the end: element e of a flat [BQ][DV4] array, kept in SK, then SV
fn so_get(e: u32) -> vec4<f32> {
  if (e < KN) { return SK[e / D4][e % D4]; }
  return SV[(e - KN) / DV4][(e - KN) % DV4];
}
fn so_set(e: u32, v: vec4<f32>) {
  if (e < KN) {
    SK[e / D4][e % D4] = v;
  } else {
    SV[(e - KN) / DV4][(e - KN) % DV4] = v;
  }
}
//#else
var<workgroup> SM: array<vec4<f32>, SMN>; // K block [key][d4], V block [key][d4]; at the end the outputs
fn so_get(e: u32) -> vec4<f32> { return SM[e]; }
fn so_set(e: u32, v: vec4<f32>) { SM[e] = v; }
//#endif
var<workgroup> mst: array<f32, KS * BQ>;
var<workgroup> lst: array<f32, KS * BQ>;

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let q0 = wid.x * BQ;
  let h = wid.y;
  let b = wid.z;
  let qb = b * P.qbs + h * D;
  let kb = b * P.kbs + h * D;
  let vb = b * P.vbs + h * DV;
  let sp = li / NR;
  let rt = li - sp * NR;
  var q: array<vec4<f32>, RQ * D4>;
  var o: array<vec4<f32>, RQ * DV4>;
  var m: array<f32, RQ>;
  var l: array<f32, RQ>;
  for (var i = 0u; i < RQ; i++) {
    let qi = min(q0 + rt + i * NR, P.tq - 1u); // rows past the end compute row tq-1, never stored
    for (var d = 0u; d < D4; d++) { q[i * D4 + d] = ld4_q(qb + qi * P.qrs + 4u * d) * P.scale; }
    for (var d = 0u; d < DV4; d++) { o[i * DV4 + d] = vec4<f32>(0.0); }
    m[i] = NEG;
    l[i] = 0.0;
  }
  var kend = P.tk;
  if (CAUSAL) { kend = min(P.tk, q0 + BQ); }
  for (var j0 = 0u; j0 < kend; j0 += BKV) {
    workgroupBarrier();
    for (var e = li; e < BKV * D4; e += NT) {
      let kk = e / D4;
      let d = e - kk * D4;
      var v = vec4<f32>(0.0);
      if (j0 + kk < P.tk) { v = ld4_k(kb + (j0 + kk) * P.krs + 4u * d); }
//#if K2D
      SK[kk][d] = v;
//#else
      SM[e] = v;
//#endif
    }
    for (var e = li; e < BKV * DV4; e += NT) {
      let kk = e / DV4;
      let d = e - kk * DV4;
      var v = vec4<f32>(0.0);
      if (j0 + kk < P.tk) { v = ld4_v(vb + (j0 + kk) * P.vrs + 4u * d); }
//#if K2D
      SV[kk][d] = v;
//#else
      SM[KN + e] = v;
//#endif
    }
    workgroupBarrier();
    for (var c0 = 0u; c0 < KPS; c0 += KC) {
      let kc0 = sp * KPS + c0; // chunk's first key within the block
      if (j0 + kc0 >= kend) { break; }
      var s: array<f32, RQ * KC>;
      for (var jj = 0u; jj < KC; jj++) {
        var acc: array<vec4<f32>, RQ>;
        for (var i = 0u; i < RQ; i++) { acc[i] = vec4<f32>(0.0); }
        for (var d = 0u; d < D4; d++) {
//#if K2D
          let kv = SK[kc0 + jj][d];
//#else
          let kv = SM[(kc0 + jj) * D4 + d];
//#endif
          for (var i = 0u; i < RQ; i++) { acc[i] = fma(q[i * D4 + d], kv, acc[i]); }
        }
        let kj = j0 + kc0 + jj;
        for (var i = 0u; i < RQ; i++) {
          var v = (acc[i].x + acc[i].y) + (acc[i].z + acc[i].w);
          if (kj >= P.tk || (CAUSAL && kj > q0 + rt + i * NR)) { v = NEG; }
          s[i * KC + jj] = v;
        }
      }
      for (var i = 0u; i < RQ; i++) {
        var mx = m[i];
        for (var jj = 0u; jj < KC; jj++) { mx = max(mx, s[i * KC + jj]); }
        let corr = exp(m[i] - mx);
        m[i] = mx;
        var ls = 0.0;
        for (var jj = 0u; jj < KC; jj++) {
          let v = s[i * KC + jj];
          let p = select(exp(v - mx), 0.0, v <= NEG);
          s[i * KC + jj] = p;
          ls += p;
        }
        l[i] = l[i] * corr + ls;
        for (var d = 0u; d < DV4; d++) { o[i * DV4 + d] = o[i * DV4 + d] * corr; }
      }
      for (var jj = 0u; jj < KC; jj++) {
        let kr = kc0 + jj;
        for (var d = 0u; d < DV4; d++) {
//#if K2D
          let vv = SV[kr][d];
//#else
          let vv = SM[KN + kr * DV4 + d];
//#endif
          for (var i = 0u; i < RQ; i++) { o[i * DV4 + d] = fma(vec4<f32>(s[i * KC + jj]), vv, o[i * DV4 + d]); }
        }
      }
    }
  }
  // combine the splits: weights exp(m_s - M) / L per split, summed in SM
  for (var i = 0u; i < RQ; i++) {
    mst[sp * BQ + rt + i * NR] = m[i];
    lst[sp * BQ + rt + i * NR] = l[i];
  }
  workgroupBarrier();
  for (var i = 0u; i < RQ; i++) {
    let r = rt + i * NR;
    var mm = NEG;
    for (var t = 0u; t < KS; t++) { mm = max(mm, mst[t * BQ + r]); }
    var ll = 0.0;
    for (var t = 0u; t < KS; t++) { ll += lst[t * BQ + r] * exp(mst[t * BQ + r] - mm); }
    let f = exp(m[i] - mm) / ll;
    for (var d = 0u; d < DV4; d++) { o[i * DV4 + d] = o[i * DV4 + d] * f; }
  }
  for (var t = 0u; t < KS; t++) {
    if (sp == t) {
      for (var i = 0u; i < RQ; i++) {
        let r = rt + i * NR;
        let qi = q0 + r;
        for (var d = 0u; d < DV4; d++) {
          var v = o[i * DV4 + d];
          if (t > 0u) { v += so_get(r * DV4 + d); }
          if (t + 1u < KS) {
            so_set(r * DV4 + d, v);
          } else if (qi < P.tq) {
            let y = b * P.ybs + qi * P.yrs + h * DV + 4u * d;
            st_y(y, v.x);
            st_y(y + 1u, v.y);
            st_y(y + 2u, v.z);
            st_y(y + 3u, v.w);
          }
        }
      }
    }
    workgroupBarrier();
  }
}
