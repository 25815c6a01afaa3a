// 2-D convolution as an implicit GEMM, tiled through workgroup memory.
//   y[b, co, p] (+)= sum_k w[co0 + co, wk0 + k] * im2col(x)[b, k, p] (+ bias[co0 + co])
// with k = (ci, ky, kx) over this dispatch's ci channels and p = (oy, ox).
// A workgroup computes BM output channels x BN pixels; each thread TM x TN,
// strided (rows ty + i*(BM/TM), columns tx + j*(BN/TN)) so that neighbouring
// threads touch neighbouring addresses. Needs NT % BN == 0.
// consts: BM, BN, BK, TM, TN, KH, KW, STRIDE, PW (1x1, stride 1, no pad),
//         ACC (add to y instead of bias), SPLIT (split-K: workgroup z = b *
//         nsplit + s sums k in [s*kper, (s+1)*kper) and writes its partial
//         sums, without bias, to part[s * pstride + ...]; splitk_reduce.wgsl
//         adds them up), UP2 (the input is read through a 2x nearest
//         upsampling: h, w are the upsampled sizes, sw the stored width),
//         NORM/NSILU (the input is read through a group norm: x * scale +
//         shift, SiLU after when NSILU; scale/shift per (b, ci) at
//         gn[2 * (b * ci + c)] from gn_combine.wgsl (COEF). The raw input and its
//         coefficients are prefetched; the arithmetic happens when the tile
//         is stored, so the loads' latency hides behind a k-step's math)
// params: ci, h, w, co, ho, wo, pad_t, pad_l, xbs, ybs (batch strides),
//         wstride (weights per output channel), wk0, co0, nsplit, kper,
//         pstride, sw
// DBUF (two tile copies, one barrier per k-step) is explained at the tiles.
// QUAD (with VIEW4; stride 1, no upsampling, wo % 4 == 0, x through a vec4
// binding too): the im2col tile is loaded as quads of 4 neighbouring pixels
// of one row, from the one or two aligned vec4s of x that hold them (w % 4
// == 0, so a vec4 lies wholly inside or outside a row), and stored as one
// vec4; k's (ci, ky, kx) and the norm coefficients once per quad.
// VIEW4 (VEC4 tiles; y, res, part and f32 weights through vec4 bindings,
// kb_vec4, x and the norm coefficients plain): weight-tile loads take 4
// consecutive k at once and the epilogue reads and writes whole vec4s of 4
// pixels (ho*wo, the batch strides and the weight offsets multiples of 4).
// RES: add operand res (a residual laid out as y) where the bias is added;
// with SPLIT the reduction adds it instead.
// grid: (ceil(ho*wo / BN), ceil(co / BM), batch * nsplit)
const NTX: u32 = BN / TN;
const NTY: u32 = BM / TM;
const NT: u32 = NTX * NTY;
const KK: u32 = KH * KW;
const BKS: u32 = NT / BN; // NT is a multiple of BN (variants.c)
const NA: u32 = BM * BK / NT; // weight-tile elements per thread
const NB: u32 = BK * BN / NT; // im2col-tile elements per thread
const QKS: u32 = NT / (BN / 4u); // QUAD: rows between a thread's quads
const NQ: u32 = (BK * BN / 4u + NT - 1u) / NT; // QUAD: quads per thread (exact where QUAD is used)

// Tiles as vec4 so the VEC4 inner loop reads 4 values per load. VEC4
// (TM = TN = 8): the thread's rows are ty*4 + 0..3 and BM/2 + ty*4 + 0..3
// (columns likewise), so its two row groups and two column groups are
// contiguous vec4s, and neighbouring threads read neighbouring vec4s.
// Row strides padded by 4 floats: the transposing tile stores (consecutive
// threads, consecutive k) then hit 32 different banks.
const ASTR: u32 = BM + 4u;
const BSTR: u32 = BN + 4u;
// DBUF: two copies of each tile, used in turn by consecutive k-steps, so one
// barrier per k-step suffices (a thread storing step s + 1 into the other
// copy cannot overtake one still reading step s: it must first pass step
// s + 1's barrier, which every thread reaches only after reading step s).
const NBUF: u32 = select(1u, 2u, DBUF);
const ASZ: u32 = BK * ASTR / 4u; // vec4s per copy
const BSZ: u32 = BK * BSTR / 4u;
var<workgroup> As: array<vec4<f32>, NBUF * ASZ>;
var<workgroup> Bs: array<vec4<f32>, NBUF * BSZ>;

