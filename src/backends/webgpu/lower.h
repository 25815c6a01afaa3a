/* Lowering a planned graph to a WebGPU program, without touching a GPU.
 *
 * The result (wgl_prog) is a flat list of dispatches and copies, each naming
 * its WGSL text (deduplicated into pipelines), its buffer bindings as
 * (space, index, offset, size), its uniform parameters and its grid. The
 * backend turns it into GPU objects once and replays the command list every
 * run. Because nothing here needs a device, tests can lower the real SD 1.5
 * graphs at 512x512 under the spec-default limits and check every binding.
 *
 * Memory spaces a binding can point into:
 *   ARENA   activations: the graph's arena, split into chunks of at most
 *           maxBufferSize; the planner guarantees no tensor straddles a chunk.
 *   WEIGHT  weights, owned by the backend (resolved through a callback).
 *   SCRATCH per-exec scratch (group-norm partial statistics).
 *   CONST   per-exec constants (e.g. timestep frequencies), uploaded once.
 *   PARAMS  the per-dispatch uniform blocks, 256 bytes each, uploaded once.
 *
 * Binding rules enforced here (WebGPU validation would reject otherwise):
 *   - no binding larger than caps.max_storage_binding; big tensors are split
 *     into several dispatches over sub-ranges;
 *   - binding offsets aligned to caps.min_storage_align (operands inside a
 *     binding are addressed with element offsets passed as parameters);
 *   - every ARENA/SCRATCH binding is read_write and WEIGHT/CONST bindings are
 *     read-only, so one buffer is never both in one dispatch; overlapping
 *     operands (in-place ops, the same tensor twice) share one binding;
 *   - at most caps.max_storage_buffers storage bindings per dispatch;
 *   - workgroup counts per dimension within caps.max_workgroups_per_dim. */
#ifndef WSD_WEBGPU_LOWER_H
#define WSD_WEBGPU_LOWER_H

#include "backends/webgpu/gpu.h"
#include "graph/graph.h"

enum { WGL_ARENA = 0, WGL_WEIGHT, WGL_SCRATCH, WGL_CONST, WGL_PARAMS, WGL_NSPACES };

/* Element types an operand can have. F16P: IEEE halves packed two per u32
 * (element i of the operand is half (i & 1) of word i >> 1). */
enum { WGL_F32 = 0, WGL_I32, WGL_F16P };

#define WGL_PARAM_BYTES 256 /* one uniform block per dispatch */
#define WGL_MAX_BINDINGS 10
#define WGL_MAX_PARTS 8
/* Split-K partial sums (nsplit x the output, in scratch) are kept within
 * this many bytes: more slices are cut back (GPU memory target of issue 5). */
#define WGL_SPLITK_MAX_BYTES (40ull << 20)

typedef struct wgl_bind {
    uint32_t binding; /* @binding(n) */
    uint8_t space;
    uint32_t index;   /* chunk (ARENA) or weight buffer (WEIGHT) */
    uint64_t offset, size;
} wgl_bind;

enum { WGL_CMD_DISPATCH = 0, WGL_CMD_COPY, WGL_CMD_CLEAR };

typedef struct wgl_cmd {
    uint8_t kind;
    int node;          /* graph node it implements (-1: none) */
    uint8_t held;      /* the node is held (wg_held_nodes): needed only when a held input changed */
    int pipe;          /* DISPATCH: index into prog.pipes */
    int n_bind;
    wgl_bind bind[WGL_MAX_BINDINGS];
    uint32_t grid[3];
    uint64_t param_off; /* DISPATCH: byte offset of its uniform block in prog.params */
    /* COPY: src -> dst (size bytes); CLEAR: dst */
    uint8_t src_space, dst_space;
    uint32_t src_index, dst_index;
    uint64_t src_off, dst_off, size;
} wgl_cmd;

typedef struct wgl_pipe {
    char *wgsl;    /* full text, also the dedup key */
    char name[48]; /* kernel file + variant, for labels and profiles */
} wgl_pipe;

/* Where a weight lives. A weight larger than one binding may come in parts,
 * each a run of whole rows (dim 0): only ops that can use parts accept them. */
