/* WebGPU lowering of the real SD 1.5 networks at 512x512 under the WebGPU
 * spec-default limits (what --gpu-limits default gives and what many
 * browsers grant): no storage binding above 128 MiB, no buffer above
 * 256 MiB, no workgroup count above 65535 per dimension, at most 8 storage
 * buffers per dispatch, no 4096x4096 attention score matrix anywhere.
 * Needs no weights and no GPU: graphs are built without weight data and
 * lowered with a pretend weight resolver.
 *
 * Graphs: text encoder (batch 2), UNet (batch 2 = CFG, 64x64 latents, 77
 * tokens), VAE decoder (64x64 -> 512x512) and VAE encoder (512x512), each
 * with f16 and f32 weight storage. */
#include "backends/webgpu/kbuild.h"
#include "backends/webgpu/lower.h"
#include "backends/webgpu/tune.h"
#include "backends/webgpu/webgpu_backend.h"
#include "models/models.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIB (1ull << 20)

typedef struct stats {
    uint64_t max_binding, max_buffer, weight_max;
    uint32_t max_grid;
    int max_storage_bindings, n_dispatch, n_copy, n_pipes;
    uint64_t arena;
} stats;

static void check_prog(const char *what, const wgl_prog *p, const gpu_caps *caps)
{
    stats s;
    memset(&s, 0, sizeof s);
    s.n_dispatch = p->n_dispatch;
    s.n_copy = p->n_copy;
    s.n_pipes = p->n_pipes;
    for (int c = 0; c < p->n_chunks; c++) {
        s.arena += p->chunk_size[c];
        if (p->chunk_size[c] > s.max_buffer) s.max_buffer = p->chunk_size[c];
    }
    int bad_align = 0, bad_range = 0, aliased = 0;
    for (int i = 0; i < p->n_cmds; i++) {
        const wgl_cmd *c = &p->cmds[i];
        if (c->kind != WGL_CMD_DISPATCH) continue;
        int storage = 0;
        for (int k = 0; k < c->n_bind; k++) {
            const wgl_bind *b = &c->bind[k];
            if (b->space == WGL_PARAMS) continue;
            storage++;
            if (b->size > s.max_binding) s.max_binding = b->size;
            if (b->offset % caps->min_storage_align) bad_align++;
            if (b->space == WGL_ARENA && (b->index >= (uint32_t)p->n_chunks || b->offset + b->size > p->chunk_size[b->index]))
                bad_range++;
        }
        /* WebGPU forbids overlapping writable bindings of one buffer in a dispatch */
        for (int a = 0; a < c->n_bind; a++)
            for (int b = a + 1; b < c->n_bind; b++) {
                const wgl_bind *x = &c->bind[a], *y = &c->bind[b];
                int writable = x->space == WGL_ARENA || x->space == WGL_SCRATCH;
                if (writable && x->space == y->space && x->index == y->index && x->offset < y->offset + y->size &&
                    y->offset < x->offset + x->size)
                    aliased++;
            }
        if (storage > s.max_storage_bindings) s.max_storage_bindings = storage;
        for (int d = 0; d < 3; d++)
            if (c->grid[d] > s.max_grid) s.max_grid = c->grid[d];
    }
    printf("%s: %d dispatches, %d copies, %d pipelines, arena %.1f MiB in %d buffer(s) (largest %.1f MiB), "
           "largest binding %.1f MiB, largest grid dim %u, storage bindings <= %d, scratch %.1f KiB\n",
           what, s.n_dispatch, s.n_copy, s.n_pipes, (double)s.arena / MIB, p->n_chunks, (double)s.max_buffer / MIB,
           (double)s.max_binding / MIB, s.max_grid, s.max_storage_bindings, (double)p->scratch_bytes / 1024);
    CHECKF(s.max_binding <= 128 * MIB, "%s: a %llu-byte binding (limit 128 MiB)", what, (unsigned long long)s.max_binding);
    CHECKF(s.max_binding <= caps->max_storage_binding, "%s: binding above the device limit", what);
    CHECKF(s.max_buffer <= 256 * MIB, "%s: a %llu-byte arena buffer (limit 256 MiB)", what, (unsigned long long)s.max_buffer);
    CHECKF(p->scratch_bytes <= 128 * MIB && p->params_bytes <= 256 * MIB && p->const_bytes <= 128 * MIB,
           "%s: exec-owned buffers too big", what);
    CHECKF(s.max_grid <= 65535, "%s: grid dimension %u above 65535", what, s.max_grid);
    CHECKF(s.max_storage_bindings <= 8, "%s: %d storage bindings in one dispatch (default limit 8)", what,
           s.max_storage_bindings);
    CHECKF(bad_align == 0, "%s: %d bindings not aligned to %u", what, bad_align, caps->min_storage_align);
    CHECKF(bad_range == 0, "%s: %d arena bindings outside their buffer", what, bad_range);
    CHECKF(aliased == 0, "%s: %d pairs of overlapping writable bindings", what, aliased);
    CHECKF(p->max_binding_seen == s.max_binding, "%s: max_binding_seen disagrees", what);
    /* workgroup memory of every pipeline within 16 KiB: checked by the
     * variant tables (gemm/attn fits); invocation counts likewise */
}

