/* The WebGPU backend (backend.h) on the thin GPU interface (gpu.h).
 *
 * compile: lowers the graph (lower.c: kernels, bindings, parameters, grid,
 *          all decided without the GPU), then creates the arena buffers,
 *          the pipelines (cached per backend by WGSL text), one bind group
 *          per dispatch and the command list.
 * run:     submits the recorded command list (replayed as is every run; the
 *          CPU only encodes it). No readback.
 * weights: uploaded on first use (read through wg_weight_read in pieces of
 *          about 4 MiB, so a streamed graph's weights are never whole in host
 *          memory), keyed by (graph->weights_uid, data pointer or handle,
 *          storage type), into pool buffers shared by every graph of the
 *          backend; compiling a graph of another weights_uid (a new model)
 *          frees the old model's weights first. */
#include "backends/webgpu/webgpu_backend.h"
#include "backends/webgpu/tune.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wpool {
    gpu_buf buf;
    uint64_t size, used;
} wpool;

typedef struct wentry {
    const void *data;
    int type;
    wgl_wloc loc;
} wentry;

typedef struct pcache {
    char *wgsl;
    gpu_pipe pipe;
} pcache;

typedef struct wgpu_backend {
    wsd_backend base;
    gpu_device *dev;
    int weights_f16;
    int force_reference;
    char force_variant[32];
    int has_force_variant;
    char tune_sig[200], tune_variant[48]; /* wsd_backend_webgpu_set_tune_override */
    int has_tune_override;
    uint64_t max_binding_override, max_buffer_override;
    wsd_tune_db *db;
    char adapter_key[64];
    wpool *pools;
    int n_pools, cap_pools;
    wentry *w;
    int n_w, cap_w;
    uint64_t weight_bytes;
    uint64_t weights_uid; /* the model whose weights are cached */
    uint64_t pending;     /* bytes of weights the compile in progress has yet to upload */
    int sizing;           /* weight_resolve only counts (first lowering pass) */
    pcache *pc;
    int n_pc, cap_pc;
    uint64_t readbacks; /* get_output calls (wsd_backend_webgpu_readbacks) */
    uint32_t mark_last, mark_prev; /* gpu_mark after the latest run and the one before */
} wgpu_backend;

typedef struct ids_check {
    int t;
    int64_t vocab;
} ids_check;

struct wsd_exec {
    wgpu_backend *be;
    const wg_graph *g;
    wgl_prog prog;
    gpu_buf chunk[64];
    gpu_buf scratch, consts, params;
    gpu_bind *binds; /* per command (0 for copies) */
    gpu_cmd *cmds;
    int n_cmds;
    /* the commands without the held ones (wg_held_nodes), run while no held
     * input has changed since the last run; NULL when there are none */
    gpu_cmd *step_cmds;
    int n_step_cmds;
    int held_dirty; /* a held input was set since the last run (or never run) */
    ids_check *ids;
    int n_ids;
};

/* ---- weights ---- */

static wsd_status pool_alloc(wgpu_backend *be, uint64_t size, uint32_t *index, uint64_t *off, wsd_err *err)
{
    const gpu_caps *c = gpu_get_caps(be->dev);
    uint64_t pool_size = c->max_buffer < (256ull << 20) ? c->max_buffer : (256ull << 20);
    pool_size &= ~255ull;
    for (int i = 0; i < be->n_pools; i++) {
        uint64_t o = (be->pools[i].used + 255) & ~255ull;
        if (o + size <= be->pools[i].size) {
            be->pools[i].used = o + size;
            *index = (uint32_t)i;
            *off = o;
            return WSD_OK;
        }
    }
    if (be->n_pools == be->cap_pools) {
        int nc = be->cap_pools ? be->cap_pools * 2 : 16;
        wpool *np_ = realloc(be->pools, (size_t)nc * sizeof *np_);
        if (!np_) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
        be->pools = np_;
        be->cap_pools = nc;
    }
    /* size new pools by what this compile still has to upload, so the last
     * pool is not mostly empty */
    uint64_t want = be->pending > size ? be->pending : size;
    uint64_t sz = want > pool_size ? pool_size : ((want + 255) & ~255ull);
    if (sz < size) sz = (size + 255) & ~255ull;
    if (sz > c->max_buffer)
        return wsd_fail(err, WSD_ERR_UNSUPPORTED, "webgpu: a weight of %llu bytes exceeds maxBufferSize %llu",
                        (unsigned long long)size, (unsigned long long)c->max_buffer);
    char label[32];
    snprintf(label, sizeof label, "weights %d", be->n_pools);
    gpu_buf b = gpu_buffer_create(be->dev, sz, GPU_BUF_STORAGE, label, err);
    if (!b) return err ? err->code : WSD_ERR_DEVICE;
    be->pools[be->n_pools].buf = b;
    be->pools[be->n_pools].size = sz;
    be->pools[be->n_pools].used = size;
    *index = (uint32_t)be->n_pools++;
    *off = 0;
    return WSD_OK;
}

