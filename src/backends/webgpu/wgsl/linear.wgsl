// y[m, n] = sum_k x[m, k] * w[n, k] + bias[n], tiled through workgroup memory.
// Workgroup tile BM rows x BN columns, thread tile TM x TN (strided).
// consts: BM, BN, BK, TM, TN, SPLIT (split-K: workgroup z = s sums k in
//         [s*kper, (s+1)*kper) and writes partial sums without bias to
//         part[s * pstride + row * n + col]; splitk_reduce.wgsl adds them)
//         GEGLU (the output is x * gelu(gate) of the two halves of the
//         product: w has 2n rows; a workgroup's tile holds BN/2 columns of
//         each half so every thread owns matching value/gate pairs)
//         DBUF (two tile copies, one barrier per k-step; see the tiles)
//         RES (add operand res, a residual laid out as y; with SPLIT the
//         reduction adds it instead)
//         VIEW4 (f32 bindings are vec4 arrays, kb_vec4; VEC4 tiles, k and n
//         multiples of 4): tile loads take 4 consecutive k at once (one
//         16-byte x load, one 8-byte f16 weight load) and the epilogue
//         reads and writes whole vec4s. Reading or writing single floats
//         of a vec4 binding instead made some of these GEMMs 10x slower on
//         an H100 (GEGLU, the VAE's projections), so this path has none.
// params: m, n, k, kper, pstride
// grid: (ceil(n / BN), ceil(m / BM), nsplit), or ceil(n / (BN/2)) with GEGLU
const NTX: u32 = BN / TN;
const NTY: u32 = BM / TM;
const NT: u32 = NTX * NTY;
const NA: u32 = BM * BK / NT; // x-tile elements per thread
const NB: u32 = BN * BK / NT; // weight-tile elements per thread

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

// x tile element: row m0 + e / BK, column k0 + e % BK
fn load_a(e: u32, k0: u32, m0: u32, kend: u32) -> f32 {
  let r = e / BK;
  let kk = e - r * BK;
  let row = m0 + r;
  let k = k0 + kk;
  if (row < P.m && k < kend) { return ld_x(row * P.k + k); }
  return 0.0;
}

// weight tile element: tile column e / BK (with GEGLU, the left half maps to
// the value rows and the right half to the gate rows), k0 + e % BK
fn load_b(e: u32, k0: u32, n0: u32, kend: u32) -> f32 {
  let c = e / BK;
  let kk = e - c * BK;
  var col = n0 + c;
  var wrow = col;
  if (GEGLU) {
    let half = c / (BN / 2u);
    col = n0 + c - half * (BN / 2u);
    wrow = col + half * P.n;
  }
  let k = k0 + kk;
  if (col < P.n && k < kend) { return ld_w(wrow * P.k + k); }
  return 0.0;
}

fn erf_approx4(x: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(erf_approx(x.x), erf_approx(x.y), erf_approx(x.z), erf_approx(x.w));
}

// VIEW4: quad q of the x tile is row q / BK4, k from k0 + (q % BK4) * 4
const BK4: u32 = BK / 4u;
fn load_a4(q: u32, k0: u32, m0: u32, kend: u32) -> vec4<f32> {
  let r = q / BK4;
  let row = m0 + r;
  let k = k0 + (q - r * BK4) * 4u;
  if (row < P.m && k < kend) { return ld4_x(row * P.k + k); }
  return vec4<f32>(0.0);
}
fn load_b4(q: u32, k0: u32, n0: u32, kend: u32) -> vec4<f32> {
  let c = q / BK4;
  var col = n0 + c;
  var wrow = col;
  if (GEGLU) {
    let half = c / (BN / 2u);
    col = n0 + c - half * (BN / 2u);
    wrow = col + half * P.n;
  }
  let k = k0 + (q - c * BK4) * 4u;
  if (col < P.n && k < kend) { return ld4_w(wrow * P.k + k); }
  return vec4<f32>(0.0);
}

// erf with |error| < 1.5e-7 (Abramowitz & Stegun 7.1.26), as geglu.wgsl
fn erf_approx(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * z);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let r = 1.0 - poly * exp(-z * z);
  return select(r, -r, x < 0.0);
}

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  var n0 = wid.x * BN;
  if (GEGLU) { n0 = wid.x * (BN / 2u); }
  let m0 = wid.y * BM;
  let tx = li % NTX;
  let ty = li / NTX;
  var kbeg = 0u;
  var kend = P.k;
  if (SPLIT) {
    kbeg = wid.z * P.kper;
    kend = min(P.k, kbeg + P.kper);
  }
  var acc: array<f32, TM * TN>;
  for (var i = 0u; i < TM * TN; i++) { acc[i] = 0.0; }
  var acc4: array<vec4<f32>, 16>; // VEC4: [row i][column half h] at i * 2 + h
  for (var i = 0u; i < 16u; i++) { acc4[i] = vec4<f32>(0.0); }
  // Software pipelining: the next k-step's global loads go to registers
  // before the current step's arithmetic.
//#if VIEW4
  var ra4: array<vec4<f32>, NA / 4u>;
  var rb4: array<vec4<f32>, NB / 4u>;
  for (var t = 0u; t < NA / 4u; t++) { ra4[t] = load_a4(li + t * NT, kbeg, m0, kend); }
  for (var t = 0u; t < NB / 4u; t++) { rb4[t] = load_b4(li + t * NT, kbeg, n0, kend); }
//#else
  var ra: array<f32, NA>;
  var rb: array<f32, NB>;
  for (var t = 0u; t < NA; t++) { ra[t] = load_a(li + t * NT, kbeg, m0, kend); }
  for (var t = 0u; t < NB; t++) { rb[t] = load_b(li + t * NT, kbeg, n0, kend); }
