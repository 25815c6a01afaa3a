/* Kernel instance builder (internal to the WebGPU lowering).
 *
 * A kernel file (wgsl/<name>.wgsl) holds only the compute logic. It reads
 * and writes its operands through accessor functions and its parameters
 * through the uniform `P`; the builder generates, per dispatch, the WGSL
 * that declares them:
 *
 *   const BM: u32 = 64u;                    <- kb_const (part of the pipeline)
 *   struct Params { o_x: u32, n: u32, ... } <- element offsets + kb_u32/kb_f32
 *   @group(0) @binding(0) var<storage, read_write> b0: array<f32>;
 *   @group(0) @binding(1) var<uniform> P: Params;
 *   fn ld_x(i: u32) -> f32 { return b0[P.o_x + i]; }
 *   fn st_y(i: u32, v: f32) { b0[P.o_y + i] = v; }
 *
 * Accessors for an operand named `x`:
 *   f32 operands:    ld_x(i) -> f32, ld2_x(i) -> vec2<f32>, ld4_x(i) -> vec4<f32>,
 *                    st_x(i, v) (arena/scratch only)
 *   packed-f16:      ld_x(i) -> f32, ld2_x(i) / ld4_x(i) (i + offset even)
 *   i32 operands:    ldi_x(i) -> i32
 * A stub operand (kb_stub) gets an ld_x returning 0 and an st_x doing
 * nothing (ld2_x/ld4_x/st4_x likewise), for kernels with optional operands
 * (a conv without bias, or one writing split-K partials instead of y).
 *
 * With k->vec4 set, f32 bindings are arrays of vec4<f32>, so ld4_x(i) and
 * st4_x(i, v) are single 16-byte accesses (i + the operand's offset a
 * multiple of 4): 4 values per load instruction and one bounds clamp.
 * ld_x/st_x still work (one component of a vec4) but are best avoided in
 * hot code: on an H100 a GEMM epilogue storing single components of a
 * vec4 binding ran 10x slower. Operands a kernel reads one float at a
 * time (a convolution's im2col input) can stay plain with kb_scalar: they
 * then get bindings of their own. Every other f32 operand must start and
 * end on a 16-byte boundary; kb_vec4_ok says whether offsets and sizes
 * allow it.
 *
 * Operands in the same buffer share one binding when they fit in one
 * (alignment and max-binding permitting); overlapping operands must.
 *
 * A kernel file may keep alternative texts under a bool constant (for what
 * a WGSL `if` on a constant cannot choose, such as a workgroup array's
 * type): lines between "//#if NAME" (or "//#if !NAME"), an optional
 * "//#else" and "//#endif" are kept or dropped by the constant's value set
 * with kb_const_b. Unknown names and unbalanced lines are errors. */
#ifndef WSD_WEBGPU_KBUILD_H
#define WSD_WEBGPU_KBUILD_H

#include "backends/webgpu/lower.h"

#define KB_MAX_OPND 8
#define KB_MAX_PARAMS 56
#define KB_MAX_BOOLS 16

typedef struct kb_opnd {
    char name[12];
    uint8_t space;
    uint32_t index;
    uint64_t off, size; /* bytes */
    int type;           /* WGL_F32, WGL_I32, WGL_F16P; -1 = stub */
    int scalar;         /* stays a plain f32 array when k->vec4 is set (kb_scalar) */
} kb_opnd;

typedef struct kb {
    const char *kernel;
    char variant[24];
    char consts[768];
    size_t consts_len;
    kb_opnd op[KB_MAX_OPND];
    int n_op;
    char pname[KB_MAX_PARAMS][16];
    uint32_t pval[KB_MAX_PARAMS];
    char ptype[KB_MAX_PARAMS]; /* 'u', 'i', 'f' */
    int np;
    uint32_t grid[3];
    /* bool constants, also for the kernel text's //#if lines */
    char bname[KB_MAX_BOOLS][16];
    int bval[KB_MAX_BOOLS];
    int nbool;
    int subgroups; /* the kernel uses subgroup built-ins ("enable subgroups;"; the device must have them) */
    int vec4;      /* f32 bindings as array<vec4<f32>> (see above) */
} kb;

void kb_init(kb *k, const char *kernel, const char *variant);
void kb_const_u(kb *k, const char *name, uint32_t v);
void kb_const_b(kb *k, const char *name, int v);
void kb_u32(kb *k, const char *name, uint32_t v);
void kb_i32(kb *k, const char *name, int32_t v);
void kb_f32(kb *k, const char *name, float v);
void kb_opnd_raw(kb *k, const char *name, int space, uint32_t index, uint64_t off, uint64_t size, int type);
void kb_stub(kb *k, const char *name);
/* Sets the grid for `groups` workgroups along x (spilling into y when above
 * the per-dimension limit); the kernel computes its flat id with wg_flat(). */
void kb_grid_flat(kb *k, uint64_t groups, uint32_t max_per_dim);
void kb_grid(kb *k, uint32_t x, uint32_t y, uint32_t z);
/* Keeps operand `name` (already added) a plain f32 array under k->vec4. */
void kb_scalar(kb *k, const char *name);
/* 1 when every f32 operand added so far, other than kb_scalar ones, starts
 * and ends on a 16-byte boundary (what k->vec4 needs). */
int kb_vec4_ok(const kb *k);

/* The kernel text as kb_emit uses it: the //#if blocks resolved by k's
 * bool constants. Returns NULL and sets *out (the caller frees it), or
 * returns what is wrong (unknown name, unbalanced lines) and sets *out NULL. */
const char *kb_filter_text(const kb *k, const char *text, char **out);

/* Appends the dispatch to the program. */
wsd_status kb_emit(kb *k, wgl_prog *p, const gpu_caps *caps, int node, wsd_err *err);

#endif
