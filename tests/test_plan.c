/* The memory planner never hands one byte to two live tensors.
 *
 * Graphs: the real SD 1.5 text encoder, UNet (batch 2, 64x64 latents), VAE
 * decoder (512x512) and VAE encoder, built without weights, and a few hundred
 * random graphs (chains of operators with random fan-out, random outputs).
 * Every plan is checked by wg_plan_verify and by an independent brute-force
 * check written here from the graph alone:
 *  - lifetimes: a tensor lives from its producing node to its last reader;
 *    outputs until n_nodes (read after the run); inputs over the whole run,
 *    from -1 (written before it) to n_nodes (graph.h: an input set once stays
 *    valid for every later run of the same compiled graph);
 *  - at every time step, any two live tensors whose byte ranges intersect must
 *    be the same value (a reshape view of each other, at the same offset) or
 *    an in-place element-wise node writing over its first input (same offset,
 *    at that node only);
 *  - the planner's recorded lifetimes cover every node that reads or writes a
 *    tensor, roots lie inside the arena, 256-byte aligned, views fit in their
 *    root, and with chunk_bytes no root straddles a chunk boundary.
 * Both checkers are also shown to reject deliberately broken plans. */
#include "graph/graph.h"
#include "models/models.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#define MIB ((size_t)1 << 20)
#define ALIGN 256

/* ---------------------------------------------------------------- checker */

/* Nodes the planner made write over their input. */
static int count_in_place(const wg_graph *g)
{
    int k = 0;
    for (int i = 0; i < g->n_nodes; i++) k += g->nodes[i].op != WG_OP_RESHAPE && g->t[g->nodes[i].out].view_of >= 0;
    return k;
}

static size_t tensor_bytes(const wg_tensor *t) { return (size_t)wg_numel(t) * wsd_dtype_size(t->dtype); }

static int is_in_place_op(wg_op op)
{
    return op == WG_OP_SILU || op == WG_OP_GELU || op == WG_OP_QUICK_GELU || op == WG_OP_ADD || op == WG_OP_MUL ||
           op == WG_OP_SCALE || op == WG_OP_CLAMP;
}

/* The value a tensor holds: reshapes are the same value as their input. */
static int value_of(const wg_graph *g, int t)
{
    while (g->t[t].producer >= 0 && g->nodes[g->t[t].producer].op == WG_OP_RESHAPE) t = g->nodes[g->t[t].producer].in[0];
    return t;
}

typedef struct {
    char msg[512];
    size_t live_peak; /* most bytes (aligned, per storage root) alive at one time */
} check_result;

