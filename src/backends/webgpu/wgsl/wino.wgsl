// 3x3 stride-1 pad-1 convolution by Winograd F(2x2, 3x3), the GEMM part.
// The output is cut into 2x2 tiles; tile t of image b reads the 4x4 input
// patch at (2*ty - 1, 2*tx - 1). With U = G g G^T (the 3x3 filter g of
// (co, ci) taken to 4x4) and V = B^T d B (the patch d of channel ci taken to
// 4x4), each of the 16 elements alpha of a tile is one GEMM over ci:
//   M[alpha][co][q] = sum_ci U[alpha][co][ci] * V[alpha][ci][q]
// with q = b * tpi + t the tile's column. wino_out.wgsl then turns the 16
// values of (co, q) into the tile's 2x2 outputs (A^T M A) and adds the bias.
// That is 16 multiply-adds per 4 outputs and input channel instead of 36.
//
// Neither U nor V is ever stored: a weight-tile element is combined from its
// 1-9 filter taps as it is loaded (the taps alpha needs; alpha is the same
// for the whole workgroup, so the branches are uniform), an input-tile
// element from its 4 patch values (through the folded group norm / SiLU and
// the 2x upsampling, as conv.wgsl reads them). Only M goes to scratch.
//
//   G   = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//
// The tiling is conv.wgsl's VEC4 one: BM x BN per workgroup, 8 x 8 per
// thread as 2 x 2 blocks of 4 x 4 (vec4 reads of the workgroup tiles).
// consts: BM, BN, BK, UP2, NORM, NSILU
// params: ci, h, w (the convolution's input = output size; with UP2 the
//         upsampled size, sw the stored width), co, tw (tiles per row), tpi
//         (tiles per image), q0, nq (this dispatch's columns q0 .. q0+nq-1),
//         xbs (input batch stride), sw, wstride (weights per output channel),
//         nsplit, kper (split-K: slice s sums ci in [s*kper, (s+1)*kper)),
//         mstride (floats per split slice = 16 * co * nq)
// grid: (ceil(nq / BN), ceil(co / BM), 16 * nsplit); z = s * 16 + alpha
// writes part[s * mstride + (alpha * co + co_) * nq + (q - q0)]
const NTX: u32 = BN / 8u;
const NTY: u32 = BM / 8u;
const NT: u32 = NTX * NTY;
const BKS: u32 = NT / BN;
const NA: u32 = BM * BK / NT;
const NB: u32 = BK * BN / NT;
const ASTR: u32 = BM + 4u;
const BSTR: u32 = BN + 4u;
var<workgroup> As: array<vec4<f32>, BK * ASTR / 4u>;
var<workgroup> Bs: array<vec4<f32>, BK * BSTR / 4u>;

// One row of G applied to three taps.
fn grow(i: u32, g0: f32, g1: f32, g2: f32) -> f32 {
  if (i == 0u) { return g0; }
  if (i == 3u) { return g2; }
  if (i == 1u) { return 0.5 * (g0 + g1 + g2); }
  return 0.5 * (g0 - g1 + g2);
}
// Filter row r (3 taps from base + 3r) through G's row aj; loads only the taps needed.
fn wrow(base: u32, r: u32, aj: u32) -> f32 {
  let o = base + 3u * r;
  if (aj == 0u) { return ld_w(o); }
  if (aj == 3u) { return ld_w(o + 2u); }
  return grow(aj, ld_w(o), ld_w(o + 1u), ld_w(o + 2u));
}
// U[alpha = ai * 4 + aj] of the filter at base.
fn wino_u(base: u32, ai: u32, aj: u32) -> f32 {
  if (ai == 0u) { return wrow(base, 0u, aj); }
  if (ai == 3u) { return wrow(base, 2u, aj); }
  return grow(ai, wrow(base, 0u, aj), wrow(base, 1u, aj), wrow(base, 2u, aj));
}

fn load_a(e: u32, k0: u32, m0: u32, K: u32, ai: u32, aj: u32) -> f32 {
  let m = e / BK;
  let kk = e - m * BK;
  let co = m0 + m;
  let k = k0 + kk;
  if (co < P.co && k < K) { return wino_u(co * P.wstride + k * 9u, ai, aj); }
  return 0.0;
}

// V of channel k: its four patch values (0 outside the image), each through
// the folded norm (and SiLU) when there is one, combined at once. (Holding
// the raw values until the tile store, as conv.wgsl does, costs this kernel
// more registers than the hidden latency is worth: measured slower.)
fn load_b(k: u32, K: u32, xb: u32, hw: u32, b: u32, off: vec4<u32>, ok: vec4<bool>, coef: vec4<f32>) -> f32 {
  if (k >= K) { return 0.0; }
  let c = xb + k * hw;
  var x = vec4<f32>(0.0);
  if (ok.x) { x.x = ld_x(c + off.x); }
  if (ok.y) { x.y = ld_x(c + off.y); }
  if (ok.z) { x.z = ld_x(c + off.z); }
  if (ok.w) { x.w = ld_x(c + off.w); }
  if (NORM) {
    let g = (b * P.ci + k) * 2u;
    x = x * ld_gn(g) + ld_gn(g + 1u);
    if (NSILU) { x = x / (1.0 + exp(-x)); }
    x = select(vec4<f32>(0.0), x, ok);
  }
  return dot(x, coef);
}