fn row_of(ty: u32, i: u32) -> u32 {
  if (VEC4) { return (i / 4u) * (BM / 2u) + ty * 4u + (i % 4u); }
  return ty + i * NTY;
}
fn col_of(tx: u32, j: u32) -> u32 {
  if (VEC4) { return (j / 4u) * (BN / 2u) + tx * 4u + (j % 4u); }
  return tx + j * NTX;
}

// One element of the weight tile: row m0 + e / BK, column k0 + e % BK.
fn load_a(e: u32, k0: u32, m0: u32, K: u32) -> f32 {
  let m = e / BK;
  let kk = e - m * BK;
  let co = m0 + m;
  let k = k0 + kk;
  if (co < P.co && k < K) { return ld_w((P.co0 + co) * P.wstride + P.wk0 + k); }
  return 0.0;
}

// VIEW4: quad q of the weight tile is row q / BK4, k from k0 + (q % BK4) * 4
const BK4: u32 = BK / 4u;
fn load_a4(q: u32, k0: u32, m0: u32, K: u32) -> vec4<f32> {
  let m = q / BK4;
  let co = m0 + m;
  let k = k0 + (q - m * BK4) * 4u;
  if (co < P.co && k < K) { return ld4_w((P.co0 + co) * P.wstride + P.wk0 + k); }
  return vec4<f32>(0.0);
}

// One element of the im2col tile: row k0 + kk, this thread's pixel p, as
// (raw x, scale, shift): with NORM the element is x * scale + shift (scale
// and shift 0 for the zero padding), else x.
fn load_b(kk: u32, k0: u32, K: u32, pv: bool, p: u32, iy0: i32, ix0: i32, xb: u32, hw: u32, b: u32) -> vec3<f32> {
  let k = k0 + kk;
  var v = vec3<f32>(0.0);
  if (pv && k < K) {
    if (PW) {
      v.x = ld_x(xb + k * hw + p);
      if (NORM) {
        let g = (b * P.ci + k) * 2u;
        v.y = ld_gn(g);
        v.z = ld_gn(g + 1u);
      }
    } else {
      let ci = k / KK;
      let r = k - ci * KK;
      let ky = r / KW;
      let kx = r - ky * KW;
      let iy = iy0 + i32(ky);
      let ix = ix0 + i32(kx);
      if (iy >= 0 && iy < i32(P.h) && ix >= 0 && ix < i32(P.w)) {
        if (UP2) {
          v.x = ld_x(xb + ci * hw + (u32(iy) >> 1u) * P.sw + (u32(ix) >> 1u));
        } else {
          v.x = ld_x(xb + ci * hw + u32(iy) * P.w + u32(ix));
        }
        if (NORM) {
          let g = (b * P.ci + ci) * 2u;
          v.y = ld_gn(g);
          v.z = ld_gn(g + 1u);
        }
      }
    }
  }
  return v;
}