/* Returns 0 when the plan is sound, else -1 with res->msg. */
static int brute_force_check(const wg_graph *g, const wg_plan *plan, check_result *res)
{
    int n = g->n_tensors, nn = g->n_nodes;
    int *start = malloc((size_t)n * sizeof *start), *end = malloc((size_t)n * sizeof *end);
    int *live = malloc((size_t)n * sizeof *live);
    char *seen_root = calloc((size_t)n, 1);
    res->msg[0] = 0;
    res->live_peak = 0;
    int bad = 0;
#define FAIL(...) do { if (!bad) snprintf(res->msg, sizeof res->msg, __VA_ARGS__); bad = 1; } while (0)
    if (!start || !end || !live || !seen_root) {
        FAIL("out of memory");
        goto out;
    }
    /* what held nodes produce must survive the runs that skip them: alive throughout, like inputs */
    char *held = calloc((size_t)(nn > 0 ? nn : 1), 1);
    if (!held) {
        FAIL("out of memory");
        goto out;
    }
    wg_held_nodes(g, held);
    for (int i = 0; i < n; i++) {
        const wg_tensor *t = &g->t[i];
        int held_v = t->kind == WG_VALUE && t->producer >= 0 && held[t->producer];
        start[i] = t->kind == WG_INPUT || held_v ? -1 : t->producer;
        end[i] = (t->is_output || t->kind == WG_INPUT || held_v) ? nn : start[i];
        if (t->kind == WG_VALUE && t->producer < 0) FAIL("value %d has no producer", i);
    }
    free(held);
    for (int i = 0; i < nn; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int in = g->nodes[i].in[k];
            if (in >= 0 && i > end[in]) end[in] = i;
            if (in >= 0 && g->t[in].kind == WG_VALUE && g->t[in].producer >= i) FAIL("node %d reads tensor %d before it is produced", i, in);
        }

    /* placement of every activation */
    for (int i = 0; i < n && !bad; i++) {
        const wg_tensor *t = &g->t[i];
        if (t->kind == WG_WEIGHT) continue;
        int r = wg_root(g, i);
        const wg_tensor *R = &g->t[r];
        if (R->kind == WG_WEIGHT) FAIL("activation %d is a view of weight %d", i, r);
        if (R->offset % ALIGN) FAIL("root %d at offset %zu is not %d-byte aligned", r, R->offset, ALIGN);
        if (R->offset + tensor_bytes(R) > plan->arena_bytes) FAIL("root %d [%zu, +%zu) runs past the %zu-byte arena", r, R->offset, tensor_bytes(R), plan->arena_bytes);
        if (tensor_bytes(t) > tensor_bytes(R)) FAIL("tensor %d (%zu bytes) does not fit in its root %d (%zu bytes)", i, tensor_bytes(t), r, tensor_bytes(R));
        if (plan->chunk_bytes && R->offset / plan->chunk_bytes != (R->offset + tensor_bytes(R) - 1) / plan->chunk_bytes)
            FAIL("root %d [%zu, +%zu) straddles a %zu-byte chunk", r, R->offset, tensor_bytes(R), plan->chunk_bytes);
        /* the planner's own idea of the lifetime must cover every use */
        if (start[i] <= end[i] && (t->first_use > start[i] || t->last_use < end[i]))
            FAIL("tensor %d is used over [%d, %d] but planned alive over [%d, %d]", i, start[i], end[i], t->first_use, t->last_use);
    }

    /* every time step: live tensors with intersecting bytes */
    for (int step = -1; step <= nn && !bad; step++) {
        int nl = 0;
        size_t live_bytes = 0;
        for (int i = 0; i < n; i++) {
            if (g->t[i].kind == WG_WEIGHT || start[i] > step || end[i] < step) continue;
            live[nl++] = i;
            int r = wg_root(g, i);
            if (!seen_root[r]) {
                seen_root[r] = 1;
                live_bytes += (tensor_bytes(&g->t[r]) + ALIGN - 1) / ALIGN * ALIGN;
            }
        }
        for (int k = 0; k < nl; k++) seen_root[wg_root(g, live[k])] = 0;
        if (live_bytes > res->live_peak) res->live_peak = live_bytes;
        for (int x = 0; x < nl && !bad; x++)
            for (int y = x + 1; y < nl && !bad; y++) {
                int a = live[x], b = live[y];
                size_t oa = g->t[wg_root(g, a)].offset, ob = g->t[wg_root(g, b)].offset;
                size_t ea = oa + tensor_bytes(&g->t[a]), eb = ob + tensor_bytes(&g->t[b]);
                if (!(oa < eb && ob < ea)) continue; /* disjoint */
                if (value_of(g, a) == value_of(g, b) && oa == ob) continue; /* one value, several shapes */
                /* an element-wise node at this step writing over its first input */
                int ok = 0;
                for (int s = 0; s < 2 && !ok; s++) {
                    int w = s ? a : b, r = s ? b : a; /* w written at this step over r */
                    if (step < 0 || step >= nn || g->t[w].producer != step) continue;
                    const wg_node *nd = &g->nodes[step];
                    /* ... and r is not read after this node */
                    ok = is_in_place_op(nd->op) && value_of(g, nd->in[0]) == value_of(g, r) && oa == ob &&
                         tensor_bytes(&g->t[w]) == tensor_bytes(&g->t[nd->in[0]]) && end[r] <= step;
                    /* the other operand must not be clobbered either (unless it is the same value) */
                    for (int k = 1; ok && k < nd->n_in; k++) {
                        int o = nd->in[k];
                        if (o < 0 || g->t[o].kind == WG_WEIGHT || value_of(g, o) == value_of(g, nd->in[0])) continue;
                        size_t oo = g->t[wg_root(g, o)].offset;
                        if (oo < ob + tensor_bytes(&g->t[w]) && ob < oo + tensor_bytes(&g->t[o])) ok = 0;
                    }
                }
                if (!ok)
                    FAIL("step %d: tensors %d [%zu, %zu) (%s) and %d [%zu, %zu) (%s) are both alive and share bytes", step, a, oa, ea,
                         g->t[a].producer >= 0 ? wg_op_name(g->nodes[g->t[a].producer].op) : "input", b, ob, eb,
                         g->t[b].producer >= 0 ? wg_op_name(g->nodes[g->t[b].producer].op) : "input");
            }
    }
out:
#undef FAIL
    free(start);
    free(end);
    free(live);
    free(seen_root);
    return bad ? -1 : 0;
}

