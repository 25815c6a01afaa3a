/* Static memory planning: every input, output and intermediate tensor gets an
 * offset in one arena, chosen so that tensors alive at the same time never
 * share a byte. Lifetimes are node-index intervals; placement is greedy
 * first-fit, biggest tensors first, which is simple and lands close to the
 * peak of simultaneously live bytes for these feed-forward graphs. */
#include "graph/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WG_ALIGN 256

static size_t align_up(size_t x) { return (x + WG_ALIGN - 1) & ~(size_t)(WG_ALIGN - 1); }

/* Ops whose kernels read element i before writing element i and nothing
 * else, so the output may overwrite the first input. */
static int elementwise_in_place_ok(const wg_graph *g, const wg_node *n)
{
    if (n->n_in < 1 || n->in[0] < 0) return 0; /* a node a backend fused away keeps no inputs */
    switch (n->op) {
    case WG_OP_SILU: case WG_OP_GELU: case WG_OP_QUICK_GELU: case WG_OP_ADD: case WG_OP_MUL:
    case WG_OP_SCALE: case WG_OP_CLAMP:
        return wg_numel(&g->t[n->out]) == wg_numel(&g->t[n->in[0]]);
    default:
        return 0;
    }
}

typedef struct { int id; size_t size; } root_ref;

static int cmp_size_desc(const void *a, const void *b)
{
    const root_ref *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->id - y->id;
}

typedef struct { size_t off, end; } span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

