// 2-D convolution, reference variant: one thread per output element,
// summing over (ci, ky, kx) in the CPU reference's order. Same operands and
// parameters as conv.wgsl. consts: WG, KH, KW, STRIDE, ACC
// params: n (outputs in this dispatch), ci, h, w, co, ho, wo, pad_t, pad_l,
//         xbs, ybs, wstride, wk0, co0
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let e = wg_flat(wid, nwg) * WG + li;
  if (e >= P.n) { return; }
  let npix = P.ho * P.wo;
  let p = e % npix;
  let r = e / npix;
  let co = r % P.co;
  let b = r / P.co;
  let oy = p / P.wo;
  let ox = p - oy * P.wo;
  var s = 0.0;
  for (var ci = 0u; ci < P.ci; ci++) {
    for (var ky = 0u; ky < KH; ky++) {
      let iy = i32(oy * STRIDE + ky) - P.pad_t;
      if (iy < 0 || iy >= i32(P.h)) { continue; }
      for (var kx = 0u; kx < KW; kx++) {
        let ix = i32(ox * STRIDE + kx) - P.pad_l;
        if (ix < 0 || ix >= i32(P.w)) { continue; }
        let wv = ld_w((P.co0 + co) * P.wstride + P.wk0 + (ci * KH + ky) * KW + kx);
        s = fma(wv, ld_x(b * P.xbs + (ci * P.h + u32(iy)) * P.w + u32(ix)), s);
      }
    }
  }
  let o = b * P.ybs + co * npix + p;
  if (ACC) { st_y(o, ld_y(o) + s); } else { st_y(o, s + ld_bias(P.co0 + co)); }
}