/* Plans g (with chunk) and checks it both ways. Returns the planner status. */
static wsd_status plan_and_check(wg_graph *g, size_t chunk, wg_plan *plan, check_result *res, const char *label, int quiet)
{
    wsd_err err = {0};
    memset(plan, 0, sizeof *plan);
    plan->chunk_bytes = chunk;
    wsd_status st = wg_plan_memory(g, plan, &err);
    if (st != WSD_OK) return st;
    char msg[512];
    int v1 = wg_plan_verify(g, plan, msg, sizeof msg);
    CHECKF(v1 == 0, "%s: wg_plan_verify: %s", label, msg);
    int v2 = brute_force_check(g, plan, res);
    CHECKF(v2 == 0, "%s: brute force: %s", label, res->msg);
    CHECKF(plan->arena_bytes >= res->live_peak, "%s: arena %zu below the live peak %zu?", label, plan->arena_bytes, res->live_peak);
    /* with chunks, tensors alive together may not pack (none may straddle a
     * chunk): first fit still stays within twice the sum plus a chunk */
    size_t bound = chunk ? 2 * plan->naive_bytes + chunk : plan->naive_bytes;
    CHECKF(plan->arena_bytes <= bound, "%s: arena %zu above %zu (naive sum %zu)", label, plan->arena_bytes, bound,
           plan->naive_bytes);
    if (!quiet && v1 == 0 && v2 == 0) printf("ok   %s\n", label);
    return st;
}

/* Both checkers must reject a plan where two tensors alive together share
 * bytes, and the brute force one a lifetime that misses a use. */