wsd_status wg_plan_memory(wg_graph *g, wg_plan *plan, wsd_err *err)
{
    WSD_TRY(wg_status(g, err));
    size_t chunk = plan->chunk_bytes;
    memset(plan, 0, sizeof *plan);
    plan->chunk_bytes = chunk;
    int n = g->n_tensors, end_time = g->n_nodes;
    int *own_last = malloc((size_t)(n > 0 ? n : 1) * sizeof *own_last);
    int *alias_last = malloc((size_t)(n > 0 ? n : 1) * sizeof *alias_last);
    char *alias_out = calloc((size_t)(n > 0 ? n : 1), 1);
    if (!own_last || !alias_last || !alias_out) {
        free(own_last); free(alias_last); free(alias_out);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "planner: out of memory");
    }
    /* What held nodes produce is kept for the whole run (wg_held_nodes). */
    char *held = calloc((size_t)(g->n_nodes > 0 ? g->n_nodes : 1), 1);
    if (!held) {
        free(own_last); free(alias_last); free(alias_out);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "planner: out of memory");
    }
    wg_held_nodes(g, held);
    /* Undo any earlier in-place decisions so planning is repeatable. */
    for (int i = 0; i < n; i++) {
        wg_tensor *t = &g->t[i];
        if (t->view_of >= 0 && (t->producer < 0 || g->nodes[t->producer].op != WG_OP_RESHAPE))
            t->view_of = -1;
        t->nbytes = align_up((size_t)wg_numel(t) * wsd_dtype_size(t->dtype));
        t->offset = 0;
        t->first_use = t->kind == WG_VALUE ? t->producer : -1;
        /* Inputs and outputs live for the whole run: outputs are read after
         * it, and an input set once (the UNet's text embeddings) must survive
         * every later run of the same compiled graph. */
        own_last[i] = (t->is_output || t->kind == WG_INPUT) ? end_time : t->first_use;
        if (t->kind == WG_VALUE && t->producer >= 0 && held[t->producer]) {
            t->first_use = -1;
            own_last[i] = end_time;
        }
        if (t->kind == WG_WEIGHT) plan->weight_bytes += (size_t)wg_numel(t) * wsd_dtype_size(t->dtype);
        else if (t->view_of < 0) plan->naive_bytes += t->nbytes;
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0 && own_last[g->nodes[i].in[k]] < i)
                own_last[g->nodes[i].in[k]] = i;

    /* Alias sets (reshape views and in-place outputs share their root):
     * decided in node order, so a set only grows with later tensors. */
    for (int i = 0; i < n; i++) {
        alias_last[i] = own_last[i];
        alias_out[i] = (char)g->t[i].is_output;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const wg_node *nd = &g->nodes[i];
        int out = nd->out;
        if (nd->op == WG_OP_RESHAPE) {
            int r = wg_root(g, out);
            if (own_last[out] > alias_last[r]) alias_last[r] = own_last[out];
            alias_out[r] |= g->t[out].is_output;
            continue;
        }
        if (!elementwise_in_place_ok(g, nd)) continue;
        int r = wg_root(g, nd->in[0]);
        const wg_tensor *R = &g->t[r];
        if (R->kind != WG_VALUE || alias_out[r] || alias_last[r] != i || R->nbytes != g->t[out].nbytes) continue;
        /* The second operand must not live in the same storage unless it is the same tensor view. */
        if (nd->n_in > 1 && nd->in[1] >= 0 && wg_root(g, nd->in[1]) == r && wg_numel(&g->t[nd->in[1]]) != wg_numel(R)) continue;
        g->t[out].view_of = r;
        if (own_last[out] > alias_last[r]) alias_last[r] = own_last[out];
        alias_out[r] |= g->t[out].is_output;
    }

    /* Roots and their lifetimes. */
    root_ref *roots = malloc((size_t)(n > 0 ? n : 1) * sizeof *roots);
    span *busy = malloc((size_t)(n > 0 ? n : 1) * sizeof *busy);
    if (!roots || !busy) {
        free(own_last); free(alias_last); free(alias_out); free(roots); free(busy);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "planner: out of memory");
    }
    int nr = 0;
    for (int i = 0; i < n; i++) {
        wg_tensor *t = &g->t[i];
        if (t->kind == WG_WEIGHT) continue;
        if (t->view_of >= 0) continue;
        t->last_use = alias_last[i];
        roots[nr].id = i;
        roots[nr].size = t->nbytes;
        nr++;
        if (t->nbytes > plan->largest_tensor) plan->largest_tensor = t->nbytes;
    }
    for (int i = 0; i < n; i++) {
        wg_tensor *t = &g->t[i];
        if (t->kind != WG_WEIGHT && t->view_of >= 0) {
            int r = wg_root(g, i);
            t->first_use = g->t[r].first_use;
            t->last_use = g->t[r].last_use;
        }
    }
    qsort(roots, (size_t)nr, sizeof *roots, cmp_size_desc);
    wsd_status st = WSD_OK;

    for (int a = 0; st == WSD_OK && a < nr; a++) {
        wg_tensor *t = &g->t[roots[a].id];
        if (chunk && t->nbytes > chunk) {
            st = wsd_fail(err, WSD_ERR_UNSUPPORTED, "planner: tensor \"%s\" needs %zu bytes, more than the %zu-byte buffer limit",
                          t->name ? t->name : "(intermediate)", t->nbytes, chunk);
            break;
        }
        int nb = 0;
        for (int b = 0; b < a; b++) {
            const wg_tensor *u = &g->t[roots[b].id];
            if (t->first_use <= u->last_use && u->first_use <= t->last_use)
                busy[nb++] = (span){u->offset, u->offset + u->nbytes};
        }
        qsort(busy, (size_t)nb, sizeof *busy, cmp_span);
        /* Lowest offset where the tensor fits between the busy spans. */
        size_t off = 0;
        for (int moved = 1; moved;) {
            moved = 0;
            if (chunk && off / chunk != (off + t->nbytes - 1) / chunk)
                off = (off / chunk + 1) * chunk; /* would straddle a chunk boundary */
            for (int b = 0; b < nb; b++)
                if (busy[b].off < off + t->nbytes && busy[b].end > off) {
                    off = busy[b].end;
                    moved = 1;
                    break;
                }
        }
        t->offset = off;
        if (off + t->nbytes > plan->arena_bytes) plan->arena_bytes = off + t->nbytes;
    }
    for (int i = 0; i < n; i++)
        if (g->t[i].kind != WG_WEIGHT && g->t[i].view_of >= 0)
            g->t[i].offset = g->t[wg_root(g, i)].offset;
    free(roots);
    free(busy);
    free(held);
    free(own_last);
    free(alias_last);
    free(alias_out);
    return st;
}