// QUAD: the 4 im2col values of row k0 + kk at pixels (oy, ox0 .. ox0 + 3)
// as raw x, and the norm coefficients (scale, shift), zero where padding.
struct Quad { x: vec4<f32>, valid: vec4<f32>, coef: vec2<f32> }
fn load_q(kk: u32, k0: u32, K: u32, pv: bool, oy: u32, ox0: u32, xb: u32, hw: u32, b: u32) -> Quad {
  var q: Quad;
  q.x = vec4<f32>(0.0);
  q.valid = vec4<f32>(0.0);
  q.coef = vec2<f32>(0.0);
  let k = k0 + kk;
  if (!pv || k >= K) { return q; }
  let ci = k / KK;
  let r = k - ci * KK;
  let ky = r / KW;
  let kx = r - ky * KW;
  let iy = i32(oy + ky) - P.pad_t;
  if (iy < 0 || iy >= i32(P.h)) { return q; }
  let ix = i32(ox0 + kx) - P.pad_l; // first of the 4 columns
  let a = ix & ~3;                   // aligned vec4 holding it (floor, also when ix < 0)
  let sh = u32(ix - a);              // 0..3
  let row = xb + ci * hw + u32(iy) * P.w;
  var v0 = vec4<f32>(0.0);
  var v1 = vec4<f32>(0.0);
  var m0 = 0.0;
  var m1 = 0.0;
  if (a >= 0 && a < i32(P.w)) { v0 = ld4_x(row + u32(a)); m0 = 1.0; }
  if (sh > 0u && a + 4 >= 0 && a + 4 < i32(P.w)) { v1 = ld4_x(row + u32(a + 4)); m1 = 1.0; }
  let w0 = vec4<f32>(m0);
  let w1 = vec4<f32>(m1);
  q.x = select(select(select(v0, vec4<f32>(v0.yzw, v1.x), sh == 1u), vec4<f32>(v0.zw, v1.xy), sh == 2u),
               vec4<f32>(v0.w, v1.xyz), sh == 3u);
  q.valid = select(select(select(w0, vec4<f32>(w0.yzw, w1.x), sh == 1u), vec4<f32>(w0.zw, w1.xy), sh == 2u),
                   vec4<f32>(w0.w, w1.xyz), sh == 3u);
  if (NORM) {
    let g = (b * P.ci + ci) * 2u;
    q.coef = vec2<f32>(ld_gn(g), ld_gn(g + 1u));
  }
  return q;
}

fn norm_q(q: Quad) -> vec4<f32> {
  if (!NORM) { return q.x; }
  // padding stays 0 as in norm_b: (0 * 0 + 0), SiLU(0) = 0
  let u = select(vec4<f32>(0.0), q.x * q.coef.x + q.coef.y, q.valid != vec4<f32>(0.0));
  if (NSILU) { return u / (1.0 + exp(-u)); }
  return u;
}

fn norm_b(v: vec3<f32>) -> f32 {
  if (!NORM) { return v.x; }
  let u = v.x * v.y + v.z;
  if (NSILU) { return u / (1.0 + exp(-u)); }
  return u;
}

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let n0 = wid.x * BN;
  let m0 = wid.y * BM;
  var b = wid.z;
  var kbeg = 0u;
  var K = P.ci * KK;
  var sidx = 0u;
  if (SPLIT) {
    b = wid.z / P.nsplit;
    sidx = wid.z - b * P.nsplit;
    kbeg = sidx * P.kper;
    K = min(K, kbeg + P.kper);
  }
  let npix = P.ho * P.wo;
  var hw = P.h * P.w;
  if (UP2) { hw = (P.h / 2u) * P.sw; } // stored plane
  let tx = li % NTX;
  let ty = li / NTX;
  var acc: array<f32, TM * TN>;
  for (var i = 0u; i < TM * TN; i++) { acc[i] = 0.0; }
  var acc4: array<vec4<f32>, 16>; // VEC4: [row i][column half h] at i * 2 + h
  for (var i = 0u; i < 16u; i++) { acc4[i] = vec4<f32>(0.0); }
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
  // Software pipelining: the next k-step's global loads are issued into
  // registers (ra, rb) before the current step's arithmetic.
//#if VIEW4
  var ra4: array<vec4<f32>, NA / 4u>;
  for (var t = 0u; t < NA / 4u; t++) { ra4[t] = load_a4(li + t * NT, kbeg, m0, K); }
