/* The operator graph: every model is written once as a graph of these
 * operators, with shapes inferred while it is built. The graph never depends
 * on which backend runs it; backends (src/backends/) lower each node to a
 * kernel, and the planner (plan.c) assigns every intermediate tensor an
 * offset in one arena from tensor lifetimes.
 *
 * Layouts: images and feature maps are NCHW ([N, C, H, W]); sequences are
 * [B, T, C] (channels last). Activations are float32; token ids are int32.
 * Weights keep the dtype they were stored in (F32, F16 or BF16); a backend
 * converts them as it likes.
 *
 * Building is "sticky on error" (as in ggml): a builder call that fails
 * records the first error in the graph and returns -1; later calls with a -1
 * operand return -1 too, so model code reads as a plain sequence of layers
 * and checks wg_failed() once at the end. */
#ifndef WSD_GRAPH_GRAPH_H
#define WSD_GRAPH_GRAPH_H

#include "core/dtype.h"
#include "core/error.h"

#include <stddef.h>
#include <stdint.h>

#define WG_MAX_DIMS 4
#define WG_MAX_INPUTS 4

typedef enum wg_op {
    WG_OP_NONE = 0,      /* inputs and weights: no producer node */
    /* y[N,Co,Ho,Wo] = conv(x[N,Ci,H,W], w[Co,Ci,kh,kw]) + b[Co]
     * ip: stride, pad_top, pad_left, pad_bottom, pad_right. in: x, w, b (b optional: -1) */
    WG_OP_CONV2D,
    /* y[..., N] = x[..., K] @ w[N,K]^T + b[N]; in: x, w, b (optional) */
    WG_OP_LINEAR,
    /* y = groupnorm(x[N,C,...]) * gamma[C] + beta[C], then SiLU if ip[1]
     * ip: groups, silu; fp: eps. in: x, gamma, beta */
    WG_OP_GROUP_NORM,
    /* y = layernorm over the last dim; fp: eps. in: x, gamma, beta */
    WG_OP_LAYER_NORM,
    /* y[B,Tq,Cv] = softmax(q k^T * scale [+ causal mask]) v, per head.
     * q[B,Tq,C], k[B,Tk,C], v[B,Tk,Cv]; ip: heads, causal; fp: scale */
    WG_OP_ATTENTION,
    WG_OP_SILU,          /* x * sigmoid(x) */
    WG_OP_GELU,          /* exact erf GELU */
    WG_OP_QUICK_GELU,    /* x * sigmoid(1.702 x) */
    /* y[..., F] = x[..., :F] * gelu(x[..., F:]) for x[..., 2F] */
    WG_OP_GEGLU,
    /* y = a + b / a * b with b broadcast to a (numpy rules, right-aligned;
     * b's dims are 1 or equal to a's). Output has a's shape. */
    WG_OP_ADD,
    WG_OP_MUL,
    WG_OP_SCALE,         /* y = x * fp[0] + fp[1] */
    WG_OP_CLAMP,         /* y = min(max(x, fp[0]), fp[1]) */
    WG_OP_CONCAT,        /* along dim ip[0]; in: a, b */
    WG_OP_SLICE,         /* along dim ip[0]: [ip[1], ip[1] + ip[2]) */
    /* [N,C,H,W] -> [N,C,ip0,ip1] nearest-neighbour (src = floor(dst * in / out)) */
    WG_OP_UPSAMPLE_NEAREST,
    /* y[B,T,C] = table[ids[B,T]]; in: ids (I32), table[V,C] */
    WG_OP_EMBEDDING,
    /* y[B,C] = sinusoidal features of t[B]: ip: C, flip_sin_to_cos; fp: freq_shift */
    WG_OP_TIMESTEP_EMBED,
    /* swaps the last two dims: [N,A,B] -> [N,B,A] (NCL <-> NLC) */
    WG_OP_TRANSPOSE,
    /* same data, new shape: a view, no kernel */
    WG_OP_RESHAPE,
    WG_OP_SOFTMAX,       /* over the last dim */
    /* A small program of element-wise linear combinations (wg_linprog):
     * in: prog[WG_LINPROG_LEN], a[Ra,...], b[Rb,...] and c[Rc,...] (b, c
     * optional: -1); ip[0]: scratch registers. y has a's shape. */
    WG_OP_LINPROG,
    WG_OP_COUNT
} wg_op;

