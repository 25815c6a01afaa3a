/* Kernel instance builder: see kbuild.h. */
#include "backends/webgpu/kbuild.h"
#include "backends/webgpu/wgsl_embed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kb_init(kb *k, const char *kernel, const char *variant)
{
    memset(k, 0, sizeof *k);
    k->kernel = kernel;
    snprintf(k->variant, sizeof k->variant, "%s", variant ? variant : "");
    k->grid[0] = k->grid[1] = k->grid[2] = 1;
}

static void add_const(kb *k, const char *line)
{
    size_t n = strlen(line);
    if (k->consts_len + n + 1 < sizeof k->consts) {
        memcpy(k->consts + k->consts_len, line, n + 1);
        k->consts_len += n;
    }
}

void kb_const_u(kb *k, const char *name, uint32_t v)
{
    char line[96];
    snprintf(line, sizeof line, "const %s: u32 = %uu;\n", name, v);
    add_const(k, line);
}

void kb_const_b(kb *k, const char *name, int v)
{
    if (k->nbool < KB_MAX_BOOLS) {
        snprintf(k->bname[k->nbool], sizeof k->bname[0], "%s", name);
        k->bval[k->nbool++] = v != 0;
    }
    char line[96];
    snprintf(line, sizeof line, "const %s: bool = %s;\n", name, v ? "true" : "false");
    add_const(k, line);
}

static void add_param(kb *k, const char *name, uint32_t bits, char type)
{
    if (k->np >= KB_MAX_PARAMS) return; /* kb_emit reports it */
    snprintf(k->pname[k->np], sizeof k->pname[0], "%s", name);
    k->pval[k->np] = bits;
    k->ptype[k->np] = type;
    k->np++;
}

void kb_u32(kb *k, const char *name, uint32_t v) { add_param(k, name, v, 'u'); }
void kb_i32(kb *k, const char *name, int32_t v)
{
    uint32_t b;
    memcpy(&b, &v, 4);
    add_param(k, name, b, 'i');
}
void kb_f32(kb *k, const char *name, float v)
{
    uint32_t b;
    memcpy(&b, &v, 4);
    add_param(k, name, b, 'f');
}

void kb_opnd_raw(kb *k, const char *name, int space, uint32_t index, uint64_t off, uint64_t size, int type)
{
    if (k->n_op >= KB_MAX_OPND) {
        k->n_op++; /* kb_emit reports it */
        return;
    }
    kb_opnd *o = &k->op[k->n_op++];
    snprintf(o->name, sizeof o->name, "%s", name);
    o->space = (uint8_t)space;
    o->index = index;
    o->off = off;
    o->size = size;
    o->type = type;
}

void kb_stub(kb *k, const char *name) { kb_opnd_raw(k, name, 0, 0, 0, 0, -1); }

void kb_grid(kb *k, uint32_t x, uint32_t y, uint32_t z)
{
    k->grid[0] = x;
    k->grid[1] = y;
    k->grid[2] = z;
}

void kb_scalar(kb *k, const char *name)
{
    for (int i = 0; i < k->n_op && i < KB_MAX_OPND; i++)
        if (!strcmp(k->op[i].name, name)) k->op[i].scalar = 1;
}

int kb_vec4_ok(const kb *k)
{
    for (int i = 0; i < k->n_op && i < KB_MAX_OPND; i++)
        if (k->op[i].type == WGL_F32 && !k->op[i].scalar && (k->op[i].off % 16 || k->op[i].size % 16)) return 0;
    return 1;
}

/* the operand is declared through a vec4<f32> binding */
static int viewed(const kb *k, const kb_opnd *o) { return k->vec4 && o->type == WGL_F32 && !o->scalar; }

void kb_grid_flat(kb *k, uint64_t groups, uint32_t max_per_dim)
{
    if (groups == 0) groups = 1;
    uint64_t y = (groups + max_per_dim - 1) / max_per_dim;
    uint64_t x = (groups + y - 1) / y;
    k->grid[0] = (uint32_t)x;
    k->grid[1] = (uint32_t)y;
    k->grid[2] = 1;
}

/* ---- text assembly ---- */

typedef struct sbuf {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#include <stdarg.h>
static void sb_add(sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int w = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && (size_t)w < room) {
            b->n += (size_t)w;
            return;
        }
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < b->n + (size_t)w + 1) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
}

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int elem_size(int type) { return type == WGL_F16P ? 2 : 4; }