//#else
  var ra: array<f32, NA>;
  for (var t = 0u; t < NA; t++) { ra[t] = load_a(li + t * NT, kbeg, m0, K); }
//#endif
//#if QUAD
  // quads: this thread's quad column qc (pixels n0 + 4*qc ..), rows qk0, qk0 + QKS, ...
  let qc = li % (BN / 4u);
  let qk0 = li / (BN / 4u);
  let qp = n0 + 4u * qc;
  let qpv = qp < npix;
  let qoy = qp / P.wo;
  let qox = qp - qoy * P.wo;
  var rq: array<Quad, NQ>;
  for (var t = 0u; t < NQ; t++) { rq[t] = load_q(qk0 + t * QKS, kbeg, K, qpv, qoy, qox, xb, hw, b); }
//#else
  var rb: array<vec3<f32>, NB>;
  for (var t = 0u; t < NB; t++) { rb[t] = load_b(bk0 + t * BKS, kbeg, K, pv, p, iy0, ix0, xb, hw, b); }
//#endif
  var ao = 0u; // the tile copies this k-step uses (DBUF)
  var bo = 0u;
  for (var k0 = kbeg; k0 < K; k0 += BK) {
//#if VIEW4
    for (var t = 0u; t < NA / 4u; t++) {
      let q = li + t * NT;
      let m = q / BK4;
      let kk = (q - m * BK4) * 4u;
      for (var j = 0u; j < 4u; j++) {
        let o = (kk + j) * ASTR + m;
        As[ao + (o >> 2u)][o & 3u] = ra4[t][j];
      }
    }
//#else
    for (var t = 0u; t < NA; t++) {
      let e = li + t * NT;
      let m = e / BK;
      let kk = e - m * BK;
      As[ao + ((kk * ASTR + m) >> 2u)][(kk * ASTR + m) & 3u] = ra[t];
    }
//#endif
//#if QUAD
    for (var t = 0u; t < NQ; t++) {
      let kk = qk0 + t * QKS;
      Bs[bo + (kk * BSTR) / 4u + qc] = norm_q(rq[t]);
    }
//#else
    for (var t = 0u; t < NB; t++) {
      let kk = bk0 + t * BKS;
      Bs[bo + ((kk * BSTR + bn) >> 2u)][(kk * BSTR + bn) & 3u] = norm_b(rb[t]);
    }
//#endif
    workgroupBarrier();
    if (k0 + BK < K) {
//#if VIEW4
      for (var t = 0u; t < NA / 4u; t++) { ra4[t] = load_a4(li + t * NT, k0 + BK, m0, K); }
//#else
      for (var t = 0u; t < NA; t++) { ra[t] = load_a(li + t * NT, k0 + BK, m0, K); }
//#endif
//#if QUAD
      for (var t = 0u; t < NQ; t++) { rq[t] = load_q(qk0 + t * QKS, k0 + BK, K, qpv, qoy, qox, xb, hw, b); }
//#else
      for (var t = 0u; t < NB; t++) { rb[t] = load_b(bk0 + t * BKS, k0 + BK, K, pv, p, iy0, ix0, xb, hw, b); }
//#endif
    }
    if (VEC4) {
      for (var kk = 0u; kk < BK; kk++) {
        let a0 = As[ao + (kk * ASTR) / 4u + ty];
        let a1 = As[ao + (kk * ASTR + BM / 2u) / 4u + ty];
        let b0 = Bs[bo + (kk * BSTR) / 4u + tx];
        let b1 = Bs[bo + (kk * BSTR + BN / 2u) / 4u + tx];
        for (var r = 0u; r < 4u; r++) {
          acc4[r * 2u] = fma(vec4<f32>(a0[r]), b0, acc4[r * 2u]);
          acc4[r * 2u + 1u] = fma(vec4<f32>(a0[r]), b1, acc4[r * 2u + 1u]);
          acc4[8u + r * 2u] = fma(vec4<f32>(a1[r]), b0, acc4[8u + r * 2u]);
          acc4[8u + r * 2u + 1u] = fma(vec4<f32>(a1[r]), b1, acc4[8u + r * 2u + 1u]);
        }
      }
    } else {
      for (var kk = 0u; kk < BK; kk++) {
        var a: array<f32, TM>;
        var c: array<f32, TN>;
        for (var i = 0u; i < TM; i++) { let q = kk * ASTR + ty + i * NTY; a[i] = As[ao + (q >> 2u)][q & 3u]; }
        for (var j = 0u; j < TN; j++) { let q = kk * BSTR + tx + j * NTX; c[j] = Bs[bo + (q >> 2u)][q & 3u]; }
        for (var i = 0u; i < TM; i++) {
          for (var j = 0u; j < TN; j++) { acc[i * TN + j] = fma(a[i], c[j], acc[i * TN + j]); }
        }
      }
    }
    if (DBUF) {
      ao = ASZ - ao;
      bo = BSZ - bo;
    } else {
      workgroupBarrier();
    }
  }
  let yb = b * P.ybs;