typedef struct wgl_wloc {
    int type;     /* WGL_F32 or WGL_F16P */
    int n_parts;
    struct {
        uint32_t index;       /* weight buffer */
        uint64_t offset;      /* bytes, aligned to 256 */
        uint64_t size;        /* bytes */
        int64_t row0, rows;   /* rows of dim 0 in this part */
    } part[WGL_MAX_PARTS];
} wgl_wloc;

/* Resolves weight tensor `t` (a WG_WEIGHT root) stored as `type` (the
 * backend may store it either way; it reports what it did in loc->type). */
typedef wsd_status (*wgl_weight_fn)(void *user, const wg_graph *g, int t, int want_f16, wgl_wloc *loc, wsd_err *err);

/* Picks a kernel variant for an operator signature ("conv2d ci=320 ..."):
 * returns the variant name or NULL for the default. */
typedef const char *(*wgl_tune_fn)(void *user, const char *op_signature);

typedef struct wgl_options {
    gpu_caps caps;
    int weights_f16;          /* store matrix weights (conv/linear/embedding) as packed f16 */
    wgl_weight_fn weight;
    void *weight_user;
    wgl_tune_fn tune;         /* may be NULL */
    void *tune_user;
    int force_reference;      /* use the simplest (reference) kernel variant everywhere */
    const char *force_variant;/* tests: this variant name wherever it applies */
    int no_fusion;            /* lower node by node (tests compare both) */
} wgl_options;

typedef struct wgl_prog {
    wgl_cmd *cmds;
    int n_cmds, cap_cmds;
    wgl_pipe *pipes;
    int n_pipes, cap_pipes;
    unsigned char *params;       /* n_dispatch * 256 bytes */
    uint64_t params_bytes, params_cap;
    unsigned char *consts;
    uint64_t const_bytes, const_cap;
    uint64_t scratch_bytes;
    /* arena backing */
    uint64_t chunk_bytes;        /* planner chunk (0: a single buffer) */
    int n_chunks;
    uint64_t chunk_size[64];     /* bytes of each chunk buffer */
    /* per tensor: chunk index and byte offset inside it (roots and views) */
    int *t_chunk;
    uint64_t *t_off;
    int n_tensors;
    wg_plan plan;                /* the plan used (chunked) */
    /* statistics */
    uint64_t max_binding_seen;   /* largest storage binding requested */
    int n_dispatch, n_copy;
} wgl_prog;

/* Plans `g` (on a private copy of its tensor table: the graph is not
 * modified) with chunks that fit the device, then lowers every node. */
wsd_status wgl_lower(const wg_graph *g, const wgl_options *opt, wgl_prog *out, wsd_err *err);
void wgl_prog_free(wgl_prog *p);

/* Hot operators that have kernel variants, and their tuning signature:
 * the exact shape key the tuning database is indexed by ("conv2d n=2
 * ci=320 h=64 w=64 co=320 k=3x3 s=1 p=1,1,1,1 wt=f16"). Returns the family
 * (0 when the node has no variants). */
enum { WGL_HOT_NONE = 0, WGL_HOT_GEMM, WGL_HOT_ATTN, WGL_HOT_GN };
int wgl_node_signature(const wg_graph *g, const wg_node *n, int weights_f16, char *buf, size_t cap);

/* The arena chunk size used for these caps (multiple of 256). */
uint64_t wgl_chunk_bytes(const gpu_caps *caps);

/* nsplit cut back so that nsplit partial outputs of ny floats fit WGL_SPLITK_MAX_BYTES. */
uint32_t wgl_split_cap(uint32_t nsplit, uint64_t ny);
/* Whether a conv2d node is 3x3, stride 1, padded by 1 on every side (the
 * shape the patch and Winograd kernels take). */
int wgl_conv3s1(const wg_graph *g, const wg_node *n);
/* Winograd scratch: the 16 products of every split slice for a chunk of
 * tiles are kept within this many bytes (more tiles run as more chunks). */
#define WGL_WINO_MAX_BYTES (40ull << 20)

/* Spec-default limits (what --gpu-limits default gives), for planning tests. */
void wgl_default_caps(gpu_caps *caps);

/* The text of one embedded kernel file, for tools. */
const char *wgl_kernel_text(const char *name);

#endif