typedef struct cluster {
    uint8_t space;
    uint32_t index;
    int type;
    uint64_t start, end; /* window [start, end) bytes */
    int members[KB_MAX_OPND];
    int n;
    int view; /* vec4<f32> elements (see viewed) */
} cluster;

static int cmp_u64(uint64_t a, uint64_t b) { return a < b ? -1 : a > b; }

/* Appends the kernel text, keeping or dropping the lines of its //#if
 * blocks (see kbuild.h); returns NULL or what is wrong. */
static const char *add_body(sbuf *t, const kb *k, const char *body);

const char *kb_filter_text(const kb *k, const char *text, char **out)
{
    sbuf t = {0};
    const char *why = add_body(&t, k, text);
    if (!why && t.oom) why = "out of memory";
    if (why) {
        free(t.s);
        *out = NULL;
        return why;
    }
    if (!t.s) t.s = calloc(1, 1);
    *out = t.s;
    return t.s ? NULL : "out of memory";
}

static const char *add_body(sbuf *t, const kb *k, const char *body)
{
    int keep[8], depth = 0; /* keep[d]: lines at depth d+1 are kept */
    int on = 1;
    for (const char *p = body; *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) + 1 : strlen(p);
        const char *q = p;
        while (q < p + n && (*q == ' ' || *q == '\t')) q++;
        if (!strncmp(q, "//#if ", 6)) {
            if (depth == 8) return "//#if nested too deep";
            const char *nm = q + 6;
            int neg = *nm == '!';
            if (neg) nm++;
            size_t len = 0;
            while (nm[len] && nm[len] != '\n' && nm[len] != ' ' && nm[len] != '\r') len++;
            int val = -1;
            for (int i = 0; i < k->nbool; i++)
                if (strlen(k->bname[i]) == len && !strncmp(k->bname[i], nm, len)) val = k->bval[i];
            if (val < 0) return "//#if on a name that is not a bool constant of this dispatch";
            keep[depth++] = on;
            on = on && (neg ? !val : val);
        } else if (!strncmp(q, "//#else", 7)) {
            if (!depth) return "//#else without //#if";
            on = keep[depth - 1] && !on;
        } else if (!strncmp(q, "//#endif", 8)) {
            if (!depth) return "//#endif without //#if";
            on = keep[--depth];
        } else if (on) {
            sb_add(t, "%.*s", (int)n, p);
        }
        p += n;
    }
    return depth ? "//#if without //#endif" : NULL;
}

/* A plain and a vec4 view of one buffer get separate bindings, which must
 * not overlap where they are writable (WebGPU forbids aliasing writable
 * bindings): does the window [start, end) for operand o overlap a binding
 * of the other view? (Plain operands sort first, so their bindings exist.) */
static int crosses_view(const kb *k, const cluster *cl, int n_cl, uint64_t start, uint64_t end, const kb_opnd *o)
{
    if (o->space != WGL_ARENA && o->space != WGL_SCRATCH) return 0;
    for (int b = 0; b < n_cl; b++)
        if (cl[b].space == o->space && cl[b].index == o->index && cl[b].type == o->type && cl[b].view != viewed(k, o) &&
            start < cl[b].end && end > cl[b].start)
            return 1;
    return 0;
}