static void evict_weights(wgpu_backend *be)
{
    for (int i = 0; i < be->n_pools; i++) gpu_buffer_destroy(be->dev, be->pools[i].buf);
    be->n_pools = 0;
    be->n_w = 0;
    be->weight_bytes = 0;
}

static wsd_status weight_resolve(void *user, const wg_graph *g, int t, int want_f16, wgl_wloc *loc, wsd_err *err)
{
    wgpu_backend *be = user;
    const wg_tensor *T = &g->t[t];
    int type = want_f16 ? WGL_F16P : WGL_F32;
    if (!T->data)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "webgpu: weight \"%s\" has no data (graph built for planning only)",
                        T->name ? T->name : "?");
    for (int i = 0; i < be->n_w; i++)
        if (be->w[i].data == T->data && be->w[i].type == type) {
            *loc = be->w[i].loc;
            return WSD_OK;
        }
    if (T->dtype != WSD_DT_F32 && T->dtype != WSD_DT_F16 && T->dtype != WSD_DT_BF16)
        return wsd_fail(err, WSD_ERR_UNSUPPORTED, "webgpu: weight \"%s\" has dtype %s", T->name, wsd_dtype_name(T->dtype));
    const gpu_caps *c = gpu_get_caps(be->dev);
    uint64_t numel = (uint64_t)wg_numel(T), rows = (uint64_t)T->shape[0], row = numel / rows;
    uint64_t es = type == WGL_F16P ? 2 : 4;
    uint64_t limit = c->max_storage_binding < (256ull << 20) ? c->max_storage_binding : (256ull << 20);
    if (be->max_binding_override && be->max_binding_override < limit) limit = be->max_binding_override;
    limit &= ~255ull;
    uint64_t rows_per = rows;
    if (numel * es > limit) {
        rows_per = limit / (row * es);
        if (rows_per < 1)
            return wsd_fail(err, WSD_ERR_UNSUPPORTED, "webgpu: a row of weight \"%s\" exceeds one binding", T->name);
    }
    if (be->sizing) { /* first pass: count what will be uploaded, upload nothing */
        int counted = 0;
        for (int i = 0; i < be->n_w && !counted; i++) /* counted already (reused by another node) */
            counted = be->w[i].data == T->data && be->w[i].type == type + 16;
        memset(loc, 0, sizeof *loc);
        loc->type = type;
        for (uint64_t r0 = 0; r0 < rows; r0 += rows_per) { /* the same parts as the real upload */
            if (loc->n_parts == WGL_MAX_PARTS)
                return wsd_fail(err, WSD_ERR_UNSUPPORTED, "webgpu: weight \"%s\" needs more than %d parts", T->name,
                                WGL_MAX_PARTS);
            uint64_t nr = rows - r0 < rows_per ? rows - r0 : rows_per;
            uint64_t bytes = (nr * row * es + 3) & ~3ull;
            loc->part[loc->n_parts].index = 0;
            loc->part[loc->n_parts].offset = 0;
            loc->part[loc->n_parts].size = bytes;
            loc->part[loc->n_parts].row0 = (int64_t)r0;
            loc->part[loc->n_parts].rows = (int64_t)nr;
            loc->n_parts++;
            if (!counted) be->pending += bytes + 255;
        }
        if (counted) return WSD_OK;
        if (be->n_w == be->cap_w) {
            int nc = be->cap_w ? be->cap_w * 2 : 256;
            wentry *nw = realloc(be->w, (size_t)nc * sizeof *nw);
            if (!nw) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
            be->w = nw;
            be->cap_w = nc;
        }
        be->w[be->n_w].data = T->data; /* a marker entry (type + 16), removed after the pass */
        be->w[be->n_w].type = type + 16;
        be->n_w++;
        return WSD_OK;
    }
    wgl_wloc L;
    memset(&L, 0, sizeof L);
    L.type = type;
    size_t src_es = wsd_dtype_size(T->dtype);
    /* Uploaded in pieces of about 4 MiB (whole rows; an even number of
     * elements, so every piece but the last is a multiple of 4 bytes), read
     * through wg_weight_read into staging memory freed at the end: a streamed
     * graph's weights are never whole in host memory (models/model.c). */
    uint64_t piece = row && (4ull << 20) / (row * 4) ? (4ull << 20) / (row * 4) : 1;
    if ((piece * row) & 1) piece++;
    uint64_t piece_n = row ? piece * row : 1;
    /* stored as the GPU keeps it (f32 as f32, f16 as f16): uploaded as read, no conversion copy */
    int direct = T->dtype == (type == WGL_F16P ? WSD_DT_F16 : WSD_DT_F32);
    unsigned char *raw = malloc((size_t)(piece_n * src_es) + 4);
    float *f = direct ? NULL : malloc((size_t)piece_n * sizeof *f);
    uint16_t *h = type == WGL_F16P && !direct ? malloc((size_t)(piece_n + 1) * 2) : NULL;
    if (!raw || (!direct && !f) || (type == WGL_F16P && !direct && !h)) {
        free(raw);
        free(f);
        free(h);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory converting weight \"%s\"", T->name);
    }
    wsd_status st = WSD_OK;
    for (uint64_t r0 = 0; r0 < rows && st == WSD_OK; r0 += rows_per) {
        if (L.n_parts == WGL_MAX_PARTS) {
            st = wsd_fail(err, WSD_ERR_UNSUPPORTED, "webgpu: weight \"%s\" needs more than %d parts", T->name, WGL_MAX_PARTS);
            break;
        }
        uint64_t nr = rows - r0 < rows_per ? rows - r0 : rows_per;
        uint64_t n = nr * row, bytes = (n * es + 3) & ~3ull;
        uint32_t index = 0;
        uint64_t off = 0;
        st = pool_alloc(be, bytes, &index, &off, err);
        for (uint64_t p0 = 0; p0 < nr && st == WSD_OK; p0 += piece) {
            uint64_t pr = nr - p0 < piece ? nr - p0 : piece, pn = pr * row;
            st = wg_weight_read(g, t, (size_t)((r0 + p0) * row * src_es), raw, (size_t)(pn * src_es), err);
            if (st != WSD_OK) break;
            const void *up = raw;
            if (direct) {
                memset(raw + pn * src_es, 0, 4); /* the pad of an odd last f16 piece */
            } else {
                wsd_convert_to_f32(T->dtype, raw, f, (size_t)pn);
                up = f;
                if (type == WGL_F16P) {
                    for (uint64_t i = 0; i < pn; i++) h[i] = wsd_f32_to_f16(f[i]);
                    h[pn] = 0; /* the pad of an odd last piece */
                    up = h;
                }
            }
            st = gpu_buffer_write(be->dev, be->pools[index].buf, off + p0 * row * es, up, (pn * es + 3) & ~3ull, err);
        }
        if (st != WSD_OK) break;
        L.part[L.n_parts].index = index;
        L.part[L.n_parts].offset = off;
        L.part[L.n_parts].size = bytes;
        L.part[L.n_parts].row0 = (int64_t)r0;
        L.part[L.n_parts].rows = (int64_t)nr;
        L.n_parts++;
        be->weight_bytes += bytes;
        be->pending = be->pending > bytes + 255 ? be->pending - bytes - 255 : 0;
    }
    free(raw);
    free(f);
    free(h);
    WSD_TRY(st);
    if (be->n_w == be->cap_w) {
        int nc = be->cap_w ? be->cap_w * 2 : 256;
        wentry *nw = realloc(be->w, (size_t)nc * sizeof *nw);
        if (!nw) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
        be->w = nw;
        be->cap_w = nc;
    }
    be->w[be->n_w].data = T->data;
    be->w[be->n_w].type = type;
    be->w[be->n_w].loc = L;
    be->n_w++;
    *loc = L;
    return WSD_OK;
}