static void check_checkers(wg_graph *g, wg_plan *plan, const char *label)
{
    check_result res;
    char msg[512];
    /* a: a computed root without views, alive over at least two nodes (so its
     * recorded last use is its last reader); b: a root produced while a is alive */
    int a = -1, b = -1;
    for (int i = 0; i < g->n_tensors && a < 0; i++) {
        const wg_tensor *t = &g->t[i];
        if (t->kind != WG_VALUE || t->view_of >= 0 || t->is_output || t->last_use < t->first_use + 1) continue;
        int has_views = 0;
        for (int j = 0; j < g->n_tensors && !has_views; j++) has_views = g->t[j].kind != WG_WEIGHT && g->t[j].view_of == i;
        if (!has_views) a = i;
    }
    for (int i = 0; a >= 0 && i < g->n_tensors && b < 0; i++) {
        const wg_tensor *t = &g->t[i];
        if (i != a && t->kind == WG_VALUE && t->view_of < 0 && t->producer > g->t[a].first_use && t->producer <= g->t[a].last_use) b = i;
    }
    size_t saved = g->t[b].offset;
    g->t[b].offset = g->t[a].offset;
    CHECKF(wg_plan_verify(g, plan, msg, sizeof msg) != 0, "%s: wg_plan_verify accepted two live tensors at one offset", label);
    CHECKF(brute_force_check(g, plan, &res) != 0, "%s: the brute-force check accepted two live tensors at one offset", label);
    g->t[b].offset = saved;
    /* a lifetime cut short */
    int last = g->t[a].last_use;
    g->t[a].last_use = last - 1;
    CHECKF(brute_force_check(g, plan, &res) != 0, "%s: the brute-force check accepted a lifetime that misses a use", label);
    g->t[a].last_use = last;
    /* a misaligned root */
    g->t[b].offset += 4;
    CHECKF(wg_plan_verify(g, plan, msg, sizeof msg) != 0 && brute_force_check(g, plan, &res) != 0, "%s: a misaligned tensor was accepted", label);
    g->t[b].offset = saved;
    /* an element-wise node made to write over its first input while that input
     * is still read later */
    for (int i = 0; i < g->n_nodes; i++) {
        const wg_node *nd = &g->nodes[i];
        int o = nd->out, x = nd->in[0];
        if (!is_in_place_op(nd->op) || g->t[o].view_of >= 0 || g->t[x].kind == WG_WEIGHT || g->t[x].last_use <= i) continue;
        if (tensor_bytes(&g->t[o]) != tensor_bytes(&g->t[x])) continue;
        g->t[o].view_of = wg_root(g, x);
        CHECKF(wg_plan_verify(g, plan, msg, sizeof msg) != 0, "%s: wg_plan_verify accepted node %d overwriting an input read later", label, i);
        CHECKF(brute_force_check(g, plan, &res) != 0, "%s: the brute-force check accepted node %d overwriting an input read later", label, i);
        g->t[o].view_of = -1;
        break;
    }
    CHECKF(wg_plan_verify(g, plan, msg, sizeof msg) == 0 && brute_force_check(g, plan, &res) == 0, "%s: restored plan rejected", label);
}

/* ------------------------------------------------------------ SD 1.5 graphs */

