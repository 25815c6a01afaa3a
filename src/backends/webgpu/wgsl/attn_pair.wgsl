// Attention with an online softmax where a group of SD (2 or 4) neighbouring
// threads owns RQ query rows, each thread holding 1/SD of the head's
// channels: its share of Q (pre-scaled) and of the output stay in registers,
// and a key's score is the sum of the shares' dot products, exchanged with
// subgroup shuffles (xor 1, then xor 2). Why: in attn_reg.wgsl a thread owns whole rows, so every K/V
// vector read from workgroup memory feeds the multiply-adds of one row, and
// for small heads (d = 40) those reads, not the arithmetic, set the pace;
// two rows per thread there need twice the registers and spill. Here each
// read feeds RQ rows at the registers of RQ / SD.
// Relies on a subgroup holding consecutive local invocations (lane i ^ 1 is
// invocation li ^ 1, and so on), as on the GPUs this was tuned for; the variants are
// picked by the tuning database only, and the one-node tuner checks each
// variant's result against the reference.
// consts: BQ, RQ, SD, BKV, KC, D, DV, CAUSAL
//   D and DV multiples of 4 * SD; NT = (BQ / RQ) * SD threads; BKV a multiple of KC
// params: tq, tk, qbs, kbs, vbs, ybs, qrs, krs, vrs, yrs, scale
// grid: (ceil(tq / BQ), heads, batch)
const NEG: f32 = -3.0e38;
const NP: u32 = BQ / RQ; // thread groups
const NT: u32 = NP * SD;
const H4: u32 = D / (4u * SD);   // vec4s of a thread's share of Q / K
const HV4: u32 = DV / (4u * SD); // vec4s of a share of V / the output

// [key][share][d4]: only the key index is dynamic inside the loops (the
// share is fixed per thread), so the bounds checks clamp it once per key.
var<workgroup> SK: array<array<array<vec4<f32>, H4>, SD>, BKV>;
var<workgroup> SV: array<array<array<vec4<f32>, HV4>, SD>, BKV>;

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let q0 = wid.x * BQ;
  let h = wid.y;
  let b = wid.z;
  let qb = b * P.qbs + h * D;
  let kb = b * P.kbs + h * D;
  let vb = b * P.vbs + h * DV;
  let hf = li % SD; // which share of the channels
  let pr = li / SD; // which group: rows pr, pr + NP, ...
  var q: array<vec4<f32>, RQ * H4>;
  var o: array<vec4<f32>, RQ * HV4>;
  var m: array<f32, RQ>;
  var l: array<f32, RQ>;
  for (var i = 0u; i < RQ; i++) {
    let qi = min(q0 + pr + i * NP, P.tq - 1u); // rows past the end compute row tq-1, never stored
    for (var d = 0u; d < H4; d++) { q[i * H4 + d] = ld4_q(qb + qi * P.qrs + hf * (D / SD) + 4u * d) * P.scale; }
    for (var d = 0u; d < HV4; d++) { o[i * HV4 + d] = vec4<f32>(0.0); }
    m[i] = NEG;
    l[i] = 0.0;
  }
  var kend = P.tk;
  if (CAUSAL) { kend = min(P.tk, q0 + BQ); }
  for (var j0 = 0u; j0 < kend; j0 += BKV) {
    workgroupBarrier();
    // element e of a block: key e / (D / 4), vec4 e % (D / 4) of the row, = (share, d4)
    for (var e = li; e < BKV * SD * H4; e += NT) {
      let kk = e / (SD * H4);
      let r = e - kk * SD * H4;
      let hh = r / H4;
      var v = vec4<f32>(0.0);
      if (j0 + kk < P.tk) { v = ld4_k(kb + (j0 + kk) * P.krs + 4u * r); }
      SK[kk][hh][r - hh * H4] = v;
    }
    for (var e = li; e < BKV * SD * HV4; e += NT) {
      let kk = e / (SD * HV4);
      let r = e - kk * SD * HV4;
      let hh = r / HV4;
      var v = vec4<f32>(0.0);
      if (j0 + kk < P.tk) { v = ld4_v(vb + (j0 + kk) * P.vrs + 4u * r); }
      SV[kk][hh][r - hh * HV4] = v;
    }
    workgroupBarrier();
    for (var c0 = 0u; c0 < BKV; c0 += KC) {
      if (j0 + c0 >= kend) { break; }
      var s: array<f32, RQ * KC>;
      for (var jj = 0u; jj < KC; jj++) {
        var acc: array<vec4<f32>, RQ>;
        for (var i = 0u; i < RQ; i++) { acc[i] = vec4<f32>(0.0); }
        for (var d = 0u; d < H4; d++) {
          let kv = SK[c0 + jj][hf][d];
          for (var i = 0u; i < RQ; i++) { acc[i] = fma(q[i * H4 + d], kv, acc[i]); }
        }
        for (var i = 0u; i < RQ; i++) { s[i * KC + jj] = (acc[i].x + acc[i].y) + (acc[i].z + acc[i].w); }
      }
      // the other shares' dot products: every thread of the group then holds
      // the same scores ((a + b) + (c + d) rounds alike in any order of the
      // shares), so their softmax states agree
      for (var t = 0u; t < RQ * KC; t++) { s[t] = s[t] + subgroupShuffleXor(s[t], 1u); }
      if (SD == 4u) {
        for (var t = 0u; t < RQ * KC; t++) { s[t] = s[t] + subgroupShuffleXor(s[t], 2u); }
      }
      for (var i = 0u; i < RQ; i++) {
        let row = q0 + pr + i * NP;
        var mx = m[i];
        for (var jj = 0u; jj < KC; jj++) {
          let kj = j0 + c0 + jj;
          if (kj >= P.tk || (CAUSAL && kj > row)) { s[i * KC + jj] = NEG; }
          mx = max(mx, s[i * KC + jj]);
        }
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
        for (var d = 0u; d < HV4; d++) { o[i * HV4 + d] = o[i * HV4 + d] * corr; }
      }
      for (var jj = 0u; jj < KC; jj++) {
        for (var d = 0u; d < HV4; d++) {
          let vv = SV[c0 + jj][hf][d];
          for (var i = 0u; i < RQ; i++) { o[i * HV4 + d] = fma(vec4<f32>(s[i * KC + jj]), vv, o[i * HV4 + d]); }
        }
      }
    }
  }
  for (var i = 0u; i < RQ; i++) {
    let qi = q0 + pr + i * NP;
    if (qi >= P.tq) { continue; }
    let f = 1.0 / l[i];
    for (var d = 0u; d < HV4; d++) {
      let v = o[i * HV4 + d] * f;
      let y = b * P.ybs + qi * P.yrs + h * DV + hf * (DV / SD) + 4u * d;
      st_y(y, v.x);
      st_y(y + 1u, v.y);
      st_y(y + 2u, v.z);
      st_y(y + 3u, v.w);
    }
  }
}
