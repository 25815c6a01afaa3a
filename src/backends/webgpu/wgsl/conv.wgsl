// 2-D convolution as an implicit GEMM, tiled through workgroup memory.
//   y[b, co, p] (+)= sum_k w[co0 + co, wk0 + k] * im2col(x)[b, k, p] (+ bias[co0 + co])
// with k = (ci, ky, kx) over this dispatch's ci channels and p = (oy, ox).
// A workgroup computes BM output channels x BN pixels; each thread TM x TN,
// strided (rows ty + i*(BM/TM), columns tx + j*(BN/TN)) so that neighbouring
// threads touch neighbouring addresses. Needs NT % BN == 0.
// consts: BM, BN, BK, TM, TN, KH, KW, STRIDE, PW (1x1, stride 1, no pad),
//         ACC (add to y instead of bias)
// params: ci, h, w, co, ho, wo, pad_t, pad_l, xbs, ybs (batch strides),
//         wstride (weights per output channel), wk0, co0
// grid: (ceil(ho*wo / BN), ceil(co / BM), batch)
const NTX: u32 = BN / TN;
const NTY: u32 = BM / TM;
const NT: u32 = NTX * NTY;
const KK: u32 = KH * KW;
const BKS: u32 = NT / BN; // NT is a multiple of BN (variants.c)

var<workgroup> As: array<f32, BK * BM>;
var<workgroup> Bs: array<f32, BK * BN>;

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let n0 = wid.x * BN;
  let m0 = wid.y * BM;
  let b = wid.z;
  let npix = P.ho * P.wo;
  let K = P.ci * KK;
  let hw = P.h * P.w;
  let tx = li % NTX;
  let ty = li / NTX;
  var acc: array<f32, TM * TN>;
  for (var i = 0u; i < TM * TN; i++) { acc[i] = 0.0; }
  let xb = b * P.xbs;
  // B-tile loads: this thread always loads column bn (one output pixel,
  // whose coordinates are computed once) at rows bk0, bk0 + BKS, ...
  let bn = li % BN;
  let bk0 = li / BN;
  let p = n0 + bn;
  let pv = p < npix;
  let oy = p / P.wo;
  let ox = p - oy * P.wo;
  let iy0 = i32(oy * STRIDE) - P.pad_t;
  let ix0 = i32(ox * STRIDE) - P.pad_l;
  for (var k0 = 0u; k0 < K; k0 += BK) {
    for (var e = li; e < BM * BK; e += NT) {
      let m = e / BK;
      let kk = e - m * BK;
      let co = m0 + m;
      let k = k0 + kk;
      var v = 0.0;
      if (co < P.co && k < K) { v = ld_w((P.co0 + co) * P.wstride + P.wk0 + k); }
      As[kk * BM + m] = v;
    }
    for (var kk = bk0; kk < BK; kk += BKS) {
      let k = k0 + kk;
      var v = 0.0;
      if (pv && k < K) {
        if (PW) {
          v = ld_x(xb + k * hw + p);
        } else {
          let ci = k / KK;
          let r = k - ci * KK;
          let ky = r / KW;
          let kx = r - ky * KW;
          let iy = iy0 + i32(ky);
          let ix = ix0 + i32(kx);
          if (iy >= 0 && iy < i32(P.h) && ix >= 0 && ix < i32(P.w)) {
            v = ld_x(xb + ci * hw + u32(iy) * P.w + u32(ix));
          }
        }
      }
      Bs[kk * BN + bn] = v;
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
  let yb = b * P.ybs;
  for (var i = 0u; i < TM; i++) {
    let co = m0 + ty + i * NTY;
    if (co >= P.co) { continue; }
    var bias = 0.0;
    if (!ACC) { bias = ld_bias(P.co0 + co); }
    for (var j = 0u; j < TN; j++) {
      let p = n0 + tx + j * NTX;
      if (p < npix) {
        let o = yb + co * npix + p;
        if (ACC) { st_y(o, ld_y(o) + acc[i * TN + j]); } else { st_y(o, acc[i * TN + j] + bias); }
      }
    }
  }
}