static void sd15_graphs(void)
{
    clip_config clip;
    unet_config unet;
    vae_config vae;
    clip_config_sd15(&clip);
    unet_config_sd15(&unet);
    vae_config_sd15(&vae);
    const char *names[4] = {"text encoder (batch 1)", "unet (batch 2, 64x64)", "vae decoder (512x512)", "vae encoder (512x512)"};
    printf("\nSD 1.5, float32 activations:\n%-24s %6s %8s %8s %12s %12s %12s %12s %14s\n", "graph", "nodes", "tensors", "in place",
           "naive", "planned", "live peak", "largest", "planned/128MiB");
    for (int k = 0; k < 4; k++) {
        wg_graph *g = wg_new(NULL, NULL);
        CHECK(g != NULL);
        if (!g) return;
        switch (k) {
        case 0: clip_build(g, &clip, 1, NULL); break;
        case 1: unet_build(g, &unet, 2, 64, 64, 77, NULL); break;
        case 2: vae_decoder_build(g, &vae, 1, 64, 64, NULL); break;
        default: vae_encoder_build(g, &vae, 1, 512, 512, NULL); break;
        }
        wsd_err err = {0};
        CHECKF(wg_status(g, &err) == WSD_OK, "%s: %s", names[k], err.msg);
        wg_plan plan, chunked;
        check_result res, cres = {{0}, 0};
        wsd_status st = plan_and_check(g, 0, &plan, &res, names[k], 1);
        CHECKF(st == WSD_OK, "%s: planning failed", names[k]);
        if (st != WSD_OK) { wg_free(g); continue; }
        int in_place = count_in_place(g);
        CHECKF(in_place > 0, "%s: no in-place node (the element-wise reuse is not exercised)", names[k]);
        check_checkers(g, &plan, names[k]);
        /* the same graph with 128 MiB buffers (WebGPU's default binding limit) */
        char label[128], chunk_col[32];
        snprintf(label, sizeof label, "%s, 128 MiB chunks", names[k]);
        wsd_status cst = plan_and_check(g, 128 * MIB, &chunked, &cres, label, 1);
        if (plan.largest_tensor <= 128 * MIB) {
            CHECKF(cst == WSD_OK, "%s: planning with 128 MiB chunks failed", names[k]);
            snprintf(chunk_col, sizeof chunk_col, "%.1f MiB", (double)chunked.arena_bytes / MIB);
        } else {
            /* a tensor larger than a chunk cannot be placed: a clean refusal */
            wsd_err e2 = {0};
            wg_plan p2 = {.chunk_bytes = 128 * MIB};
            CHECKF(cst == WSD_ERR_UNSUPPORTED && wg_plan_memory(g, &p2, &e2) == WSD_ERR_UNSUPPORTED && strstr(e2.msg, "buffer limit"),
                   "%s: a %zu-byte tensor with 128 MiB chunks: status %d, \"%s\"", names[k], plan.largest_tensor, (int)cst, e2.msg);
            snprintf(label, sizeof label, "%s, 256 MiB chunks", names[k]);
            wg_plan c256;
            check_result r256;
            CHECKF(plan_and_check(g, 256 * MIB, &c256, &r256, label, 1) == WSD_OK, "%s: planning with 256 MiB chunks failed", names[k]);
            snprintf(chunk_col, sizeof chunk_col, "n/a (256: %.1f)", (double)c256.arena_bytes / MIB);
        }
        printf("%-24s %6d %8d %8d %8.1f MiB %8.1f MiB %8.1f MiB %8.1f MiB %14s\n", names[k], g->n_nodes, g->n_tensors, in_place,
               (double)plan.naive_bytes / MIB, (double)plan.arena_bytes / MIB, (double)res.live_peak / MIB,
               (double)plan.largest_tensor / MIB, chunk_col);
        /* planning twice gives the same plan (in-place decisions are undone first) */
        wg_plan again;
        check_result r2;
        CHECK(plan_and_check(g, 0, &again, &r2, names[k], 1) == WSD_OK && again.arena_bytes == plan.arena_bytes);
        /* the greedy placement should stay close to the bound (it meets it today) */
        CHECKF(plan.arena_bytes <= res.live_peak + res.live_peak / 20, "%s: planned %zu, live peak %zu", names[k], plan.arena_bytes, res.live_peak);
        /* sanity of the headline: reuse must save most of the naive sum */
        CHECKF(plan.arena_bytes * 4 < plan.naive_bytes, "%s: planned %zu vs naive %zu", names[k], plan.arena_bytes, plan.naive_bytes);
        wg_free(g);
    }
    printf("(live peak: the most bytes alive at one node, a lower bound for any arena)\n\n");
}

/* ---------------------------------------------------------- random graphs */