wsd_status wgl_plan_only_weight(void *user, const wg_graph *g, int t, int want_f16, wgl_wloc *loc, wsd_err *err)
{
    const gpu_caps *c = user;
    const wg_tensor *T = &g->t[t];
    uint64_t es = want_f16 ? 2 : 4, numel = (uint64_t)wg_numel(T), rows = (uint64_t)T->shape[0], row = numel / rows;
    uint64_t limit = c->max_storage_binding & ~255ull, rows_per = rows;
    if (numel * es > limit) rows_per = limit / (row * es);
    if (rows_per < 1) return wsd_fail(err, WSD_ERR_UNSUPPORTED, "weight row exceeds a binding");
    memset(loc, 0, sizeof *loc);
    loc->type = want_f16 ? WGL_F16P : WGL_F32;
    for (uint64_t r0 = 0; r0 < rows; r0 += rows_per) {
        if (loc->n_parts == WGL_MAX_PARTS) return wsd_fail(err, WSD_ERR_UNSUPPORTED, "weight needs too many parts");
        uint64_t nr = rows - r0 < rows_per ? rows - r0 : rows_per;
        loc->part[loc->n_parts].index = (uint32_t)t;
        loc->part[loc->n_parts].offset = 0;
        loc->part[loc->n_parts].size = (nr * row * es + 3) & ~3ull;
        loc->part[loc->n_parts].row0 = (int64_t)r0;
        loc->part[loc->n_parts].rows = (int64_t)nr;
        loc->n_parts++;
    }
    return WSD_OK;
}