int wg_plan_verify(const wg_graph *g, const wg_plan *plan, char *msg, size_t cap)
{
    /* 1. Every root lies inside the arena and does not straddle a chunk. */
    for (int i = 0; i < g->n_tensors; i++) {
        const wg_tensor *t = &g->t[i];
        if (t->kind == WG_WEIGHT || t->view_of >= 0) continue;
        if (t->offset + t->nbytes > plan->arena_bytes || t->offset % WG_ALIGN) {
            snprintf(msg, cap, "tensor %d lies outside the arena or is misaligned", i);
            return -1;
        }
        if (plan->chunk_bytes && t->offset / plan->chunk_bytes != (t->offset + t->nbytes - 1) / plan->chunk_bytes) {
            snprintf(msg, cap, "tensor %d straddles a %zu-byte chunk", i, plan->chunk_bytes);
            return -1;
        }
    }
    /* 2. Recompute lifetimes from scratch (over each whole alias set) and
     * check that roots alive at the same time have disjoint bytes. */
    int n = g->n_tensors;
    int *first = malloc((size_t)(n > 0 ? n : 1) * sizeof *first), *last = malloc((size_t)(n > 0 ? n : 1) * sizeof *last);
    if (!first || !last) {
        free(first); free(last);
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    char *held = calloc((size_t)(g->n_nodes > 0 ? g->n_nodes : 1), 1);
    if (!held) {
        free(first); free(last);
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    wg_held_nodes(g, held);
    for (int i = 0; i < n; i++) { first[i] = 1 << 30; last[i] = -2; }
    for (int i = 0; i < n; i++) {
        const wg_tensor *t = &g->t[i];
        if (t->kind == WG_WEIGHT) continue;
        int r = wg_root(g, i);
        int held_v = t->kind == WG_VALUE && t->producer >= 0 && held[t->producer]; /* the whole run, as inputs */
        int f = t->kind == WG_VALUE && !held_v ? t->producer : -1;
        if (f < first[r]) first[r] = f;
        int l = (t->is_output || t->kind == WG_INPUT || held_v) ? g->n_nodes : f;
        if (l > last[r]) last[r] = l;
    }
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++) {
            int in = g->nodes[i].in[k];
            if (in < 0 || g->t[in].kind == WG_WEIGHT) continue;
            int r = wg_root(g, in);
            if (i > last[r]) last[r] = i;
        }
    int bad = 0;
    for (int a = 0; a < n && !bad; a++) {
        const wg_tensor *A = &g->t[a];
        if (A->kind == WG_WEIGHT || A->view_of >= 0) continue;
        for (int b = a + 1; b < n && !bad; b++) {
            const wg_tensor *B = &g->t[b];
            if (B->kind == WG_WEIGHT || B->view_of >= 0) continue;
            int live_together = first[a] <= last[b] && first[b] <= last[a];
            int bytes_overlap = A->offset < B->offset + B->nbytes && B->offset < A->offset + A->nbytes;
            if (live_together && bytes_overlap) {
                snprintf(msg, cap, "tensors %d and %d are alive together (nodes %d..%d and %d..%d) and share bytes", a, b, first[a], last[a], first[b], last[b]);
                bad = 1;
            }
        }
    }
    /* 3. An in-place node may only overwrite its first input. */
    for (int i = 0; i < g->n_nodes && !bad; i++) {
        const wg_node *nd = &g->nodes[i];
        int ro = wg_root(g, nd->out);
        if (nd->op == WG_OP_RESHAPE) continue;
        for (int k = 0; k < nd->n_in; k++) {
            int in = nd->in[k];
            if (in < 0 || g->t[in].kind == WG_WEIGHT) continue;
            if (wg_root(g, in) == ro && !(k == 0 || wg_root(g, nd->in[0]) == ro)) {
                snprintf(msg, cap, "node %d (%s) writes over its input %d", i, wg_op_name(nd->op), k);
                bad = 1;
            }
        }
    }
    /* 4. A node writing in place must be the last reader of every earlier
     * value in that storage (otherwise a later node reads overwritten data).
     * `first` is reused for each tensor's own last use. */
    for (int i = 0; i < n; i++) first[i] = g->t[i].is_output ? g->n_nodes : g->t[i].producer;
    for (int i = 0; i < g->n_nodes; i++)
        for (int k = 0; k < g->nodes[i].n_in; k++)
            if (g->nodes[i].in[k] >= 0 && i > first[g->nodes[i].in[k]]) first[g->nodes[i].in[k]] = i;
    for (int i = 0; i < g->n_nodes && !bad; i++) {
        const wg_node *nd = &g->nodes[i];
        if (nd->op == WG_OP_RESHAPE || g->t[nd->out].view_of < 0) continue;
        int ro = wg_root(g, nd->out);
        for (int t = 0; t < n && !bad; t++) {
            const wg_tensor *T = &g->t[t];
            if (t == nd->out || T->kind == WG_WEIGHT || wg_root(g, t) != ro) continue;
            if ((T->kind == WG_INPUT || T->producer < i) && first[t] > i) {
                snprintf(msg, cap, "node %d (%s) writes in place over tensor %d, which is still used at node %d", i, wg_op_name(nd->op), t, first[t]);
                bad = 1;
            }
        }
    }
    free(first);
    free(last);
    free(held);
    return bad ? -1 : 0;
}