static uint64_t rng_state;
static uint32_t rnd(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}
static int rnd_in(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

/* A random earlier tensor, biased to recent ones (chains) with random fan-out. */
static int pick(const int *pool, int np)
{
    if (rnd() % 3) return pool[np - 1 - (int)(rnd() % (uint32_t)(np < 4 ? np : 4))];
    return pool[rnd() % (uint32_t)np];
}

static int same_shape(const wg_graph *g, int a, int b)
{
    const wg_tensor *A = &g->t[a], *B = &g->t[b];
    return A->ndim == B->ndim && !memcmp(A->shape, B->shape, sizeof(int64_t) * (size_t)A->ndim);
}

/* Builds one random graph of about `steps` operators. */
static wg_graph *random_graph(int steps)
{
    wg_graph *g = wg_new(NULL, NULL);
    if (!g) return NULL;
    int *pool = malloc(sizeof(int) * (size_t)(steps + 8));
    int np = 0;
    int n_inputs = rnd_in(1, 3);
    int64_t B = rnd_in(1, 2), C = 4 * rnd_in(1, 4), H = rnd_in(1, 6), W = rnd_in(1, 6);
    for (int i = 0; i < n_inputs; i++) {
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        pool[np++] = wg_input(g, name, WSD_DT_F32, 4, WG_SHAPE(B, C, H, W));
        /* held inputs (wg_held_nodes): what only they feed must stay alive throughout */
        if (pool[np - 1] >= 0 && rnd() % 2) g->t[pool[np - 1]].held = 1;
    }
    for (int s = 0; s < steps && !wg_failed(g); s++) {
        int x = pick(pool, np), y = -1;
        const wg_tensor *X = &g->t[x];
        int nd = X->ndim;
        int64_t last = X->shape[nd - 1];
        switch (rnd() % 14) {
        case 0: y = wg_unary(g, WG_OP_SILU, x); break;
        case 1: y = wg_scale(g, x, 0.5f, 1.0f); break;
        case 2: y = wg_clamp(g, x, -1.0f, 1.0f); break;
        case 3: case 4: { /* binary with a same-shape partner, or itself, or a broadcast weight */
            int b = x;
            for (int tries = 0; tries < 6; tries++) {
                int c = pick(pool, np);
                if (same_shape(g, x, c)) { b = c; break; }
            }
            if (rnd() % 4 == 0) b = wg_weight(g, "w.bcast", 1, WG_SHAPE(last));
            y = (rnd() & 1) ? wg_add(g, x, b) : wg_mul(g, x, b);
            break;
        }
        case 5: /* reshape: flatten or split the last two dims */
            if (nd == 4) y = wg_reshape(g, x, 3, WG_SHAPE(X->shape[0], X->shape[1], X->shape[2] * X->shape[3]));
            else if (nd == 3) y = wg_reshape(g, x, 2, WG_SHAPE(X->shape[0] * X->shape[1], X->shape[2]));
            else y = wg_reshape(g, x, 1, WG_SHAPE(wg_numel(X)));
            break;
        case 6:
            if (nd == 3) y = wg_transpose(g, x);
            else if (nd == 4) y = wg_transpose(g, wg_reshape(g, x, 3, WG_SHAPE(X->shape[0], X->shape[1], X->shape[2] * X->shape[3])));
            else y = wg_unary(g, WG_OP_GELU, x);
            break;
        case 7: { /* concat with a partner that matches outside dim 0 */
            int b = x;
            for (int tries = 0; tries < 6; tries++) {
                int c = pick(pool, np);
                const wg_tensor *Cc = &g->t[c];
                if (Cc->ndim == nd && !memcmp(Cc->shape + 1, X->shape + 1, sizeof(int64_t) * (size_t)(nd - 1))) { b = c; break; }
            }
            if (X->shape[0] + g->t[b].shape[0] <= 16) y = wg_concat(g, x, b, 0);
            else y = wg_slice(g, x, 0, 0, 1);
            break;
        }
        case 8:
            if (X->shape[0] > 1) y = wg_slice(g, x, 0, rnd_in(0, (int)X->shape[0] - 1), 1);
            else y = wg_unary(g, WG_OP_QUICK_GELU, x);
            break;
        case 9: { /* linear to a new width */
            int64_t out = rnd_in(1, 24);
            y = wg_linear(g, x, wg_weight(g, "w.lin", 2, WG_SHAPE(out, last)), (rnd() & 1) ? wg_weight(g, "b.lin", 1, WG_SHAPE(out)) : -1);
            break;
        }
        case 10:
            if (nd == 4) {
                int64_t co = 4 * rnd_in(1, 4);
                int stride = rnd_in(1, 2);
                y = wg_conv2d(g, x, wg_weight(g, "w.conv", 4, WG_SHAPE(co, X->shape[1], 1, 1)), -1, stride, 0, 0, 0, 0);
            } else {
                y = wg_unary(g, WG_OP_SOFTMAX, x);
            }
            break;
        case 11:
            if (nd == 4 && X->shape[2] * 2 <= 12) y = wg_upsample_nearest(g, x, X->shape[2] * 2, X->shape[3] * 2);
            else if (last % 2 == 0) y = wg_unary(g, WG_OP_GEGLU, x);
            else y = wg_unary(g, WG_OP_SILU, x);
            break;
        case 12:
            if (nd >= 3 && X->shape[1] % 2 == 0)
                y = wg_group_norm(g, x, wg_weight(g, "gn.w", 1, WG_SHAPE(X->shape[1])), wg_weight(g, "gn.b", 1, WG_SHAPE(X->shape[1])), 2, 1e-5f, (int)(rnd() & 1));
            else
                y = wg_layer_norm(g, x, wg_weight(g, "ln.w", 1, WG_SHAPE(last)), wg_weight(g, "ln.b", 1, WG_SHAPE(last)), 1e-5f);
            break;
        default: /* a small residual block: y = x + silu(x) * 0.5 */
            y = wg_add(g, x, wg_scale(g, wg_unary(g, WG_OP_SILU, x), 0.5f, 0.0f));
            break;
        }
        if (y < 0) break;
        pool[np++] = y;
        if (rnd() % 16 == 0) {
            char name[24];
            snprintf(name, sizeof name, "out%d", s);
            wg_output(g, y, name);
        }
    }
    if (!wg_failed(g) && np > 0) wg_output(g, pool[np - 1], "final");
    free(pool);
    return g;
}

static void random_graphs(void)
{
    int graphs = 0, nodes = 0, in_place = 0, chunked_ok = 0, chunked_refused = 0;
    double sum_ratio = 0, worst_ratio = 1;
    for (int seed = 1; seed <= 400; seed++) {
        rng_state = (uint64_t)seed * 7919u;
        wg_graph *g = random_graph(rnd_in(5, 160));
        CHECK(g != NULL);
        if (!g) continue;
        wsd_err err = {0};
        if (wg_status(g, &err) != WSD_OK) {
            CHECKF(0, "random graph %d did not build: %s", seed, err.msg);
            wg_free(g);
            continue;
        }
        char label[64];
        snprintf(label, sizeof label, "random graph %d", seed);
        wg_plan plan;
        check_result res;
        int before = tu_failures;
        CHECKF(plan_and_check(g, 0, &plan, &res, label, 1) == WSD_OK, "%s: planning failed", label);
        in_place += count_in_place(g);
        double ratio = res.live_peak ? (double)plan.arena_bytes / (double)res.live_peak : 1;
        sum_ratio += ratio;
        if (ratio > worst_ratio) worst_ratio = ratio;
        if (seed == 1) check_checkers(g, &plan, "random graph 1");
        /* chunked: mostly a chunk a little larger than the largest tensor (so
         * that straddling is a real risk), sometimes one too small for it */
        size_t chunk = ALIGN;
        while (chunk < plan.largest_tensor) chunk *= 2;
        chunk = rnd() % 4 ? chunk << rnd_in(0, 2) : chunk / 2;
        snprintf(label, sizeof label, "random graph %d, %zu-byte chunks", seed, chunk);
        wg_plan cp;
        check_result cres;
        wsd_status cst = plan_and_check(g, chunk, &cp, &cres, label, 1);
        if (plan.largest_tensor <= chunk) {
            CHECKF(cst == WSD_OK, "%s: planning failed", label);
            chunked_ok++;
        } else {
            CHECKF(cst == WSD_ERR_UNSUPPORTED, "%s: a %zu-byte tensor was not refused", label, plan.largest_tensor);
            chunked_refused++;
        }
        if (tu_failures != before) fprintf(stderr, "(random graph seed %d, %d nodes)\n", seed, g->n_nodes);
        graphs++;
        nodes += g->n_nodes;
        wg_free(g);
    }
    CHECKF(in_place > 100, "random graphs: only %d in-place nodes", in_place);
    printf("random graphs: %d graphs, %d nodes (%d in place); arena / live peak: mean %.3f, worst %.3f; chunked plans: %d checked, %d refused "
           "(a tensor larger than the chunk)\n", graphs, nodes, in_place, sum_ratio / graphs, worst_ratio, chunked_ok, chunked_refused);
}

int main(void)
{
    sd15_graphs();
    random_graphs();
    return tu_finish();
}