//#endif
  var ao = 0u; // the tile copies this k-step uses (DBUF)
  var bo = 0u;
  for (var k0 = kbeg; k0 < kend; k0 += BK) {
//#if VIEW4
    for (var t = 0u; t < NA / 4u; t++) {
      let q = li + t * NT;
      let r = q / BK4;
      let kk = (q - r * BK4) * 4u;
      for (var j = 0u; j < 4u; j++) {
        let o = (kk + j) * ASTR + r;
        As[ao + (o >> 2u)][o & 3u] = ra4[t][j];
      }
    }
    for (var t = 0u; t < NB / 4u; t++) {
      let q = li + t * NT;
      let c = q / BK4;
      let kk = (q - c * BK4) * 4u;
      for (var j = 0u; j < 4u; j++) {
        let o = (kk + j) * BSTR + c;
        Bs[bo + (o >> 2u)][o & 3u] = rb4[t][j];
      }
    }
//#else
    for (var t = 0u; t < NA; t++) {
      let e = li + t * NT;
      let r = e / BK;
      let kk = e - r * BK;
      As[ao + ((kk * ASTR + r) >> 2u)][(kk * ASTR + r) & 3u] = ra[t];
    }
    for (var t = 0u; t < NB; t++) {
      let e = li + t * NT;
      let c = e / BK;
      let kk = e - c * BK;
      Bs[bo + ((kk * BSTR + c) >> 2u)][(kk * BSTR + c) & 3u] = rb[t];
    }
//#endif
    workgroupBarrier();
    if (k0 + BK < kend) {
//#if VIEW4
      for (var t = 0u; t < NA / 4u; t++) { ra4[t] = load_a4(li + t * NT, k0 + BK, m0, kend); }
      for (var t = 0u; t < NB / 4u; t++) { rb4[t] = load_b4(li + t * NT, k0 + BK, n0, kend); }
//#else
      for (var t = 0u; t < NA; t++) { ra[t] = load_a(li + t * NT, k0 + BK, m0, kend); }
      for (var t = 0u; t < NB; t++) { rb[t] = load_b(li + t * NT, k0 + BK, n0, kend); }
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
//#if VIEW4
  // f32 bindings are vec4 arrays (kb_vec4; VEC4 tiles, n % 4 == 0): the
  // thread's columns n0 + h * (BN/2) + tx*4 + 0..3 are whole vec4s, read
  // and written as such (the same arithmetic per component as below).
  let c0 = n0 + tx * 4u;
  if (GEGLU) {
    for (var i = 0u; i < TM; i++) {
      let row = m0 + row_of(ty, i);
      if (row >= P.m || c0 >= P.n) { continue; }
      let a = acc4[i * 2u] + ld4_bias(c0);
      let g = acc4[i * 2u + 1u] + ld4_bias(P.n + c0);
      st4_y(row * P.n + c0, a * (0.5 * g * (1.0 + erf_approx4(g * 0.70710678118654752))));
    }
    return;
  }
  if (RES && !SPLIT) {
    for (var i = 0u; i < TM; i++) {
      let row = m0 + row_of(ty, i);
      for (var h = 0u; h < 2u; h++) {
        let col = c0 + h * (BN / 2u);
        if (row < P.m && col < P.n) { acc4[i * 2u + h] += ld4_res(row * P.n + col); }
      }
    }
  }
  for (var i = 0u; i < TM; i++) {
    let row = m0 + row_of(ty, i);
    if (row >= P.m) { continue; }
    for (var h = 0u; h < 2u; h++) {
      let col = c0 + h * (BN / 2u);
      if (col < P.n) {
        if (SPLIT) {
          st4_part(wid.z * P.pstride + row * P.n + col, acc4[i * 2u + h]);
        } else {
          st4_y(row * P.n + col, acc4[i * 2u + h] + ld4_bias(col));
        }
      }
    }
  }
//#else
  if (GEGLU) {
    for (var i = 0u; i < TM; i++) {
      let row = m0 + row_of(ty, i);
      if (row >= P.m) { continue; }
      for (var j = 0u; j < TN / 2u; j++) {
        let col = n0 + col_of(tx, j);
        var av = acc[i * TN + j];
        var gv = acc[i * TN + j + TN / 2u];
        if (VEC4) {
          av = acc4[i * 2u][j];
          gv = acc4[i * 2u + 1u][j];
        }
        if (col < P.n) {
          let a = av + ld_bias(col);
          let g = gv + ld_bias(P.n + col);
          st_y(row * P.n + col, a * (0.5 * g * (1.0 + erf_approx(g * 0.70710678118654752))));
        }
      }
    }
    return;
  }
  if (RES && !SPLIT) {
    // every residual value first: loaded in between the stores to y (which
    // may alias them) each load would wait for the previous store
    for (var i = 0u; i < TM; i++) {
      let row = m0 + row_of(ty, i);
      for (var j = 0u; j < TN; j++) {
        let col = n0 + col_of(tx, j);
        if (row < P.m && col < P.n) {
          let r = ld_res(row * P.n + col);
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
    let row = m0 + row_of(ty, i);
    if (row >= P.m) { continue; }
    for (var j = 0u; j < TN; j++) {
      let col = n0 + col_of(tx, j);
      var accv = acc[i * TN + j];
      if (VEC4) { accv = acc4[i * 2u + j / 4u][j % 4u]; }
      if (col < P.n) {
        if (SPLIT) {
          st_part(wid.z * P.pstride + row * P.n + col, accv);
        } else {
          st_y(row * P.n + col, accv + ld_bias(col));
        }
      }
    }
  }
//#endif
}