typedef struct wmax {
    const gpu_caps *caps;
    uint64_t largest_part;
} wmax;

static wsd_status weight_probe(void *user, const wg_graph *g, int t, int want_f16, wgl_wloc *loc, wsd_err *err)
{
    wmax *w = user;
    WSD_TRY(wgl_plan_only_weight((void *)w->caps, g, t, want_f16, loc, err));
    for (int i = 0; i < loc->n_parts; i++)
        if (loc->part[i].size > w->largest_part) w->largest_part = loc->part[i].size;
    return WSD_OK;
}

/* dispatches of prog p whose pipeline name starts with `prefix` */
static int count_kernel(const wgl_prog *p, const char *prefix)
{
    int n = 0;
    for (int i = 0; i < p->n_cmds; i++)
        if (p->cmds[i].kind == WGL_CMD_DISPATCH && !strncmp(p->pipes[p->cmds[i].pipe].name, prefix, strlen(prefix))) n++;
    return n;
}

/* Lowers g (optionally with one kernel variant forced wherever it applies)
 * and checks the limits; returns the dispatch counts of two kernels. */
static void lower_one_ex(const char *what, wg_graph *g, const gpu_caps *caps, int f16, const char *force,
                         const char *k1, int *n1, const char *k2, int *n2)
{
    wsd_err err = {0};
    wgl_options o;
    memset(&o, 0, sizeof o);
    o.caps = *caps;
    o.weights_f16 = f16;
    o.force_variant = force;
    wmax wm = {caps, 0};
    o.weight = weight_probe;
    o.weight_user = &wm;
    wgl_prog p;
    char label[160];
    snprintf(label, sizeof label, "%s, %s weights", what, f16 ? "f16" : "f32");
    wsd_status st = wgl_lower(g, &o, &p, &err);
    CHECKF(st == WSD_OK, "%s: %s", label, err.msg);
    if (st != WSD_OK) return;
    check_prog(label, &p, caps);
    int views = 0;
    for (int i = 0; i < p.n_pipes; i++) views += strstr(p.pipes[i].wgsl, "VIEW4: bool = true") != NULL;
    if (views) printf("%s: %d pipelines with vec4 views\n", label, views);
    CHECKF(wm.largest_part <= 128 * MIB, "%s: a weight binding of %llu bytes", label,
           (unsigned long long)wm.largest_part);
    if (n1) *n1 = count_kernel(&p, k1);
    if (n2) *n2 = count_kernel(&p, k2);
    wgl_prog_free(&p);
}

static void lower_one(const char *what, wg_graph *g, const gpu_caps *caps, int f16)
{
    lower_one_ex(what, g, caps, f16, NULL, NULL, NULL, NULL, NULL);
}