static const char *tune_lookup(void *user, const char *sig)
{
    wgpu_backend *be = user;
    if (be->has_tune_override && !strcmp(sig, be->tune_sig)) return be->tune_variant;
    return wsd_tune_db_lookup_near(be->db, be->adapter_key, sig);
}

/* ---- exec ---- */

static void exec_free(wsd_exec *ex)
{
    if (!ex) return;
    gpu_device *d = ex->be->dev;
    if (ex->binds)
        for (int i = 0; i < ex->n_cmds; i++) gpu_bindgroup_destroy(d, ex->binds[i]);
    for (int c = 0; c < 64; c++) gpu_buffer_destroy(d, ex->chunk[c]);
    gpu_buffer_destroy(d, ex->scratch);
    gpu_buffer_destroy(d, ex->consts);
    gpu_buffer_destroy(d, ex->params);
    wgl_prog_free(&ex->prog);
    free(ex->binds);
    free(ex->cmds);
    free(ex->step_cmds);
    free(ex->ids);
    free(ex);
}

static wsd_status get_pipe(wgpu_backend *be, const wgl_pipe *p, gpu_pipe *out, wsd_err *err)
{
    for (int i = 0; i < be->n_pc; i++)
        if (!strcmp(be->pc[i].wgsl, p->wgsl)) {
            *out = be->pc[i].pipe;
            return WSD_OK;
        }
    gpu_pipe h = gpu_pipeline_create(be->dev, p->wgsl, p->name, err);
    if (!h) return err ? err->code : WSD_ERR_DEVICE;
    if (be->n_pc == be->cap_pc) {
        int nc = be->cap_pc ? be->cap_pc * 2 : 64;
        pcache *npc = realloc(be->pc, (size_t)nc * sizeof *npc);
        if (!npc) {
            gpu_pipeline_destroy(be->dev, h);
            return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
        }
        be->pc = npc;
        be->cap_pc = nc;
    }
    be->pc[be->n_pc].wgsl = wsd_strdup(p->wgsl);
    if (!be->pc[be->n_pc].wgsl) {
        gpu_pipeline_destroy(be->dev, h);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
    }
    be->pc[be->n_pc].pipe = h;
    be->n_pc++;
    *out = h;
    return WSD_OK;
}

static gpu_buf space_buf(wsd_exec *ex, int space, uint32_t index)
{
    switch (space) {
    case WGL_ARENA: return index < 64 ? ex->chunk[index] : 0;
    case WGL_WEIGHT: return (int)index < ex->be->n_pools ? ex->be->pools[index].buf : 0;
    case WGL_SCRATCH: return ex->scratch;
    case WGL_CONST: return ex->consts;
    case WGL_PARAMS: return ex->params;
    default: return 0;
    }
}