wsd_status kb_emit(kb *k, wgl_prog *p, const gpu_caps *caps, int node, wsd_err *err)
{
    if (k->n_op > KB_MAX_OPND || k->np >= KB_MAX_PARAMS)
        return wsd_fail(err, WSD_ERR_INTERNAL, "webgpu: kernel %s has too many operands or parameters", k->kernel);
    const char *body = wsd_wgsl_get(k->kernel);
    if (!body) return wsd_fail(err, WSD_ERR_INTERNAL, "webgpu: no embedded kernel wgsl/%s.wgsl", k->kernel);
    for (int d = 0; d < 3; d++)
        if (k->grid[d] == 0 || k->grid[d] > caps->max_workgroups_per_dim)
            return wsd_fail(err, WSD_ERR_INTERNAL, "webgpu: kernel %s (node %d): grid dimension %d is %u (limit %u)",
                            k->kernel, node, d, k->grid[d], caps->max_workgroups_per_dim);

    /* 1. cluster operands into bindings: same (space, index, type), sorted by
     * offset, merged while the aligned window fits one binding; operands
     * that overlap must merge. */
    uint64_t align = caps->min_storage_align ? caps->min_storage_align : 256;
    uint64_t maxb = caps->max_storage_binding;
    int order[KB_MAX_OPND], n_real = 0;
    for (int i = 0; i < k->n_op; i++)
        if (k->op[i].type >= 0) order[n_real++] = i;
    /* insertion sort by (space, index, type, view, off) */
    for (int a = 1; a < n_real; a++) {
        int v = order[a], b = a - 1;
        while (b >= 0) {
            const kb_opnd *x = &k->op[order[b]], *y = &k->op[v];
            int c = cmp_u64(x->space, y->space);
            if (!c) c = cmp_u64(x->index, y->index);
            if (!c) c = cmp_u64((uint64_t)x->type, (uint64_t)y->type);
            if (!c) c = cmp_u64((uint64_t)viewed(k, x), (uint64_t)viewed(k, y));
            if (!c) c = cmp_u64(x->off, y->off);
            if (c <= 0) break;
            order[b + 1] = order[b];
            b--;
        }
        order[b + 1] = v;
    }
    cluster cl[KB_MAX_OPND];
    int n_cl = 0;
    for (int a = 0; a < n_real; a++) {
        const kb_opnd *o = &k->op[order[a]];
        uint64_t oend = o->off + o->size;
        cluster *c = n_cl ? &cl[n_cl - 1] : NULL;
        if (c && c->space == o->space && c->index == o->index && c->type == o->type && c->view == viewed(k, o)) {
            uint64_t ne = oend > c->end ? oend : c->end;
            int overlap = o->off < c->end;
            if (overlap || (ne - c->start <= maxb && !crosses_view(k, cl, n_cl, c->start, ne, o))) {
                if (ne - c->start > maxb)
                    return wsd_fail(err, WSD_ERR_UNSUPPORTED,
                                    "webgpu: kernel %s (node %d): overlapping operands span %llu bytes, more than the "
                                    "%llu-byte binding limit",
                                    k->kernel, node, (unsigned long long)(ne - c->start), (unsigned long long)maxb);
                c->end = ne;
                c->members[c->n++] = order[a];
                continue;
            }
        }
        if (crosses_view(k, cl, n_cl, o->off / align * align, oend, o))
            return wsd_fail(err, WSD_ERR_INTERNAL,
                            "webgpu: kernel %s (node %d): operand %s's binding would overlap one of another view",
                            k->kernel, node, o->name);
        c = &cl[n_cl++];
        c->space = o->space;
        c->index = o->index;
        c->type = o->type;
        c->view = viewed(k, o);
        c->start = o->off / align * align;
        c->end = oend;
        c->n = 0;
        c->members[c->n++] = order[a];
        if (c->end - c->start > maxb)
            return wsd_fail(err, WSD_ERR_UNSUPPORTED,
                            "webgpu: kernel %s (node %d): operand %s needs a %llu-byte binding, more than "
                            "maxStorageBufferBindingSize %llu",
                            k->kernel, node, o->name, (unsigned long long)(c->end - c->start), (unsigned long long)maxb);
    }
    if ((uint32_t)n_cl > caps->max_storage_buffers)
        return wsd_fail(err, WSD_ERR_UNSUPPORTED,
                        "webgpu: kernel %s (node %d) needs %d storage bindings, the device allows %u", k->kernel, node,
                        n_cl, caps->max_storage_buffers);

    /* 2. element offset of each operand inside its binding */
    uint32_t eoff[KB_MAX_OPND];
    int bind_of[KB_MAX_OPND];
    for (int c = 0; c < n_cl; c++)
        for (int m = 0; m < cl[c].n; m++) {
            int i = cl[c].members[m];
            uint64_t rel = k->op[i].off - cl[c].start;
            if (rel % (uint64_t)elem_size(k->op[i].type))
                return wsd_fail(err, WSD_ERR_INTERNAL, "webgpu: operand %s of %s is not element-aligned", k->op[i].name,
                                k->kernel);
            eoff[i] = (uint32_t)(rel / (uint64_t)elem_size(k->op[i].type));
            if (viewed(k, &k->op[i]) && (eoff[i] % 4 || k->op[i].size % 16))
                return wsd_fail(err, WSD_ERR_INTERNAL, "webgpu: operand %s of %s is not 16-byte aligned (vec4 view)",
                                k->op[i].name, k->kernel);
            bind_of[i] = c;
        }

    /* 3. WGSL text */
    sbuf t = {0};
    if (k->subgroups && !caps->has_subgroups)
        return wsd_fail(err, WSD_ERR_INTERNAL, "webgpu: kernel %s %s needs subgroups, which the device lacks", k->kernel,
                        k->variant);
    if (k->subgroups) sb_add(&t, "enable subgroups;\n");
    sb_add(&t, "// %s%s%s\n", k->kernel, k->variant[0] ? " " : "", k->variant);
    sb_add(&t, "%s", k->consts);
    sb_add(&t, "struct Params {\n");
    int n_fields = 0;
    for (int i = 0; i < k->n_op; i++)
        if (k->op[i].type >= 0) {
            sb_add(&t, "  o_%s: u32,\n", k->op[i].name);
            n_fields++;
        }
    for (int i = 0; i < k->np; i++) {
        sb_add(&t, "  %s: %s,\n", k->pname[i], k->ptype[i] == 'u' ? "u32" : k->ptype[i] == 'i' ? "i32" : "f32");
        n_fields++;
    }
    if (!n_fields) sb_add(&t, "  unused_: u32,\n");
    sb_add(&t, "}\n");
    if ((size_t)n_fields * 4 > WGL_PARAM_BYTES) {
        free(t.s);
        return wsd_fail(err, WSD_ERR_INTERNAL, "webgpu: kernel %s has %d parameters (max %d)", k->kernel, n_fields,
                        WGL_PARAM_BYTES / 4);
    }
    for (int c = 0; c < n_cl; c++) {
        int ro = cl[c].space == WGL_WEIGHT || cl[c].space == WGL_CONST;
        const char *ty = cl[c].type == WGL_F32 ? (cl[c].view ? "vec4<f32>" : "f32") : cl[c].type == WGL_I32 ? "i32" : "u32";
        sb_add(&t, "@group(0) @binding(%d) var<storage, %s> b%d: array<%s>;\n", c, ro ? "read" : "read_write", c, ty);
    }
    sb_add(&t, "@group(0) @binding(%d) var<uniform> P: Params;\n", n_cl);
    for (int i = 0; i < k->n_op; i++) {
        const kb_opnd *o = &k->op[i];
        const char *nm = o->name;
        if (o->type < 0) {
            sb_add(&t, "fn ld_%s(i: u32) -> f32 { return 0.0; }\n", nm);
            sb_add(&t, "fn st_%s(i: u32, v: f32) { }\n", nm);
            if (k->vec4) {
                sb_add(&t, "fn ld4_%s(i: u32) -> vec4<f32> { return vec4<f32>(0.0); }\n", nm);
                sb_add(&t, "fn st4_%s(i: u32, v: vec4<f32>) { }\n", nm);
            }
            continue;
        }
        int b = bind_of[i];
        int writable = o->space == WGL_ARENA || o->space == WGL_SCRATCH;
        if (viewed(k, o)) {
            sb_add(&t, "fn ld_%s(i: u32) -> f32 { let j = P.o_%s + i; return b%d[j >> 2u][j & 3u]; }\n", nm, nm, b);
            sb_add(&t, "fn ld4_%s(i: u32) -> vec4<f32> { return b%d[(P.o_%s + i) >> 2u]; }\n", nm, b, nm);
            if (writable) {
                sb_add(&t, "fn st_%s(i: u32, v: f32) { let j = P.o_%s + i; b%d[j >> 2u][j & 3u] = v; }\n", nm, nm, b);
                sb_add(&t, "fn st4_%s(i: u32, v: vec4<f32>) { b%d[(P.o_%s + i) >> 2u] = v; }\n", nm, b, nm);
            }
        } else if (o->type == WGL_F32) {
            sb_add(&t, "fn ld_%s(i: u32) -> f32 { return b%d[P.o_%s + i]; }\n", nm, b, nm);
            sb_add(&t, "fn ld2_%s(i: u32) -> vec2<f32> { let j = P.o_%s + i; return vec2<f32>(b%d[j], b%d[j + 1u]); }\n",
                   nm, nm, b, b);
            sb_add(&t,
                   "fn ld4_%s(i: u32) -> vec4<f32> { let j = P.o_%s + i; return vec4<f32>(b%d[j], b%d[j + 1u], "
                   "b%d[j + 2u], b%d[j + 3u]); }\n",
                   nm, nm, b, b, b, b);
            if (writable) sb_add(&t, "fn st_%s(i: u32, v: f32) { b%d[P.o_%s + i] = v; }\n", nm, b, nm);
        } else if (o->type == WGL_F16P) {
            sb_add(&t, "fn ld_%s(i: u32) -> f32 { let j = P.o_%s + i; return unpack2x16float(b%d[j >> 1u])[j & 1u]; }\n",
                   nm, nm, b);
            sb_add(&t, "fn ld2_%s(i: u32) -> vec2<f32> { return unpack2x16float(b%d[(P.o_%s + i) >> 1u]); }\n", nm, b, nm);
            sb_add(&t,
                   "fn ld4_%s(i: u32) -> vec4<f32> { let j = (P.o_%s + i) >> 1u; return vec4<f32>(unpack2x16float(b%d[j]), "
                   "unpack2x16float(b%d[j + 1u])); }\n",
                   nm, nm, b, b);
        } else {
            sb_add(&t, "fn ldi_%s(i: u32) -> i32 { return b%d[P.o_%s + i]; }\n", nm, b, nm);
        }
    }
    sb_add(&t, "fn wg_flat(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.y * nwg.x + wid.x; }\n");
    const char *why = add_body(&t, k, body);
    if (why) {
        free(t.s);
        return wsd_fail(err, WSD_ERR_INTERNAL, "webgpu: kernel %s: %s", k->kernel, why);
    }
    if (t.oom) {
        free(t.s);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory building kernel %s", k->kernel);
    }

    /* 4. pipeline (dedup on the text) */
    int pipe = -1;
    for (int i = 0; i < p->n_pipes; i++)
        if (!strcmp(p->pipes[i].wgsl, t.s)) {
            pipe = i;
            break;
        }
    (void)fnv;
    if (pipe < 0) {
        if (p->n_pipes == p->cap_pipes) {
            int nc = p->cap_pipes ? p->cap_pipes * 2 : 32;
            wgl_pipe *np_ = realloc(p->pipes, (size_t)nc * sizeof *np_);
            if (!np_) {
                free(t.s);
                return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
            }
            p->pipes = np_;
            p->cap_pipes = nc;
        }
        pipe = p->n_pipes++;
        p->pipes[pipe].wgsl = t.s;
        snprintf(p->pipes[pipe].name, sizeof p->pipes[pipe].name, "%s%s%s", k->kernel, k->variant[0] ? ":" : "",
                 k->variant);
    } else {
        free(t.s);
    }

    /* 5. parameters */
    if (p->params_bytes + WGL_PARAM_BYTES > p->params_cap) {
        uint64_t nc = p->params_cap ? p->params_cap * 2 : 65536;
        unsigned char *nb = realloc(p->params, (size_t)nc);
        if (!nb) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
        p->params = nb;
        p->params_cap = nc;
    }
    uint64_t poff = p->params_bytes;
    uint32_t *pv = (uint32_t *)(p->params + poff);
    memset(pv, 0, WGL_PARAM_BYTES);
    int f = 0;
    for (int i = 0; i < k->n_op; i++)
        if (k->op[i].type >= 0) pv[f++] = eoff[i];
    for (int i = 0; i < k->np; i++) pv[f++] = k->pval[i];
    p->params_bytes += WGL_PARAM_BYTES;

    /* 6. the command */
    if (p->n_cmds == p->cap_cmds) {
        int nc = p->cap_cmds ? p->cap_cmds * 2 : 256;
        wgl_cmd *ncm = realloc(p->cmds, (size_t)nc * sizeof *ncm);
        if (!ncm) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "webgpu: out of memory");
        p->cmds = ncm;
        p->cap_cmds = nc;
    }
    wgl_cmd *cmd = &p->cmds[p->n_cmds++];
    memset(cmd, 0, sizeof *cmd);
    cmd->kind = WGL_CMD_DISPATCH;
    cmd->node = node;
    cmd->pipe = pipe;
    cmd->n_bind = n_cl + 1;
    for (int c = 0; c < n_cl; c++) {
        wgl_bind *b = &cmd->bind[c];
        b->binding = (uint32_t)c;
        b->space = cl[c].space;
        b->index = cl[c].index;
        b->offset = cl[c].start;
        b->size = (cl[c].end - cl[c].start + 3) & ~3ull;
        if (b->size > p->max_binding_seen) p->max_binding_seen = b->size;
    }
    wgl_bind *pb = &cmd->bind[n_cl];
    pb->binding = (uint32_t)n_cl;
    pb->space = WGL_PARAMS;
    pb->index = 0;
    pb->offset = poff;
    pb->size = WGL_PARAM_BYTES;
    memcpy(cmd->grid, k->grid, sizeof cmd->grid);
    cmd->param_off = poff;
    p->n_dispatch++;
    return WSD_OK;
}
