// y[m, n] = sum_k x[m, k] * w[n, k] + bias[n], tiled through workgroup memory.
// Workgroup tile BM rows x BN columns, thread tile TM x TN (strided).
// consts: BM, BN, BK, TM, TN
// params: m, n, k
// grid: (ceil(n / BN), ceil(m / BM), 1)
const NTX: u32 = BN / TN;
const NTY: u32 = BM / TM;
const NT: u32 = NTX * NTY;

var<workgroup> As: array<f32, BK * BM>;
var<workgroup> Bs: array<f32, BK * BN>;

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let n0 = wid.x * BN;
  let m0 = wid.y * BM;
  let tx = li % NTX;
  let ty = li / NTX;
  var acc: array<f32, TM * TN>;
  for (var i = 0u; i < TM * TN; i++) { acc[i] = 0.0; }
  for (var k0 = 0u; k0 < P.k; k0 += BK) {
    for (var e = li; e < BM * BK; e += NT) {
      let r = e / BK;
      let kk = e - r * BK;
      let row = m0 + r;
      let k = k0 + kk;
      var v = 0.0;
      if (row < P.m && k < P.k) { v = ld_x(row * P.k + k); }
      As[kk * BM + r] = v;
    }
    for (var e = li; e < BN * BK; e += NT) {
      let c = e / BK;
      let kk = e - c * BK;
      let col = n0 + c;
      let k = k0 + kk;
      var v = 0.0;
      if (col < P.n && k < P.k) { v = ld_w(col * P.k + k); }
      Bs[kk * BN + c] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var a: array<f32, TM>;
      var c: array<f32, TN>;
      for (var i = 0u; i < TM; i++) { a[i] = As[kk * BM + ty + i * NTY]; }
      for (var j = 0u; j < TN; j++) { c[j] = Bs[kk * BN + tx + j * NTX]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i * TN + j] = fma(a[i], c[j], acc[i * TN + j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let row = m0 + ty + i * NTY;
    if (row >= P.m) { continue; }
    for (var j = 0u; j < TN; j++) {
      let col = n0 + tx + j * NTX;
      if (col < P.n) { st_y(row * P.n + col, acc[i * TN + j] + ld_bias(col)); }
    }
  }
}