static wsd_status compile_impl(wgpu_backend *be, const wg_graph *g, wsd_exec **out, wsd_err *err)
{
    *out = NULL;
    wsd_exec *ex = calloc(1, sizeof *ex);
    if (!ex) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
    ex->be = be;
    ex->g = g;
    if (g->weights_uid != be->weights_uid) {
        evict_weights(be); /* another model: its weights replace the cached ones */
        be->weights_uid = g->weights_uid;
    }
    wgl_options o;
    memset(&o, 0, sizeof o);
    o.caps = *gpu_get_caps(be->dev);
    if (be->max_binding_override && be->max_binding_override < o.caps.max_storage_binding)
        o.caps.max_storage_binding = be->max_binding_override;
    if (be->max_buffer_override && be->max_buffer_override < o.caps.max_buffer)
        o.caps.max_buffer = be->max_buffer_override;
    o.weights_f16 = be->weights_f16;
    o.weight = weight_resolve;
    o.weight_user = be;
    o.tune = be->db || be->has_tune_override ? tune_lookup : NULL;
    o.tune_user = be;
    o.force_reference = be->force_reference;
    o.force_variant = be->has_force_variant ? be->force_variant : NULL;
    /* pass 1 counts the weights still to upload (sizes the pools), pass 2 uploads */
    int n_w0 = be->n_w;
    be->sizing = 1;
    be->pending = 0;
    wsd_status st = wgl_lower(g, &o, &ex->prog, err);
    be->sizing = 0;
    be->n_w = n_w0;
    wgl_prog_free(&ex->prog);
    if (st == WSD_OK) st = wgl_lower(g, &o, &ex->prog, err);
    be->pending = 0;
    if (st != WSD_OK) {
        free(ex);
        return st;
    }
    wgl_prog *p = &ex->prog;
    gpu_device *d = be->dev;
#define FAIL_IF(cond)               \
    do {                            \
        if (cond) {                 \
            exec_free(ex);          \
            return err ? err->code : WSD_ERR_DEVICE; \
        }                           \
    } while (0)
    for (int c = 0; c < p->n_chunks; c++) {
        char label[32];
        snprintf(label, sizeof label, "arena %d", c);
        ex->chunk[c] = gpu_buffer_create(d, p->chunk_size[c], GPU_BUF_STORAGE, label, err);
        FAIL_IF(!ex->chunk[c]);
    }
    ex->scratch = gpu_buffer_create(d, p->scratch_bytes, GPU_BUF_STORAGE, "scratch", err);
    FAIL_IF(!ex->scratch);
    uint64_t cb = p->const_bytes ? (p->const_bytes + 255) & ~255ull : 256;
    ex->consts = gpu_buffer_create(d, cb, GPU_BUF_STORAGE, "constants", err);
    FAIL_IF(!ex->consts);
    if (p->const_bytes) FAIL_IF(gpu_buffer_write(d, ex->consts, 0, p->consts, (p->const_bytes + 3) & ~3ull, err) != WSD_OK);
    uint64_t pb = p->params_bytes ? p->params_bytes : 256;
    ex->params = gpu_buffer_create(d, pb, GPU_BUF_UNIFORM, "parameters", err);
    FAIL_IF(!ex->params);
    if (p->params_bytes) FAIL_IF(gpu_buffer_write(d, ex->params, 0, p->params, p->params_bytes, err) != WSD_OK);

    gpu_pipe *pipes = calloc((size_t)(p->n_pipes ? p->n_pipes : 1), sizeof *pipes);
    ex->binds = calloc((size_t)(p->n_cmds ? p->n_cmds : 1), sizeof *ex->binds);
    ex->cmds = calloc((size_t)(p->n_cmds ? p->n_cmds : 1), sizeof *ex->cmds);
    ex->n_cmds = p->n_cmds;
    if (!pipes || !ex->binds || !ex->cmds) {
        free(pipes);
        exec_free(ex);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
    }
    for (int i = 0; i < p->n_pipes; i++)
        if (get_pipe(be, &p->pipes[i], &pipes[i], err) != WSD_OK) {
            free(pipes);
            exec_free(ex);
            return err ? err->code : WSD_ERR_DEVICE;
        }
    for (int i = 0; i < p->n_cmds; i++) {
        const wgl_cmd *c = &p->cmds[i];
        gpu_cmd *gc = &ex->cmds[i];
        if (c->kind == WGL_CMD_DISPATCH) {
            gpu_binding b[WGL_MAX_BINDINGS];
            for (int k = 0; k < c->n_bind; k++) {
                b[k].binding = c->bind[k].binding;
                b[k].buffer = space_buf(ex, c->bind[k].space, c->bind[k].index);
                b[k].offset = c->bind[k].offset;
                b[k].size = c->bind[k].size;
            }
            ex->binds[i] = gpu_bindgroup_create(d, pipes[c->pipe], (uint32_t)c->n_bind, b, err);
            if (!ex->binds[i]) {
                free(pipes);
                wsd_fail_prefix(err, "node %d (%s), kernel %s: ", c->node,
                                c->node >= 0 ? wg_op_name(g->nodes[c->node].op) : "link", p->pipes[c->pipe].name);
                exec_free(ex);
                return err ? err->code : WSD_ERR_DEVICE;
            }
            gc->kind = GPU_CMD_DISPATCH;
            gc->a = pipes[c->pipe];
            gc->b = ex->binds[i];
            gc->x = c->grid[0];
            gc->y = c->grid[1];
            gc->z = c->grid[2];
        } else if (c->kind == WGL_CMD_COPY) {
            gc->kind = GPU_CMD_COPY;
            gc->a = space_buf(ex, c->src_space, c->src_index);
            gc->b = space_buf(ex, c->dst_space, c->dst_index);
            gc->src_off = c->src_off;
            gc->dst_off = c->dst_off;
            gc->size = c->size;
        } else {
            gc->kind = GPU_CMD_CLEAR;
            gc->a = space_buf(ex, c->dst_space, c->dst_index);
            gc->dst_off = c->dst_off;
            gc->size = c->size;
        }
    }
    free(pipes);
    int n_held = 0;
    for (int i = 0; i < p->n_cmds; i++) n_held += p->cmds[i].held;
    ex->held_dirty = 1;
    if (n_held) {
        ex->step_cmds = malloc((size_t)(p->n_cmds - n_held + 1) * sizeof *ex->step_cmds);
        if (!ex->step_cmds) {
            exec_free(ex);
            return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
        }
        for (int i = 0; i < p->n_cmds; i++)
            if (!p->cmds[i].held) ex->step_cmds[ex->n_step_cmds++] = ex->cmds[i];
    }
    /* ids fed to embeddings are checked on the host when set */
    for (int i = 0; i < g->n_nodes; i++) {
        const wg_node *nd = &g->nodes[i];
        if (nd->op != WG_OP_EMBEDDING) continue;
        int idt = nd->in[0];
        if (g->t[idt].kind != WG_INPUT) continue;
        ids_check *ni = realloc(ex->ids, (size_t)(ex->n_ids + 1) * sizeof *ni);
        if (!ni) {
            exec_free(ex);
            return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
        }
        ex->ids = ni;
        ex->ids[ex->n_ids].t = idt;
        ex->ids[ex->n_ids].vocab = g->t[nd->in[1]].shape[0];
        ex->n_ids++;
    }
#undef FAIL_IF
    *out = ex;
    return WSD_OK;
}