const char *wg_op_name(wg_op op);

typedef enum wg_kind {
    WG_INPUT,    /* set before each run */
    WG_WEIGHT,   /* constant data owned by the model */
    WG_VALUE     /* produced by a node */
} wg_kind;

typedef struct wg_tensor {
    int ndim;
    int64_t shape[WG_MAX_DIMS];
    wsd_dtype dtype;
    wg_kind kind;
    int is_output;          /* read back after a run: lives until the end */
    int held;               /* WG_INPUT set rarely (once per image, not per step): see wg_held_nodes */
    const char *name;       /* inputs, weights, outputs (owned by the graph) */
    const void *data;       /* WG_WEIGHT: raw bytes in `dtype` (may be unaligned; NULL when planning without weights) */
    int producer;           /* node index, or -1 */
    int view_of;            /* shares the storage of this tensor (reshape, in-place), or -1 */
    /* filled by the planner */
    size_t nbytes;
    size_t offset;          /* in the arena (roots only; views use their root's) */
    int first_use, last_use;
} wg_tensor;

typedef struct wg_node {
    wg_op op;
    int out;
    int in[WG_MAX_INPUTS];
    int n_in;
    int32_t ip[6];
    float fp[2];
} wg_node;

/* Supplies model weights by name. Returns WSD_OK with *data (NULL allowed
 * when only planning) and *dtype, after checking the stored shape matches. */
typedef wsd_status (*wg_weight_fn)(void *user, const char *name, int ndim, const int64_t *shape,
                                   const void **data, wsd_dtype *dtype, wsd_err *err);

/* Streamed weights: copies bytes [offset, offset + n) of the weight whose
 * handle weight_fn gave as its data. */
typedef wsd_status (*wg_weight_read_fn)(void *user, const void *handle, size_t offset, void *dst, size_t n,
                                        wsd_err *err);

/* After every run, output `src` is copied into input `dst` (same element
 * count, 4-byte elements): loop state that stays with the backend from one
 * run to the next (a denoising loop's latents), never passing the host. */
typedef struct wg_link {
    int src, dst;
} wg_link_t;
#define WG_MAX_LINKS 4

typedef struct wg_graph {
    wg_tensor *t;
    int n_tensors, cap_tensors;
    wg_node *nodes;
    int n_nodes, cap_nodes;
    wg_weight_fn weight_fn;
    void *weight_user;
    /* Set in a graph whose weights are streamed (models/model.h:
     * model_graph_new_streamed): a weight's `data` is then an opaque handle,
     * never to be dereferenced, and its bytes come from wg_weight_read, piece
     * by piece, when the backend needs them. Only a backend that reads weights
     * through wg_weight_read (WebGPU) may be given such a graph. */
    wg_weight_read_fn weight_read;
    const char *prefix;      /* prepended to weight names (e.g. "unet.") */
    int failed;
    wsd_err err;
    int64_t n_params;        /* sum of weight element counts */
    /* Identifies the weight set (one loaded model). Backends cache uploaded
     * weights by (weights_uid, data pointer): a pointer alone is not enough,
     * since a freed model's mapping can be reused by the next one. */
    uint64_t weights_uid;
    wg_link_t links[WG_MAX_LINKS]; /* wg_link */
    int n_links;
} wg_graph;

/* Caller owns the graph (wg_free). weight_fn may be NULL: weights then have no data. */
wg_graph *wg_new(wg_weight_fn weight_fn, void *weight_user);
/* Copies bytes [offset, offset + n) of weight t's data into dst: through
 * weight_read in a streamed graph, else from t's data in memory. */
