// 3x3 stride-1 convolution as nine shifted GEMMs over a 2-D pixel tile.
//   y[b, co, oy, ox] (+)= sum_{ci, ky, kx} w[co, ci, ky, kx] * x'[b, ci, oy + ky - pad_t, ox + kx - pad_l]
// where x' is x read through the optional 2x nearest upsampling (UP2) and
// group norm (+ SiLU) (NORM, NSILU: x * scale + shift, coefficients from
// gn_combine.wgsl (COEF), applied when the patch is stored), zero outside the image.
// A workgroup computes BM output channels x a TH x TW tile of output pixels
// (BN = TH * TW) and walks the input channels CB = BK / 9 at a time. Per
// step it stages the weights [BK][BM] and the input patch of those channels
// with its one-pixel halo; each patch element is loaded (and normalised)
// once, then stored three times, shifted by kx = 0, 1, 2, so that the inner
// loop reads every operand as an aligned vec4 (as conv.wgsl's VEC4 layout:
// TM = TN = 8, a thread's pixels are two groups of 4 consecutive tile
// pixels BN/2 apart, i.e. (BN/2)/TW tile rows apart).
// consts: BM, BN, BK, TM, TN, TH, TW, ACC, SPLIT, UP2, NORM, NSILU
//   (the rest of conv.wgsl's constants are accepted and unused)
// params: as conv.wgsl (kper counts k = 9 * channels, a multiple of BK)
// grid: (ceil(ho / TH) * ceil(wo / TW), ceil(co / BM), batch * nsplit)
const NTX: u32 = BN / TN;
const NTY: u32 = BM / TM;
const NT: u32 = NTX * NTY;
const CB: u32 = BK / 9u;
const PH: u32 = TH + 2u;
const PW2: u32 = TW + 2u;
const PFULL: u32 = CB * PH * PW2; // the patch with its halo
const PCOPY: u32 = CB * PH * TW;  // one kx-shifted copy
const NA: u32 = (BM * BK + NT - 1u) / NT;
const NP: u32 = (PFULL + NT - 1u) / NT;
const ASTR: u32 = BM + 4u;
const TW4: u32 = TW / 4u;
const HR: u32 = (BN / 2u) / TW; // tile rows between a thread's two pixel groups
var<workgroup> As: array<vec4<f32>, BK * ASTR / 4u>;
var<workgroup> Ps: array<vec4<f32>, 3u * PCOPY / 4u>; // [kx][c][row][col]

// weight tile element e: output channel m0 + e / BK, k = c0 * 9 + e % BK
fn load_a(e: u32, c0: u32, m0: u32, cend: u32) -> f32 {
  let m = e / BK;
  let kk = e - m * BK;
  let co = m0 + m;
  if (e < BM * BK && co < P.co && c0 + kk / 9u < cend) {
    return ld_w((P.co0 + co) * P.wstride + P.wk0 + c0 * 9u + kk);
  }
  return 0.0;
}

// patch element e: channel c0 + e / (PH * PW2), patch row and column, as
// (raw x, scale, shift) like conv.wgsl's load_b (zero outside the image)
fn load_p(e: u32, c0: u32, cend: u32, iy0: i32, ix0: i32, xb: u32, hw: u32, b: u32) -> vec3<f32> {
  let ci = e / (PH * PW2);
  let r = e - ci * (PH * PW2);
  let py = r / PW2;
  let px = r - py * PW2;
  let c = c0 + ci;
  let iy = iy0 + i32(py);
  let ix = ix0 + i32(px);
  var v = vec3<f32>(0.0);
  if (e < PFULL && c < cend && iy >= 0 && iy < i32(P.h) && ix >= 0 && ix < i32(P.w)) {
    if (UP2) {
      v.x = ld_x(xb + c * hw + (u32(iy) >> 1u) * P.sw + (u32(ix) >> 1u));
    } else {
      v.x = ld_x(xb + c * hw + u32(iy) * P.w + u32(ix));
    }
    if (NORM) {
      let g = (b * P.ci + c) * 2u;
      v.y = ld_gn(g);
      v.z = ld_gn(g + 1u);
    }
  }
  return v;
}