static wsd_status wgpu_compile(wsd_backend *base, const wg_graph *g, const wg_plan *plan, wsd_exec **out, wsd_err *err)
{
    (void)plan; /* the backend re-plans with chunks that fit the device */
    return compile_impl((wgpu_backend *)base, g, out, err);
}

static wsd_status wgpu_set_input(wsd_exec *ex, int t, const void *data, size_t nbytes, wsd_err *err)
{
    const wg_tensor *T = &ex->g->t[t];
    size_t want = (size_t)wg_numel(T) * wsd_dtype_size(T->dtype);
    if (t < 0 || t >= ex->g->n_tensors || T->kind != WG_INPUT || nbytes != want)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "webgpu: input \"%s\" takes %zu bytes, got %zu",
                        T->name ? T->name : "?", want, nbytes);
    for (int i = 0; i < ex->n_ids; i++) {
        if (ex->ids[i].t != t) continue;
        const int32_t *ids = data;
        for (size_t k = 0; k < nbytes / 4; k++)
            if (ids[k] < 0 || ids[k] >= ex->ids[i].vocab)
                return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "token id %d at position %zu is outside the vocabulary (0..%lld)",
                                ids[k], k, (long long)ex->ids[i].vocab - 1);
    }
    if (ex->prog.t_chunk[t] < 0) return wsd_fail(err, WSD_ERR_INTERNAL, "webgpu: input \"%s\" has no storage", T->name);
    if (T->held) ex->held_dirty = 1;
    return gpu_buffer_write(ex->be->dev, ex->chunk[ex->prog.t_chunk[t]], ex->prog.t_off[t], data, (nbytes + 3) & ~(size_t)3,
                            err);
}

static wsd_status wgpu_run(wsd_exec *ex, int (*cancel)(void *), void *cancel_user, wsd_err *err)
{
    if (cancel && cancel(cancel_user)) return wsd_fail(err, WSD_ERR_CANCELLED, "cancelled");
    if (ex->step_cmds && !ex->held_dirty) {
        WSD_TRY(gpu_submit(ex->be->dev, ex->step_cmds, (uint32_t)ex->n_step_cmds, err));
    } else {
        WSD_TRY(gpu_submit(ex->be->dev, ex->cmds, (uint32_t)ex->n_cmds, err));
        ex->held_dirty = 0;
    }
    ex->be->mark_prev = ex->be->mark_last; /* for wait(ex, 1) */
    ex->be->mark_last = gpu_mark(ex->be->dev);
    return WSD_OK;
}