/* An adapter without entries of its own uses those of its vendor's other
 * cards on the same backend (an H200 the shipped H100 entries), never
 * another vendor's or another backend's. */
static void check_tune_near(void)
{
    wsd_tune_db *db = wsd_tune_db_load(NULL, 0);
    CHECKF(db != NULL, "tuning database: load");
    if (!db) return;
    const char *sig = "linear m=8192 k=320 n=320 wt=f16";
    const char *h100 = wsd_tune_db_lookup(db, "10de:2330:vulkan", sig);
    CHECKF(h100 != NULL, "tuning database: no H100 entry for %s", sig);
    const char *h200 = wsd_tune_db_lookup_near(db, "10de:2335:vulkan", sig);
    CHECKF(h100 && h200 && !strcmp(h100, h200), "tuning database: H200 does not get the H100 entry (%s)",
           h200 ? h200 : "none");
    CHECKF(!wsd_tune_db_lookup(db, "10de:2335:vulkan", sig), "tuning database: exact lookup falls back");
    CHECKF(!wsd_tune_db_lookup_near(db, "10de:2335:d3d12", sig), "tuning database: other backend");
    CHECKF(!wsd_tune_db_lookup_near(db, "1002:2335:vulkan", sig), "tuning database: other vendor");
    CHECKF(!wsd_tune_db_lookup_near(db, "10de:2335:vulkan", "linear m=3 k=5 n=7 wt=f16"), "tuning database: unknown signature");
    wsd_tune_db_free(db);
}