fn store_p(e: u32, raw: vec3<f32>) {
  if (e >= PFULL) { return; }
  var v = raw.x;
  if (NORM) {
    v = raw.x * raw.y + raw.z;
    if (NSILU) { v = v / (1.0 + exp(-v)); }
  }
  let ci = e / (PH * PW2);
  let r = e - ci * (PH * PW2);
  let py = r / PW2;
  let px = r - py * PW2;
  for (var kx = 0u; kx < 3u; kx++) {
    if (px >= kx && px - kx < TW) {
      let q = ((kx * CB + ci) * PH + py) * TW + px - kx;
      Ps[q >> 2u][q & 3u] = v;
    }
  }
}

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tiles_x = (P.wo + TW - 1u) / TW;
  let tyi = wid.x / tiles_x;
  let txi = wid.x - tyi * tiles_x;
  let oy0 = tyi * TH;
  let ox0 = txi * TW;
  let iy0 = i32(oy0) - P.pad_t;
  let ix0 = i32(ox0) - P.pad_l;
  let m0 = wid.y * BM;
  var b = wid.z;
  var cbeg = 0u;
  var cend = P.ci;
  var sidx = 0u;
  if (SPLIT) {
    b = wid.z / P.nsplit;
    sidx = wid.z - b * P.nsplit;
    cbeg = sidx * (P.kper / 9u);
    cend = min(P.ci, cbeg + P.kper / 9u);
  }
  var hw = P.h * P.w;
  if (UP2) { hw = (P.h / 2u) * P.sw; } // stored plane
  let xb = b * P.xbs;
  let tx = li % NTX;
  let ty = li / NTX;
  let pr0 = (tx * 4u) / TW;         // tile row of the thread's first pixel group
  let pc4 = ((tx * 4u) % TW) / 4u;  // its column, in vec4s
  var acc4: array<vec4<f32>, 16>;    // [row i][column half h] at i * 2 + h
  for (var i = 0u; i < 16u; i++) { acc4[i] = vec4<f32>(0.0); }
  var ra: array<f32, NA>;
  var rp: array<vec3<f32>, NP>;
  for (var t = 0u; t < NA; t++) { ra[t] = load_a(li + t * NT, cbeg, m0, cend); }
  for (var t = 0u; t < NP; t++) { rp[t] = load_p(li + t * NT, cbeg, cend, iy0, ix0, xb, hw, b); }
  for (var c0 = cbeg; c0 < cend; c0 += CB) {
    for (var t = 0u; t < NA; t++) {
      let e = li + t * NT;
      if (e < BM * BK) {
        let m = e / BK;
        let kk = e - m * BK;
        As[(kk * ASTR + m) >> 2u][(kk * ASTR + m) & 3u] = ra[t];
      }
    }
    for (var t = 0u; t < NP; t++) { store_p(li + t * NT, rp[t]); }
    workgroupBarrier();
    if (c0 + CB < cend) {
      for (var t = 0u; t < NA; t++) { ra[t] = load_a(li + t * NT, c0 + CB, m0, cend); }
      for (var t = 0u; t < NP; t++) { rp[t] = load_p(li + t * NT, c0 + CB, cend, iy0, ix0, xb, hw, b); }
    }
    for (var ci = 0u; ci < CB; ci++) {
      for (var ky = 0u; ky < 3u; ky++) {
        for (var kx = 0u; kx < 3u; kx++) {
          let kk = ci * 9u + ky * 3u + kx;
          let a0 = As[(kk * ASTR) / 4u + ty];
          let a1 = As[(kk * ASTR + BM / 2u) / 4u + ty];
          let pb = ((kx * CB + ci) * PH + pr0 + ky) * TW4 + pc4;
          let b0 = Ps[pb];
          let b1 = Ps[pb + HR * TW4];
          for (var r = 0u; r < 4u; r++) {
            acc4[r * 2u] = fma(vec4<f32>(a0[r]), b0, acc4[r * 2u]);
            acc4[r * 2u + 1u] = fma(vec4<f32>(a0[r]), b1, acc4[r * 2u + 1u]);
            acc4[8u + r * 2u] = fma(vec4<f32>(a1[r]), b0, acc4[8u + r * 2u]);
            acc4[8u + r * 2u + 1u] = fma(vec4<f32>(a1[r]), b1, acc4[8u + r * 2u + 1u]);
          }
        }
      }
    }
    workgroupBarrier();
  }
  let npix = P.ho * P.wo;
  let yb = b * P.ybs;
  for (var i = 0u; i < 8u; i++) {
    let co = m0 + (i / 4u) * (BM / 2u) + ty * 4u + (i % 4u);
    if (co >= P.co) { continue; }
    var bias = 0.0;
    if (!ACC && !SPLIT) { bias = ld_bias(P.co0 + co); }
    for (var j = 0u; j < 8u; j++) {
      let c = (j / 4u) * (BN / 2u) + tx * 4u + (j % 4u); // tile pixel
      let oy = oy0 + c / TW;
      let ox = ox0 + c % TW;
      if (oy < P.ho && ox < P.wo) {
        let o = yb + co * npix + oy * P.wo + ox;
        let accv = acc4[i * 2u + j / 4u][j % 4u];
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
}