static wsd_status wgpu_wait(wsd_exec *ex, int in_flight, wsd_err *err)
{
    if (in_flight <= 0) return gpu_wait(ex->be->dev, err);
    return gpu_wait_mark(ex->be->dev, ex->be->mark_prev, err);
}

static wsd_status wgpu_get_output(wsd_exec *ex, int t, void *data, size_t nbytes, wsd_err *err)
{
    const wg_tensor *T = &ex->g->t[t];
    size_t have = (size_t)wg_numel(T) * wsd_dtype_size(T->dtype);
    if (t < 0 || t >= ex->g->n_tensors || !T->is_output || nbytes != have)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "webgpu: output \"%s\" has %zu bytes, asked for %zu",
                        T->name ? T->name : "?", have, nbytes);
    if (ex->prog.t_chunk[t] < 0) return wsd_fail(err, WSD_ERR_INTERNAL, "webgpu: output \"%s\" has no storage", T->name);
    if (nbytes % 4) return wsd_fail(err, WSD_ERR_INTERNAL, "webgpu: output size %zu is not a multiple of 4", nbytes);
    ex->be->readbacks++;
    return gpu_buffer_read(ex->be->dev, ex->chunk[ex->prog.t_chunk[t]], ex->prog.t_off[t], data, nbytes, err);
}

static void wgpu_destroy(wsd_backend *base)
{
    wgpu_backend *be = (wgpu_backend *)base;
    if (!be) return;
    for (int i = 0; i < be->n_pc; i++) {
        gpu_pipeline_destroy(be->dev, be->pc[i].pipe);
        free(be->pc[i].wgsl);
    }
    for (int i = 0; i < be->n_pools; i++) gpu_buffer_destroy(be->dev, be->pools[i].buf);
    free(be->pc);
    free(be->pools);
    free(be->w);
    wsd_tune_db_free(be->db);
    gpu_close(be->dev);
    free(be);
}

static const wsd_backend_iface wgpu_iface = {
    "webgpu", wgpu_compile, wgpu_set_input, wgpu_run, wgpu_wait, wsd_webgpu_copy_tensor, wgpu_get_output, exec_free, wgpu_destroy,
};

wsd_status wsd_backend_webgpu_create_ex(const wsd_backend_options *opts, const wsd_webgpu_options *wopts,
                                        wsd_backend **out, wsd_err *err)
{
    *out = NULL;
    wsd_webgpu_options wo;
    memset(&wo, 0, sizeof wo);
    if (wopts) wo = *wopts;
    const char *ve = getenv("WSD_GPU_VERBOSE");
    if (ve && *ve && strcmp(ve, "0")) wo.verbose = 1;
    wgpu_backend *be = calloc(1, sizeof *be);
    if (!be) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
    be->base.iface = &wgpu_iface;
    gpu_open_options go;
    memset(&go, 0, sizeof go);
    go.default_limits = opts ? opts->gpu_default_limits : 0;
    const char *le = getenv("WSD_GPU_LIMITS"); /* "default": as --gpu-limits default (tests, scripts) */
    if (le && !strcmp(le, "default")) go.default_limits = 1;
    go.verbose = wo.verbose;
    wsd_status st = gpu_open(&go, &be->dev, err);
    if (st != WSD_OK) {
        free(be);
        return st;
    }
    if (wo.weights == WSD_GPU_WEIGHTS_DEFAULT) {
        const char *e = getenv("WSD_GPU_WEIGHTS");
        wo.weights = (e && !strcmp(e, "f32")) ? WSD_GPU_WEIGHTS_F32 : WSD_GPU_WEIGHTS_F16;
    }
    be->weights_f16 = wo.weights == WSD_GPU_WEIGHTS_F16;
    be->force_reference = wo.force_reference;
    be->max_binding_override = wo.max_binding_override;
    be->max_buffer_override = wo.max_buffer_override;
    if (wo.force_variant) {
        snprintf(be->force_variant, sizeof be->force_variant, "%s", wo.force_variant);
        be->has_force_variant = 1;
    }
    wsd_tune_adapter_key(gpu_get_caps(be->dev), be->adapter_key, sizeof be->adapter_key);
    if (!wo.no_tune_db) {
        char warn[600];
        be->db = wsd_tune_db_load(warn, sizeof warn);
        if (warn[0]) fprintf(stderr, "webgpu: %s\n", warn);
    }
    if (wo.verbose)
        fprintf(stderr, "webgpu: weights %s, tuning entries %d, adapter key %s\n", be->weights_f16 ? "f16" : "f32",
                wsd_tune_db_count(be->db), be->adapter_key);
    *out = &be->base;
    return WSD_OK;
}