wsd_status wg_weight_read(const wg_graph *g, int t, size_t offset, void *dst, size_t n, wsd_err *err);
void wg_free(wg_graph *g);
int wg_failed(const wg_graph *g);
/* Copies the sticky error into err and returns its code (WSD_OK if none). */
wsd_status wg_status(const wg_graph *g, wsd_err *err);

/* ---- leaves ---- */
int wg_input(wg_graph *g, const char *name, wsd_dtype dt, int ndim, const int64_t *shape);
int wg_weight(wg_graph *g, const char *name, int ndim, const int64_t *shape);
/* Marks t as a graph output under `name` (kept alive to the end, readable after a run). */
void wg_output(wg_graph *g, int t, const char *name);

/* Declares that after each run output `src` becomes input `dst` (see
 * wg_link_t). src must be an output, dst an input with as many elements. */
void wg_link(wg_graph *g, int src, int dst);

/* ---- operators (return the output tensor id, or -1) ---- */
int wg_conv2d(wg_graph *g, int x, int w, int b, int stride, int pad_t, int pad_l, int pad_b, int pad_r);
int wg_linear(wg_graph *g, int x, int w, int b);
int wg_group_norm(wg_graph *g, int x, int gamma, int beta, int groups, float eps, int fuse_silu);
int wg_layer_norm(wg_graph *g, int x, int gamma, int beta, float eps);
int wg_attention(wg_graph *g, int q, int k, int v, int heads, int causal, float scale);
int wg_unary(wg_graph *g, wg_op op, int x); /* SILU, GELU, QUICK_GELU, GEGLU, SOFTMAX */
int wg_add(wg_graph *g, int a, int b);
int wg_mul(wg_graph *g, int a, int b);
int wg_scale(wg_graph *g, int x, float mul, float add);
int wg_clamp(wg_graph *g, int x, float lo, float hi);
int wg_concat(wg_graph *g, int a, int b, int dim);
int wg_slice(wg_graph *g, int x, int dim, int64_t start, int64_t len);
int wg_upsample_nearest(wg_graph *g, int x, int64_t out_h, int64_t out_w);
int wg_embedding(wg_graph *g, int ids, int table);
int wg_timestep_embed(wg_graph *g, int t, int channels, int flip_sin_to_cos, float freq_shift);
int wg_transpose(wg_graph *g, int x);
int wg_reshape(wg_graph *g, int x, int ndim, const int64_t *shape);

/* Linear programs over rows: one denoising step's guidance and scheduler
 * update, run where the tensors live. Every input is a stack of rows of the
 * same length L (row r of a[Ra, ...] is its elements [r*L, (r+1)*L)). For
 * each element j < L, registers hold a's rows, then b's, then c's, then
 * `scratch` zeros; the program (a float tensor, set like any input) runs on
 * them in order, and y (a's shape) receives a's registers at the end.
 *
 * prog[0] = number of ops (<= WG_LINPROG_MAX_OPS); op k is the
 * WG_LINPROG_OPW values from 1 + k * WG_LINPROG_OPW:
 *   kind, dst, n_terms, clamp, src0, coeff0, src1, coeff1, ...
 * kind 0: r[dst] = c0*r[s0] + c1*r[s1] + ... (products first, summed left
 *         to right), then limited to [-clamp, clamp] when clamp > 0;
 * kind 1: r[dst] = r[s0] + c0 * (r[s1] - r[s0]) (classifier-free guidance).
 * kind 2: r[dst] = r[s0] / c0 (a model input scaled as torch does it).
 * Register indices and counts are small integers stored as floats. */