//#if VIEW4
  // the thread's pixels n0 + h * (BN/2) + tx*4 + 0..3: whole vec4s (npix % 4 == 0)
  let p0 = n0 + tx * 4u;
  if (RES && !SPLIT && !ACC) {
    for (var i = 0u; i < TM; i++) {
      let co = m0 + row_of(ty, i);
      for (var h = 0u; h < 2u; h++) {
        let p = p0 + h * (BN / 2u);
        if (co < P.co && p < npix) { acc4[i * 2u + h] += ld4_res(yb + co * npix + p); }
      }
    }
  }
  for (var i = 0u; i < TM; i++) {
    let co = m0 + row_of(ty, i);
    if (co >= P.co) { continue; }
    var bias = 0.0;
    if (!ACC && !SPLIT) { bias = ld_bias(P.co0 + co); }
    for (var h = 0u; h < 2u; h++) {
      let p = p0 + h * (BN / 2u);
      if (p < npix) {
        let o = yb + co * npix + p;
        if (SPLIT) {
          st4_part(sidx * P.pstride + o, acc4[i * 2u + h]);
        } else if (ACC) {
          st4_y(o, ld4_y(o) + acc4[i * 2u + h]);
        } else {
          st4_y(o, acc4[i * 2u + h] + bias);
        }
      }
    }
  }
//#else
  if (RES && !SPLIT && !ACC) {
    // every residual value first: loaded in between the stores to y (which
    // may alias them) each load would wait for the previous store
    for (var i = 0u; i < TM; i++) {
      let co = m0 + row_of(ty, i);
      for (var j = 0u; j < TN; j++) {
        let p = n0 + col_of(tx, j);
        if (co < P.co && p < npix) {
          let r = ld_res(yb + co * npix + p);
          if (VEC4) {
            acc4[i * 2u + j / 4u][j % 4u] += r;
          } else {
            acc[i * TN + j] += r;
          }
        }
      }
    }
  }
  for (var i = 0u; i < TM; i++) {
    let co = m0 + row_of(ty, i);
    if (co >= P.co) { continue; }
    var bias = 0.0;
    if (!ACC && !SPLIT) { bias = ld_bias(P.co0 + co); }
    for (var j = 0u; j < TN; j++) {
      let p = n0 + col_of(tx, j);
      var accv = acc[i * TN + j];
      if (VEC4) { accv = acc4[i * 2u + j / 4u][j % 4u]; }
      if (p < npix) {
        let o = yb + co * npix + p;
        if (SPLIT) {
          st_part(sidx * P.pstride + o, accv);
        } else if (ACC) {
          st_y(o, ld_y(o) + accv);
        } else {
          st_y(o, accv + bias);
        }
      }
    }
  }
//#endif
}