wsd_status wsd_backend_webgpu_create(const wsd_backend_options *opts, wsd_backend **out, wsd_err *err)
{
    return wsd_backend_webgpu_create_ex(opts, NULL, out, err);
}

void wsd_backend_webgpu_set_variant(wsd_backend *base, const char *variant)
{
    wgpu_backend *be = (wgpu_backend *)base;
    be->has_force_variant = variant != NULL;
    snprintf(be->force_variant, sizeof be->force_variant, "%s", variant ? variant : "");
}

void wsd_backend_webgpu_set_tune_override(wsd_backend *base, const char *sig, const char *variant)
{
    wgpu_backend *be = (wgpu_backend *)base;
    be->has_tune_override = sig && variant;
    snprintf(be->tune_sig, sizeof be->tune_sig, "%s", sig ? sig : "");
    snprintf(be->tune_variant, sizeof be->tune_variant, "%s", variant ? variant : "");
}

gpu_device *wsd_backend_webgpu_device(wsd_backend *be)
{
    return (be && be->iface == &wgpu_iface) ? ((wgpu_backend *)be)->dev : NULL;
}

int wsd_backend_webgpu_weight_type(wsd_backend *be)
{
    return ((wgpu_backend *)be)->weights_f16 ? WGL_F16P : WGL_F32;
}

uint64_t wsd_backend_webgpu_weight_bytes(wsd_backend *be) { return ((wgpu_backend *)be)->weight_bytes; }

wsd_status wsd_webgpu_copy_tensor(wsd_exec *dst, int dst_t, wsd_exec *src, int src_t, wsd_err *err)
{
    if (dst->be != src->be) return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "webgpu: copy between backends");
    const wg_tensor *D = &dst->g->t[dst_t], *S = &src->g->t[src_t];
    size_t n = (size_t)wg_numel(D) * wsd_dtype_size(D->dtype);
    if (n != (size_t)wg_numel(S) * wsd_dtype_size(S->dtype) || D->kind != WG_INPUT || src->prog.t_chunk[src_t] < 0 ||
        dst->prog.t_chunk[dst_t] < 0 || dst == src)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "webgpu: cannot copy \"%s\" into input \"%s\"",
                        S->name ? S->name : "?", D->name ? D->name : "?");
    gpu_cmd c;
    memset(&c, 0, sizeof c);
    c.kind = GPU_CMD_COPY;
    c.a = src->chunk[src->prog.t_chunk[src_t]];
    c.b = dst->chunk[dst->prog.t_chunk[dst_t]];
    c.src_off = src->prog.t_off[src_t];
    c.dst_off = dst->prog.t_off[dst_t];
    c.size = (n + 3) & ~(size_t)3;
    if (D->held) dst->held_dirty = 1;
    return gpu_submit(dst->be->dev, &c, 1, err);
}

const wgl_prog *wsd_webgpu_exec_prog(wsd_exec *ex) { return &ex->prog; }

int wsd_webgpu_exec_weights_f16(wsd_exec *ex) { return ex->be->weights_f16; }

wsd_status wsd_webgpu_exec_wait(wsd_exec *ex, wsd_err *err) { return gpu_wait(ex->be->dev, err); }

uint64_t wsd_backend_webgpu_readbacks(wsd_backend *be)
{
    return wsd_backend_webgpu_device(be) ? ((wgpu_backend *)be)->readbacks : 0;
}

wsd_status wsd_webgpu_exec_run_range(wsd_exec *ex, int first, int count, int reps, wsd_err *err)
{
    if (first < 0 || count < 1 || first + count > ex->n_cmds || reps < 1)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "webgpu: bad command range %d+%d", first, count);
    gpu_cmd *c = malloc((size_t)count * (size_t)reps * sizeof *c);
    if (!c) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
    for (int r = 0; r < reps; r++) memcpy(c + (size_t)r * count, ex->cmds + first, (size_t)count * sizeof *c);
    wsd_status st = gpu_submit(ex->be->dev, c, (uint32_t)(count * reps), err);
    free(c);
    if (st != WSD_OK) return st;
    return gpu_wait(ex->be->dev, err);
}