#define WG_LINPROG_MAX_OPS 8
#define WG_LINPROG_MAX_TERMS 6
#define WG_LINPROG_MAX_REGS 16
#define WG_LINPROG_OPW (4 + 2 * WG_LINPROG_MAX_TERMS)
#define WG_LINPROG_LEN (1 + WG_LINPROG_MAX_OPS * WG_LINPROG_OPW)
int wg_linprog(wg_graph *g, int prog, int a, int b, int c, int scratch);
/* Checks a program against `regs` registers: 0 if valid, else -1 with a message. */
int wg_linprog_check(const float *prog, int regs, char *msg, size_t cap);
/* The reference: runs `prog` (checked) on rows of length L (b, c may be
 * NULL when Rb, Rc are 0); scratch registers start at zero. */
void wg_linprog_run(const float *prog, const float *a, int ra, const float *b, int rb, const float *c, int rc,
                    float *y, int64_t L);
/* Host-memory backends (the CPU ones) share these: `ptr` gives tensor t's
 * storage in the exec `user`. wg_links_run_host copies every link's output
 * into its input (after a run); wg_copy_host checks and copies tensor src_t
 * of graph sg into input dst_t of graph dg (the backend table's copy_tensor). */
void wg_links_run_host(const wg_graph *g, float *(*ptr)(void *user, int t), void *user);
wsd_status wg_copy_host(const wg_graph *dg, int dst_t, float *dst, const wg_graph *sg, int src_t, const float *src,
                        wsd_err *err);
/* Node n (a WG_OP_LINPROG) on host memory: checks the program, then runs it
 * (the CPU backends' kernel). Inputs in node order: prog, a, b, c. */
wsd_status wg_linprog_node(const wg_graph *g, const wg_node *n, const float *prog, const float *a, const float *b,
                           const float *c, float *y, wsd_err *err);

/* ---- helpers ---- */
int64_t wg_numel(const wg_tensor *t);
/* Finds an input or output by name; -1 if absent. */
int wg_find(const wg_graph *g, const char *name);
/* Storage root of a tensor (follows view_of). */
int wg_root(const wg_graph *g, int t);
/* Convenience for shapes: WG_SHAPE(a, b, c) -> (const int64_t[]){a, b, c} */
#define WG_SHAPE(...) ((const int64_t[]){__VA_ARGS__})
#define WG_NDIM(...) ((int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))

/* held[i] = 1 for each node that reads only weights and values derived from
 * held inputs (at least one of those): its result stays valid until a held
 * input is set again, so a backend may skip it on the runs in between (the
 * UNet's cross-attention keys and values, from the text embeddings, on every
 * denoising step but the first). The planner keeps what such nodes produce
 * for the whole run. `held` has g->n_nodes entries. */
void wg_held_nodes(const wg_graph *g, char *held);

/* Multiply-adds of a node, for GFLOP/s reports (2 FLOP each). */
double wg_node_flops(const wg_graph *g, const wg_node *n);

/* ---- memory planning (plan.c) ---- */
typedef struct wg_plan {
    /* input: when non-zero, no tensor may straddle a multiple of chunk_bytes,
     * so a backend can back the arena with several buffers of that size. */
    size_t chunk_bytes;
    /* outputs */
    size_t arena_bytes;      /* one arena holds every input, output and intermediate */
    size_t naive_bytes;      /* sum of all their sizes (no reuse) */
    size_t weight_bytes;     /* stored weight bytes referenced by the graph */
    size_t largest_tensor;   /* biggest single activation */
} wg_plan;

/* Assigns offsets (tensor.offset) so that no two tensors whose lifetimes
 * overlap share a byte (inputs and outputs live for the whole run, so an
 * input set once stays valid for every later run); element-wise ops reuse their input in place when the
 * input dies there. Alignment 256 bytes (WebGPU's storage offset alignment). */
wsd_status wg_plan_memory(wg_graph *g, wg_plan *plan, wsd_err *err);
/* Independent check of a plan: returns 0 if valid, else -1 with a message. */
int wg_plan_verify(const wg_graph *g, const wg_plan *plan, char *msg, size_t cap);

#endif