// (offset in the stored input plane, inside?) of patch position (yy, xx)
fn patch_pos(yy: i32, xx: i32, pv: bool) -> vec2<u32> {
  if (!pv || yy < 0 || yy >= i32(P.h) || xx < 0 || xx >= i32(P.w)) { return vec2<u32>(0u, 0u); }
  if (UP2) { return vec2<u32>((u32(yy) >> 1u) * P.sw + (u32(xx) >> 1u), 1u); }
  return vec2<u32>(u32(yy) * P.w + u32(xx), 1u);
}

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let n0 = wid.x * BN;
  let m0 = wid.y * BM;
  let alpha = wid.z % 16u;
  let sidx = wid.z / 16u;
  let ai = alpha / 4u;
  let aj = alpha % 4u;
  let kbeg = sidx * P.kper;
  let K = min(P.ci, kbeg + P.kper);
  var hw = P.h * P.w;
  if (UP2) { hw = (P.h / 2u) * P.sw; }
  let tx = li % NTX;
  let ty = li / NTX;
  var acc4: array<vec4<f32>, 16>;
  for (var i = 0u; i < 16u; i++) { acc4[i] = vec4<f32>(0.0); }

  // This thread's B-tile column (one tile) and its four patch positions:
  // rows pa/pb of B^T's row ai, columns pa/pb of row aj.
  let bn = li % BN;
  let bk0 = li / BN;
  let ql = n0 + bn;
  let pv = ql < P.nq;
  let q = P.q0 + ql;
  let b = q / P.tpi;
  let t = q - b * P.tpi;
  let tyy = t / P.tw;
  let txx = t - tyy * P.tw;
  var pa = array<i32, 4>(0, 1, 2, 1);
  var pb = array<i32, 4>(2, 2, 1, 3);
  var sg = array<f32, 4>(-1.0, 1.0, -1.0, -1.0);
  let y0 = i32(2u * tyy) - 1;
  let x0 = i32(2u * txx) - 1;
  let ya = y0 + pa[ai];
  let yb = y0 + pb[ai];
  let xa = x0 + pa[aj];
  let xbb = x0 + pb[aj];
  let si = sg[ai];
  let sj = sg[aj];
  let coef = vec4<f32>(1.0, sj, si, si * sj);
  let p0 = patch_pos(ya, xa, pv);
  let p1 = patch_pos(ya, xbb, pv);
  let p2 = patch_pos(yb, xa, pv);
  let p3 = patch_pos(yb, xbb, pv);
  let off = vec4<u32>(p0.x, p1.x, p2.x, p3.x);
  let ok = vec4<bool>(p0.y != 0u, p1.y != 0u, p2.y != 0u, p3.y != 0u);
  let xb = b * P.xbs;

  var ra: array<f32, NA>;
  var rb: array<f32, NB>;
  for (var s = 0u; s < NA; s++) { ra[s] = load_a(li + s * NT, kbeg, m0, K, ai, aj); }
  for (var s = 0u; s < NB; s++) { rb[s] = load_b(kbeg + bk0 + s * BKS, K, xb, hw, b, off, ok, coef); }
  for (var k0 = kbeg; k0 < K; k0 += BK) {
    for (var s = 0u; s < NA; s++) {
      let e = li + s * NT;
      let m = e / BK;
      let kk = e - m * BK;
      As[(kk * ASTR + m) >> 2u][(kk * ASTR + m) & 3u] = ra[s];
    }
    for (var s = 0u; s < NB; s++) {
      let kk = bk0 + s * BKS;
      Bs[(kk * BSTR + bn) >> 2u][(kk * BSTR + bn) & 3u] = rb[s];
    }
    workgroupBarrier();
    if (k0 + BK < K) {
      for (var s = 0u; s < NA; s++) { ra[s] = load_a(li + s * NT, k0 + BK, m0, K, ai, aj); }
      for (var s = 0u; s < NB; s++) { rb[s] = load_b(k0 + BK + bk0 + s * BKS, K, xb, hw, b, off, ok, coef); }
    }
    for (var kk = 0u; kk < BK; kk++) {
      let a0 = As[(kk * ASTR) / 4u + ty];
      let a1 = As[(kk * ASTR + BM / 2u) / 4u + ty];
      let b0 = Bs[(kk * BSTR) / 4u + tx];
      let b1 = Bs[(kk * BSTR + BN / 2u) / 4u + tx];
      for (var r = 0u; r < 4u; r++) {
        acc4[r * 2u] = fma(vec4<f32>(a0[r]), b0, acc4[r * 2u]);
        acc4[r * 2u + 1u] = fma(vec4<f32>(a0[r]), b1, acc4[r * 2u + 1u]);
        acc4[8u + r * 2u] = fma(vec4<f32>(a1[r]), b0, acc4[8u + r * 2u]);
        acc4[8u + r * 2u + 1u] = fma(vec4<f32>(a1[r]), b1, acc4[8u + r * 2u + 1u]);
      }
    }
    workgroupBarrier();
  }
  let base = sidx * P.mstride + alpha * P.co * P.nq;
  for (var i = 0u; i < 8u; i++) {
    let co = m0 + (i / 4u) * (BM / 2u) + ty * 4u + (i % 4u);
    if (co >= P.co) { continue; }
    for (var j = 0u; j < 8u; j++) {
      let c = n0 + (j / 4u) * (BN / 2u) + tx * 4u + (j % 4u);
      if (c < P.nq) { st_part(base + co * P.nq + c, acc4[i * 2u + j / 4u][j % 4u]); }
    }
  }
}