/* kbuild's //#if lines: kept and dropped text, nesting, and the errors */
static void check_kbuild_if(void)
{
    kb k;
    kb_init(&k, "none", NULL);
    kb_const_b(&k, "A", 1);
    kb_const_b(&k, "B", 0);
    static const struct {
        const char *in, *want; /* want NULL: an error */
    } cases[] = {
        {"x\n//#if A\na\n//#else\nna\n//#endif\ny\n", "x\na\ny\n"},
        {"//#if B\nb\n//#else\nnb\n//#endif\n", "nb\n"},
        {"//#if !B\n  //#if A\nab\n  //#else\nanb\n  //#endif\n//#endif\nz", "ab\nz"},
        {"//#if B\n//#if A\nhidden\n//#else\nhidden too\n//#endif\n//#endif\n", ""},
        {"//#if C\nc\n//#endif\n", NULL},
        {"//#if A\na\n", NULL},
        {"a\n//#endif\n", NULL},
        {"//#else\n", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        const char *why = kb_filter_text(&k, cases[i].in, &out);
        if (cases[i].want)
            CHECKF(!why && out && !strcmp(out, cases[i].want), "kbuild //#if case %zu: got %s%s", i, why ? why : "",
                   out ? out : "");
        else
            CHECKF(why && !out, "kbuild //#if case %zu: no error", i);
        free(out);
    }
}

int main(void)
{
    check_kbuild_if();
    check_tune_near();
    gpu_caps caps;
    wgl_default_caps(&caps);
    clip_config cc;
    unet_config uc;
    vae_config vc;
    clip_config_sd15(&cc);
    unet_config_sd15(&uc);
    vae_config_sd15(&vc);
    build_opts bo = {0, 0};
    for (int f16 = 1; f16 >= 0; f16--) {
        wg_graph *g = wg_new(NULL, NULL);
        clip_build(g, &cc, 2, &bo);
        CHECKF(!wg_failed(g), "clip build: %s", g->err.msg);
        if (!wg_failed(g)) lower_one("SD 1.5 text encoder, batch 2", g, &caps, f16);
        wg_free(g);

        g = wg_new(NULL, NULL);
        unet_build(g, &uc, 2, 64, 64, 77, &bo);
        CHECKF(!wg_failed(g), "unet build: %s", g->err.msg);
        if (!wg_failed(g)) {
            /* residual adds are folded into the GEMMs: what stays are the broadcasts (time embedding) */
            int nb = 0, nl = 0;
            lower_one_ex("SD 1.5 UNet, batch 2, 64x64", g, &caps, f16, NULL, "binary", &nb, "linear", &nl);
            CHECKF(nb <= 30 && nl > 0, "UNet lowering: %d element-wise binary dispatches (residual adds not folded?)", nb);
            printf("SD 1.5 UNet: %d binary dispatches, %d linear\n", nb, nl);
            /* the same after the caller planned the graph (as the pipeline does): its in-place views must
             * not stop the fusions */
            wg_plan p0 = {0};
            wsd_err e0 = {0};
            CHECKF(wg_plan_memory(g, &p0, &e0) == WSD_OK, "UNet plan: %s", e0.msg);
            int nb2 = 0, nl2 = 0;
            lower_one_ex("SD 1.5 UNet, batch 2, 64x64, planned first", g, &caps, f16, NULL, "binary", &nb2, "linear", &nl2);
            CHECKF(nb2 == nb && nl2 == nl, "UNet lowering after planning: %d binary, %d linear dispatches (before: %d, %d)",
                   nb2, nl2, nb, nl);
        }
        wg_free(g);

        /* Winograd convolutions (every 3x3 stride-1 pad-1 conv): within the limits too */
        g = wg_new(NULL, NULL);
        unet_build(g, &uc, 2, 64, 64, 77, &bo);
        if (!wg_failed(g)) {
            int nw = 0, nc = 0;
            lower_one_ex("SD 1.5 UNet, batch 2, 64x64, Winograd", g, &caps, f16, "w128n128k8v/s2", "wino:", &nw, "conv:",
                         &nc);
            CHECKF(nw > 0, "UNet Winograd lowering: no Winograd dispatch (%d direct convs)", nc);
        }
        wg_free(g);

        g = wg_new(NULL, NULL);
        vae_decoder_build(g, &vc, 1, 64, 64, &bo);
        if (!wg_failed(g)) {
            int nw = 0;
            lower_one_ex("SD 1.5 VAE decoder, 512x512, Winograd", g, &caps, f16, "w128n128k8v", "wino:", &nw, "", NULL);
            CHECKF(nw > 0, "VAE decoder Winograd lowering: no Winograd dispatch");
        }
        wg_free(g);

        /* vec4 tiles (16-byte loads and stores through vec4 bindings, kept
         * apart from the plain ones) on every GEMM: within the limits, and no
         * overlapping writable bindings */
        g = wg_new(NULL, NULL);
        unet_build(g, &uc, 2, 64, 64, 77, &bo);
        if (!wg_failed(g)) {
            int nv = 0;
            lower_one_ex("SD 1.5 UNet, batch 2, 64x64, vec4 tiles", g, &caps, f16, "m128n128k8v", "conv:m128n128k8v",
                         &nv, "", NULL);
            CHECKF(nv > 0, "UNet vec4 lowering: no vec4 conv");
        }
        wg_free(g);
        g = wg_new(NULL, NULL);
        vae_decoder_build(g, &vc, 1, 64, 64, &bo);
        if (!wg_failed(g)) lower_one_ex("SD 1.5 VAE decoder, 512x512, vec4 tiles", g, &caps, f16, "m128n128k8v", "", NULL, "", NULL);
        wg_free(g);

        g = wg_new(NULL, NULL);
        vae_decoder_build(g, &vc, 1, 64, 64, &bo);
        CHECKF(!wg_failed(g), "vae decoder build: %s", g->err.msg);
        if (!wg_failed(g)) lower_one("SD 1.5 VAE decoder, 512x512", g, &caps, f16);
        wg_free(g);

        g = wg_new(NULL, NULL);
        vae_encoder_build(g, &vc, 1, 512, 512, &bo);
        CHECKF(!wg_failed(g), "vae encoder build: %s", g->err.msg);
        if (!wg_failed(g)) lower_one("SD 1.5 VAE encoder, 512x512", g, &caps, f16);
        wg_free(g);
    }
    return tu_finish();
}
