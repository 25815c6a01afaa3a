// y[n, c, r] = x[n, r, c] for x[N, R, C], through a TILE x TILE tile.
// consts: TILE; params: rows (R), cols (C)
// grid: (ceil(C / TILE), ceil(R / TILE), N)
var<workgroup> tile: array<f32, TILE * (TILE + 1u)>;

@compute @workgroup_size(TILE, TILE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let base = wid.z * P.rows * P.cols;
  let c = wid.x * TILE + lid.x;
  let r = wid.y * TILE + lid.y;
  if (r < P.rows && c < P.cols) { tile[lid.y * (TILE + 1u) + lid.x] = ld_x(base + r * P.cols + c); }
  workgroupBarrier();
  let oc = wid.y * TILE + lid.x;  // output column = input row
  let orow = wid.x * TILE + lid.y; // output row = input column
  if (orow < P.cols && oc < P.rows) { st_y(base + orow * P.rows + oc, tile[lid.x * (TILE + 1u) + lid.y]); }
}
