/* Model loading: diffusers folders, single-file SD 1.x checkpoints and
 * in-memory folders. Graphs reference weights by diffusers name.
 *
 * Who holds the weight bytes:
 *  - natively, a weight file is mapped read-only (mmap) and tensors point
 *    into the mapping; in-memory folders are the caller's, never copied;
 *  - in the browser build (wasm has no mmap, 4 GiB of address space) a weight
 *    file on disk is opened lazily (st_open_lazy): the model keeps only its
 *    header (names, shapes, file offsets) and the open file. A graph made with
 *    model_graph_new_streamed (the WebGPU backend) reads each weight in small
 *    pieces when the backend uploads it into GPU buffers, into the backend's
 *    own staging memory, freed after the upload: the model's weights are
 *    never whole in wasm memory. A graph made with model_graph_new (the CPU
 *    backend, which computes from weights in memory, so they must be there
 *    anyway) reads each tensor whole on first use, and the model keeps it
 *    until model_free (st_tensor_load).
 * WSD_LAZY_WEIGHTS=1 (or 0) forces lazy files on (off) natively, for tests. */
#include "models/model.h"
#include "io/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const comp_dirs[COMP_COUNT] = {"text_encoder", "unet", "vae"};

/* ---- where the files come from ---- */
typedef struct {
    const char *dir;             /* a folder on disk, or NULL */
    const wsd_mem_file *files;   /* or files in memory */
    size_t n;
} source;

static const wsd_mem_file *mem_find(const source *s, const char *rel)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->files[i].path, rel) == 0)
            return &s->files[i];
    return NULL;
}

static int src_exists(const source *s, const char *rel)
{
    if (s->dir) {
        char *p = wsd_path_join(s->dir, rel);
        /* not only regular files: reading a FIFO, socket or device then says what it is */
        int ok = p && wsd_path_exists(p) && !wsd_path_is_dir(p);
        free(p);
        return ok;
    }
    return mem_find(s, rel) != NULL;
}

static void src_label(const source *s, const char *rel, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", s->dir ? s->dir : "(memory)", rel);
}

/* A folder on disk where the file `rel` should be. */
static int src_is_dir(const source *s, const char *rel)
{
    if (!s->dir) return 0;
    char *p = wsd_path_join(s->dir, rel);
    int d = p && wsd_path_is_dir(p);
    free(p);
    return d;
}

/* Reads a small text file (config, vocab) into an owned, NUL-terminated buffer. */
static wsd_status src_read(const source *s, const char *rel, char **out, size_t *len, wsd_err *err)
{
    *out = NULL;
    if (s->dir) {
        char *p = wsd_path_join(s->dir, rel);
        if (!p) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
        wsd_file_bytes fb;
        wsd_status st = wsd_read_file(p, 64u << 20, &fb, err);
        free(p);
        WSD_TRY(st);
        *out = wsd_strndup((const char *)fb.data, fb.size);
        *len = fb.size;
        wsd_file_bytes_free(&fb);
    } else {
        const wsd_mem_file *f = mem_find(s, rel);
        if (!f) return wsd_fail(err, WSD_ERR_IO, "(memory)/%s: no such file", rel);
        *out = wsd_strndup((const char *)f->data, f->size);
        *len = f->size;
    }
    return *out ? WSD_OK : wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
}

static wsd_status src_json(const source *s, const char *rel, json_doc **out, wsd_err *err)
{
    char *text;
    size_t len;
    WSD_TRY(src_read(s, rel, &text, &len, err));
    char label[1200];
    src_label(s, rel, label, sizeof label);
    wsd_status st = json_parse(text, len, label, out, err);
    free(text);
    return st;
}

/* Whether weight files are opened lazily (see the top of this file). */
static int lazy_weights(void)
{
    const char *e = getenv("WSD_LAZY_WEIGHTS");
    if (e && *e) return strcmp(e, "0") != 0;
#if defined(__wasm__)
    return 1;
#else
    return 0;
#endif
}

static wsd_status open_weights(const char *path, st_file *out, wsd_err *err)
{
    return lazy_weights() ? st_open_lazy(path, out, err) : st_open(path, out, err);
}

static wsd_status src_safetensors(const source *s, const char *rel, st_file *out, wsd_err *err)
{
    if (s->dir) {
        char *p = wsd_path_join(s->dir, rel);
        if (!p) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
        wsd_status st = open_weights(p, out, err);
        free(p);
        return st;
    }
    const wsd_mem_file *f = mem_find(s, rel);
    if (!f) return wsd_fail(err, WSD_ERR_IO, "(memory)/%s: no such file", rel);
    char label[1200];
    src_label(s, rel, label, sizeof label);
    return st_open_buffer(f->data, f->size, label, out, err);
}

/* ---- name index ---- */
typedef struct { const char *name; const st_tensor *t; } name_ref;

static int cmp_name_ref(const void *a, const void *b) { return strcmp(((const name_ref *)a)->name, ((const name_ref *)b)->name); }

static wsd_status index_add(comp_weights *w, size_t *cap, const char *name, const st_tensor *t, wsd_err *err)
{
    if (w->count == *cap) {
        size_t nc = *cap ? *cap * 2 : 512;
        const char **nn = realloc((void *)w->names, nc * sizeof *nn);
        if (nn) w->names = nn;
        const st_tensor **nt = realloc((void *)w->tensors, nc * sizeof *nt);
        if (nt) w->tensors = nt;
        if (!nn || !nt) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
        *cap = nc;
    }
    w->names[w->count] = wsd_strdup(name);
    if (!w->names[w->count]) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    w->tensors[w->count] = t;
    w->count++;
    return WSD_OK;
}

static wsd_status index_sort(comp_weights *w, wsd_err *err)
{
    if (!w->count) return WSD_OK;
    name_ref *r = malloc(w->count * sizeof *r);
    if (!r) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; i < w->count; i++) r[i] = (name_ref){w->names[i], w->tensors[i]};
    qsort(r, w->count, sizeof *r, cmp_name_ref);
    for (size_t i = 0; i < w->count; i++) {
        w->names[i] = r[i].name;
        w->tensors[i] = r[i].t;
    }
    free(r);
    for (size_t i = 1; i < w->count; i++)
        if (!strcmp(w->names[i - 1], w->names[i]))
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: tensor \"%s\" appears twice (under two spellings)", w->label, w->names[i]);
    return WSD_OK;
}

static const st_tensor *index_find(const comp_weights *w, const char *name)
{
    size_t lo = 0, hi = w->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(w->names[mid], name);
        if (!c) return w->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static void replace_once(char *s, size_t cap, const char *from, const char *to)
{
    char *p = strstr(s, from);
    if (!p) return;
    char tail[512];
    snprintf(tail, sizeof tail, "%s", p + strlen(from));
    snprintf(p, cap - (size_t)(p - s), "%s%s", to, tail);
}

/* Diffusers-folder spellings normalised to the names the builders ask for. */
static void normalise_diffusers_name(model_component c, const char *in, char *out, size_t cap)
{
    if (c == COMP_TEXT_ENCODER && strncmp(in, "text_model.", 11) != 0)
        snprintf(out, cap, "text_model.%s", in); /* transformers 5 saves without the prefix */
    else
        snprintf(out, cap, "%s", in);
    if (c == COMP_VAE && strstr(out, ".attentions.")) { /* legacy VAE attention names */
        replace_once(out, cap, ".query.", ".to_q.");
        replace_once(out, cap, ".key.", ".to_k.");
        replace_once(out, cap, ".value.", ".to_v.");
        replace_once(out, cap, ".proj_attn.", ".to_out.0.");
    }
}

static int ignored_name(const char *name) { return strstr(name, "position_ids") != NULL; }

static wsd_status index_diffusers(comp_weights *w, model_component c, wsd_err *err)
{
    size_t cap = 0;
    for (size_t i = 0; i < w->file->count; i++) {
        const st_tensor *t = &w->file->tensors[i];
        if (ignored_name(t->name)) continue;
        char name[512];
        normalise_diffusers_name(c, t->name, name, sizeof name);
        WSD_TRY(index_add(w, &cap, name, t, err));
    }
    return index_sort(w, err);
}

/* ---- single-file (CompVis) names ---- */

static const struct { const char *from, *to; } resnet_names[] = {
    {"in_layers.0", "norm1"}, {"in_layers.2", "conv1"}, {"emb_layers.1", "time_emb_proj"},
    {"out_layers.0", "norm2"}, {"out_layers.3", "conv2"}, {"skip_connection", "conv_shortcut"},
};

/* "in_layers.0.weight" -> "norm1.weight" (UNet ResNet inner names). */
static int map_unet_resnet(const char *rest, char *out, size_t cap)
{
    for (size_t i = 0; i < sizeof resnet_names / sizeof *resnet_names; i++) {
        size_t n = strlen(resnet_names[i].from);
        if (!strncmp(rest, resnet_names[i].from, n) && rest[n] == '.') {
            snprintf(out, cap, "%s%s", resnet_names[i].to, rest + n);
            return 0;
        }
    }
    return -1;
}

static int map_vae_inner(const char *rest, char *out, size_t cap)
{
    /* resnet: nin_shortcut -> conv_shortcut; attention: norm/q/k/v/proj_out */
    static const struct { const char *from, *to; } m[] = {
        {"nin_shortcut.", "conv_shortcut."}, {"norm.", "group_norm."}, {"q.", "to_q."}, {"k.", "to_k."},
        {"v.", "to_v."}, {"proj_out.", "to_out.0."},
    };
    for (size_t i = 0; i < sizeof m / sizeof *m; i++) {
        size_t n = strlen(m[i].from);
        if (!strncmp(rest, m[i].from, n)) {
            snprintf(out, cap, "%s%s", m[i].to, rest + n);
            return 0;
        }
    }
    snprintf(out, cap, "%s", rest);
    return 0;
}

static int map_unet(const char *n, char *out, size_t cap, int layers)
{
    int a, b, consumed = 0;
    char inner[256];
    if (!strncmp(n, "time_embed.0.", 13)) { snprintf(out, cap, "time_embedding.linear_1.%s", n + 13); return 0; }
    if (!strncmp(n, "time_embed.2.", 13)) { snprintf(out, cap, "time_embedding.linear_2.%s", n + 13); return 0; }
    if (!strncmp(n, "out.0.", 6)) { snprintf(out, cap, "conv_norm_out.%s", n + 6); return 0; }
    if (!strncmp(n, "out.2.", 6)) { snprintf(out, cap, "conv_out.%s", n + 6); return 0; }
    if (!strncmp(n, "input_blocks.0.0.", 17)) { snprintf(out, cap, "conv_in.%s", n + 17); return 0; }
    if (sscanf(n, "input_blocks.%d.%d.%n", &a, &b, &consumed) == 2 && consumed) {
        if (a < 1 || b < 0) return -1; /* block indices are small and positive (input_blocks.0 is conv_in) */
        const char *rest = n + consumed;
        int level = (a - 1) / (layers + 1), j = (a - 1) % (layers + 1);
        if (j == layers) { /* the downsampler slot */
            if (strncmp(rest, "op.", 3)) return -1;
            snprintf(out, cap, "down_blocks.%d.downsamplers.0.conv.%s", level, rest + 3);
            return 0;
        }
        if (b == 0) {
            if (map_unet_resnet(rest, inner, sizeof inner)) return -1;
            snprintf(out, cap, "down_blocks.%d.resnets.%d.%s", level, j, inner);
        } else {
            snprintf(out, cap, "down_blocks.%d.attentions.%d.%s", level, j, rest);
        }
        return 0;
    }
    if (sscanf(n, "middle_block.%d.%n", &a, &consumed) == 1 && consumed) {
        if (a < 0) return -1;
        const char *rest = n + consumed;
        if (a == 1) { snprintf(out, cap, "mid_block.attentions.0.%s", rest); return 0; }
        if (map_unet_resnet(rest, inner, sizeof inner)) return -1;
        snprintf(out, cap, "mid_block.resnets.%d.%s", a / 2, inner);
        return 0;
    }
    if (sscanf(n, "output_blocks.%d.%d.%n", &a, &b, &consumed) == 2 && consumed) {
        if (a < 0 || b < 0) return -1;
        const char *rest = n + consumed;
        int level = a / (layers + 1), j = a % (layers + 1);
        if (b == 0) {
            if (map_unet_resnet(rest, inner, sizeof inner)) return -1;
            snprintf(out, cap, "up_blocks.%d.resnets.%d.%s", level, j, inner);
        } else if (!strncmp(rest, "conv.", 5)) {
            snprintf(out, cap, "up_blocks.%d.upsamplers.0.conv.%s", level, rest + 5);
        } else {
            snprintf(out, cap, "up_blocks.%d.attentions.%d.%s", level, j, rest);
        }
        return 0;
    }
    return -1;
}

static int map_vae(const char *n, char *out, size_t cap, int levels)
{
    int a, b, consumed = 0;
    char inner[256];
    const char *part = !strncmp(n, "encoder.", 8) ? "encoder" : !strncmp(n, "decoder.", 8) ? "decoder" : NULL;
    if (!part) {
        if (!strncmp(n, "quant_conv.", 11) || !strncmp(n, "post_quant_conv.", 16)) { snprintf(out, cap, "%s", n); return 0; }
        return -1;
    }
    const char *r = n + 8;
    if (!strncmp(r, "norm_out.", 9)) { snprintf(out, cap, "%s.conv_norm_out.%s", part, r + 9); return 0; }
    if (!strncmp(r, "conv_in.", 8) || !strncmp(r, "conv_out.", 9)) { snprintf(out, cap, "%s", n); return 0; }
    if (!strncmp(r, "mid.block_1.", 12) || !strncmp(r, "mid.block_2.", 12)) {
        map_vae_inner(r + 12, inner, sizeof inner);
        snprintf(out, cap, "%s.mid_block.resnets.%d.%s", part, r[10] - '1', inner);
        return 0;
    }
    if (!strncmp(r, "mid.attn_1.", 11)) {
        map_vae_inner(r + 11, inner, sizeof inner);
        snprintf(out, cap, "%s.mid_block.attentions.0.%s", part, inner);
        return 0;
    }
    int is_down = !strncmp(r, "down.", 5);
    if ((is_down || !strncmp(r, "up.", 3)) && sscanf(r + (is_down ? 5 : 3), "%d.%n", &a, &consumed) == 1 && consumed) {
        if (a < 0 || a >= levels) return -1; /* "up.N" counts from the bottom: levels - 1 - N must be a level */
        const char *rest = r + (is_down ? 5 : 3) + consumed;
        int level = is_down ? a : levels - 1 - a; /* CompVis numbers decoder up blocks bottom-up */
        const char *blocks = is_down ? "down_blocks" : "up_blocks";
        int c2 = 0;
        if (sscanf(rest, "block.%d.%n", &b, &c2) == 1 && c2 && b >= 0) {
            map_vae_inner(rest + c2, inner, sizeof inner);
            snprintf(out, cap, "%s.%s.%d.resnets.%d.%s", part, blocks, level, b, inner);
            return 0;
        }
        if (!strncmp(rest, "downsample.conv.", 16)) { snprintf(out, cap, "%s.%s.%d.downsamplers.0.conv.%s", part, blocks, level, rest + 16); return 0; }
        if (!strncmp(rest, "upsample.conv.", 14)) { snprintf(out, cap, "%s.%s.%d.upsamplers.0.conv.%s", part, blocks, level, rest + 14); return 0; }
    }
    return -1;
}

int compvis_to_diffusers(const char *name, model_component *comp, char *out, size_t cap)
{
    if (!strncmp(name, "model.diffusion_model.", 22)) {
        *comp = COMP_UNET;
        return map_unet(name + 22, out, cap, 2);
    }
    if (!strncmp(name, "first_stage_model.", 18)) {
        *comp = COMP_VAE;
        return map_vae(name + 18, out, cap, 4);
    }
    if (!strncmp(name, "cond_stage_model.transformer.", 29)) {
        *comp = COMP_TEXT_ENCODER;
        if (ignored_name(name)) return -1;
        normalise_diffusers_name(COMP_TEXT_ENCODER, name + 29, out, cap);
        return 0;
    }
    return -1;
}

/* ---- weights callback ---- */

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

/* Equal shapes, or equal once size-1 dims are dropped (a Linear stored as a 1x1 conv). */
static int shapes_match(int na, const int64_t *a, int nb, const int64_t *b)
{
    int i = 0, j = 0;
    for (;;) {
        while (i < na && a[i] == 1) i++;
        while (j < nb && b[j] == 1) j++;
        if (i == na || j == nb) return i == na && j == nb;
        if (a[i++] != b[j++]) return 0;
    }
}

/* The stored tensor for `name`, checked against the shape the graph asks for. */
static wsd_status weight_lookup(const comp_weights *w, const char *name, int ndim, const int64_t *shape, const st_tensor **out,
                                wsd_err *err)
{
    const st_tensor *t = index_find(w, name);
    if (!t)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: missing tensor \"%s\"", w->label, name);
    if (!shapes_match(t->ndim, t->shape, ndim, shape)) {
        char got[128], want[128];
        shape_str(got, sizeof got, t->ndim, t->shape);
        shape_str(want, sizeof want, ndim, shape);
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: tensor \"%s\" has shape %s but the model config needs %s (weights of another architecture?)",
                        w->label, t->name, got, want);
    }
    if (t->dtype != WSD_DT_F32 && t->dtype != WSD_DT_F16 && t->dtype != WSD_DT_BF16)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: tensor \"%s\" is %s, weights must be F32, F16 or BF16", w->label, t->name, wsd_dtype_name(t->dtype));
    *out = t;
    return WSD_OK;
}

wsd_status model_weight_fn(void *user, const char *name, int ndim, const int64_t *shape, const void **data, wsd_dtype *dtype, wsd_err *err)
{
    const comp_weights *w = user;
    const st_tensor *t;
    WSD_TRY(weight_lookup(w, name, ndim, shape, &t, err));
    WSD_TRY(st_tensor_load(w->file, t, err)); /* lazy files: read now, kept by the model */
    *data = t->data;
    *dtype = t->dtype;
    return WSD_OK;
}

/* Streamed graphs: the handle is the stored tensor (stable for the model's life). */
static wsd_status weight_handle_fn(void *user, const char *name, int ndim, const int64_t *shape, const void **data,
                                   wsd_dtype *dtype, wsd_err *err)
{
    const st_tensor *t;
    WSD_TRY(weight_lookup(user, name, ndim, shape, &t, err));
    *data = t;
    *dtype = t->dtype;
    return WSD_OK;
}

static wsd_status weight_read_fn(void *user, const void *handle, size_t offset, void *dst, size_t n, wsd_err *err)
{
    const comp_weights *w = user;
    return st_tensor_read(w->file, handle, offset, dst, n, err);
}

/* ---- loading ---- */

static uint64_t next_model_uid(void)
{
    static _Atomic uint64_t counter = 0;
    return ++counter;
}

static void assign_uid(wsd_model *m)
{
    uint64_t uid = next_model_uid();
    for (int c = 0; c < COMP_COUNT; c++) m->w[c].uid = uid;
}

wg_graph *model_graph_new(const wsd_model *m, model_component c)
{
    wg_graph *g = wg_new(model_weight_fn, (void *)&m->w[c]);
    if (g) g->weights_uid = m->w[c].uid;
    return g;
}

wg_graph *model_graph_new_streamed(const wsd_model *m, model_component c)
{
    wg_graph *g = wg_new(weight_handle_fn, (void *)&m->w[c]);
    if (!g) return NULL;
    g->weight_read = weight_read_fn;
    g->weights_uid = m->w[c].uid;
    return g;
}

void model_free(wsd_model *m)
{
    if (!m) return;
    for (int c = 0; c < COMP_COUNT; c++) {
        for (size_t i = 0; i < m->w[c].count; i++) free((char *)m->w[c].names[i]);
        free((void *)m->w[c].names);
        free((void *)m->w[c].tensors);
        free(m->w[c].label);
        st_close(&m->files[c]);
    }
    json_free(m->scheduler_doc);
    free(m->vocab_json);
    free(m->merges_txt);
    free(m->tokenizer_config);
    free(m->name);
    free(m);
}

static wsd_status load_tokenizer_files(wsd_model *m, const source *s, wsd_err *err)
{
    if (!src_exists(s, "tokenizer/vocab.json") || !src_exists(s, "tokenizer/merges.txt")) {
        char label[1200];
        src_label(s, "tokenizer", label, sizeof label);
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: the model has no tokenizer (tokenizer/vocab.json and tokenizer/merges.txt are needed)", label);
    }
    WSD_TRY(src_read(s, "tokenizer/vocab.json", &m->vocab_json, &m->vocab_len, err));
    WSD_TRY(src_read(s, "tokenizer/merges.txt", &m->merges_txt, &m->merges_len, err));
    if (src_exists(s, "tokenizer/tokenizer_config.json"))
        WSD_TRY(src_read(s, "tokenizer/tokenizer_config.json", &m->tokenizer_config, &m->tokenizer_config_len, err));
    return WSD_OK;
}

static wsd_status load_component_config(wsd_model *m, const source *s, model_component c, wsd_err *err)
{
    char rel[256], label[1200];
    snprintf(rel, sizeof rel, "%s/config.json", comp_dirs[c]);
    src_label(s, rel, label, sizeof label);
    if (src_is_dir(s, rel))
        return wsd_fail(err, WSD_ERR_IO, "%s: is a directory, expected a file", label);
    if (!src_exists(s, rel))
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: missing (is this a diffusers model folder?)", label);
    json_doc *doc;
    WSD_TRY(src_json(s, rel, &doc, err));
    wsd_status st;
    if (c == COMP_TEXT_ENCODER) st = clip_config_parse(json_root(doc), label, &m->clip, err);
    else if (c == COMP_UNET) st = unet_config_parse(json_root(doc), label, &m->unet, err);
    else st = vae_config_parse(json_root(doc), label, &m->vae, err);
    json_free(doc);
    return st;
}

wsd_status model_check_components(const wsd_model *m, wsd_err *err)
{
    const char *name = m->name ? m->name : "model";
    if (m->clip.hidden != m->unet.cross_dim)
        return wsd_fail(err, WSD_ERR_FORMAT,
                        "%s: the text encoder is %d wide but the UNet's cross_attention_dim is %d: components of "
                        "different architectures (e.g. an SD 2.x text encoder with an SD 1.x UNet)",
                        name, m->clip.hidden, m->unet.cross_dim);
    if (m->unet.in_channels != m->vae.latent_channels || m->unet.out_channels != m->vae.latent_channels)
        return wsd_fail(err, m->unet.in_channels > m->vae.latent_channels ? WSD_ERR_UNSUPPORTED : WSD_ERR_FORMAT,
                        "%s: the UNet takes %d and gives %d channels but the VAE's latents have %d: components of "
                        "different architectures, or an inpainting UNet (which wsd does not run)",
                        name, m->unet.in_channels, m->unet.out_channels, m->vae.latent_channels);
    return WSD_OK;
}

static wsd_status load_diffusers(wsd_model *m, const source *s, wsd_err *err)
{
    static const char *const weight_names[COMP_COUNT][3] = {
        {"text_encoder/model.safetensors", "text_encoder/model.fp16.safetensors", NULL},
        {"unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors", NULL},
        {"vae/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.fp16.safetensors", NULL},
    };
    if (src_exists(s, "model_index.json")) { /* validate it; its contents add nothing we need */
        json_doc *idx;
        WSD_TRY(src_json(s, "model_index.json", &idx, err));
        json_free(idx);
    }
    for (int c = 0; c < COMP_COUNT; c++) {
        WSD_TRY(load_component_config(m, s, (model_component)c, err));
        const char *rel = NULL;
        for (int k = 0; weight_names[c][k]; k++)
            if (src_exists(s, weight_names[c][k])) { rel = weight_names[c][k]; break; }
        char label[1200];
        if (!rel) {
            src_label(s, weight_names[c][0], label, sizeof label);
            if (src_is_dir(s, weight_names[c][0]))
                return wsd_fail(err, WSD_ERR_IO, "%s: is a directory, expected a file", label);
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: missing (the %s weights)", label, comp_dirs[c]);
        }
        WSD_TRY(src_safetensors(s, rel, &m->files[c], err));
        src_label(s, rel, label, sizeof label);
        m->w[c].file = &m->files[c];
        m->w[c].label = wsd_strdup(label);
        WSD_TRY(index_diffusers(&m->w[c], (model_component)c, err));
    }
    WSD_TRY(load_tokenizer_files(m, s, err));
    if (src_exists(s, "scheduler/scheduler_config.json"))
        WSD_TRY(src_json(s, "scheduler/scheduler_config.json", &m->scheduler_doc, err));
    return WSD_OK;
}

static int64_t dim_of(const comp_weights *w, const char *name, int d)
{
    const st_tensor *t = index_find(w, name);
    return t && d < t->ndim ? t->shape[d] : -1;
}

/* Hyper-parameters of a single-file checkpoint: from configs stored in its
 * metadata when present ("text_encoder_config", ...), else read off tensor shapes. */
static wsd_status infer_single_file_configs(wsd_model *m, const char *path, wsd_err *err)
{
    const char *keys[COMP_COUNT] = {"text_encoder_config", "unet_config", "vae_config"};
    int from_meta[COMP_COUNT] = {0};
    for (int c = 0; c < COMP_COUNT; c++) {
        const char *j = st_meta(&m->files[0], keys[c]);
        if (!j) continue;
        char label[1200];
        snprintf(label, sizeof label, "%s (metadata %s)", path, keys[c]);
        json_doc *doc;
        WSD_TRY(json_parse(j, strlen(j), label, &doc, err));
        wsd_status st = c == COMP_TEXT_ENCODER ? clip_config_parse(json_root(doc), label, &m->clip, err)
                        : c == COMP_UNET ? unet_config_parse(json_root(doc), label, &m->unet, err)
                                         : vae_config_parse(json_root(doc), label, &m->vae, err);
        json_free(doc);
        WSD_TRY(st);
        from_meta[c] = 1;
    }
    const comp_weights *te = &m->w[COMP_TEXT_ENCODER], *un = &m->w[COMP_UNET], *va = &m->w[COMP_VAE];
    if (!from_meta[COMP_TEXT_ENCODER]) {
        clip_config_sd15(&m->clip);
        m->clip.hidden = (int)dim_of(te, "text_model.embeddings.token_embedding.weight", 1);
        m->clip.vocab = (int)dim_of(te, "text_model.embeddings.token_embedding.weight", 0);
        m->clip.intermediate = (int)dim_of(te, "text_model.encoder.layers.0.mlp.fc1.weight", 0);
        int layers = 0;
        char nm[256];
        for (;; layers++) {
            snprintf(nm, sizeof nm, "text_model.encoder.layers.%d.mlp.fc1.weight", layers);
            if (!index_find(te, nm)) break;
        }
        m->clip.layers = layers;
        m->clip.heads = m->clip.hidden > 0 ? m->clip.hidden / 64 : 0; /* CLIP text models use 64-wide heads */
        if (m->clip.hidden <= 0 || layers == 0 || m->clip.heads == 0 || m->clip.intermediate <= 0)
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: no SD 1.x text encoder found (cond_stage_model.transformer.text_model.*)", path);
    }
    if (!from_meta[COMP_UNET]) {
        unet_config_sd15(&m->unet);
        char nm[256];
        int levels = 0;
        for (; levels < WSD_MAX_LEVELS; levels++) {
            snprintf(nm, sizeof nm, "down_blocks.%d.resnets.0.conv1.weight", levels);
            int64_t co = dim_of(un, nm, 0);
            if (co <= 0) break;
            m->unet.block_out[levels] = (int)co;
            snprintf(nm, sizeof nm, "down_blocks.%d.attentions.0.norm.weight", levels);
            m->unet.down_cross[levels] = index_find(un, nm) != NULL;
        }
        m->unet.levels = levels;
        for (int i = 0; i < levels; i++) {
            snprintf(nm, sizeof nm, "up_blocks.%d.attentions.0.norm.weight", i);
            m->unet.up_cross[i] = index_find(un, nm) != NULL;
        }
        m->unet.in_channels = (int)dim_of(un, "conv_in.weight", 1);
        m->unet.out_channels = (int)dim_of(un, "conv_out.weight", 0);
        m->unet.cross_dim = (int)dim_of(un, "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight", 1);
        const st_tensor *pin = index_find(un, "down_blocks.0.attentions.0.proj_in.weight");
        m->unet.linear_projection = pin && pin->ndim == 2;
        for (int i = 0; i < levels; i++) /* SD 2.x (1024-wide context) uses 64-wide heads; SD 1.x 8 heads */
            m->unet.heads[i] = m->unet.cross_dim == 1024 ? m->unet.block_out[i] / 64 : 8;
        if (levels == 0 || m->unet.in_channels <= 0 || m->unet.out_channels <= 0 || m->unet.cross_dim <= 0)
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: no SD 1.x UNet found (model.diffusion_model.*)", path);
    }
    if (!from_meta[COMP_VAE]) {
        vae_config_sd15(&m->vae);
        char nm[256];
        for (int i = 0; i < 4; i++) {
            snprintf(nm, sizeof nm, "encoder.down_blocks.%d.resnets.0.conv1.weight", i);
            m->vae.block_out[i] = (int)dim_of(va, nm, 0);
            if (m->vae.block_out[i] <= 0)
                return wsd_fail(err, WSD_ERR_FORMAT, "%s: no SD 1.x VAE found (first_stage_model.*)", path);
        }
        m->vae.latent_channels = (int)dim_of(va, "post_quant_conv.weight", 0);
        if (m->vae.latent_channels <= 0)
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: VAE has no post_quant_conv", path);
    }
    return WSD_OK;
}

static wsd_status load_single_file(wsd_model *m, const char *path, wsd_err *err)
{
    m->single_file = 1;
    WSD_TRY(open_weights(path, &m->files[0], err));
    size_t cap[COMP_COUNT] = {0};
    for (int c = 0; c < COMP_COUNT; c++) {
        m->w[c].file = &m->files[0];
        m->w[c].label = wsd_strdup(path);
    }
    for (size_t i = 0; i < m->files[0].count; i++) {
        const st_tensor *t = &m->files[0].tensors[i];
        model_component c;
        char name[512];
        if (compvis_to_diffusers(t->name, &c, name, sizeof name) != 0) continue; /* EMA copies, position_ids, ... */
        WSD_TRY(index_add(&m->w[c], &cap[c], name, t, err));
    }
    for (int c = 0; c < COMP_COUNT; c++)
        WSD_TRY(index_sort(&m->w[c], err));
    WSD_TRY(infer_single_file_configs(m, path, err));
    /* The tokenizer is not in the checkpoint: use the one in a folder beside
     * it (a diffusers tokenizer/), else the embedded default's CLIP vocabulary. */
    return WSD_OK;
}

static const char *base_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    const char *s = path + n;
    while (s > path && s[-1] != '/') s--;
    return s;
}

wsd_status model_load_path(const char *path, wsd_model **out, wsd_err *err)
{
    *out = NULL;
    wsd_model *m = calloc(1, sizeof *m);
    if (!m) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    assign_uid(m);
    m->name = wsd_strdup(base_name(path));
    if (m->name) {
        char *dot = strstr(m->name, ".safetensors");
        if (dot) *dot = 0;
        size_t n = strlen(m->name);
        while (n && m->name[n - 1] == '/') m->name[--n] = 0;
    }
    wsd_status st;
    if (wsd_path_is_dir(path)) {
        source s = {path, NULL, 0};
        st = load_diffusers(m, &s, err);
    } else if (wsd_path_exists(path)) { /* a FIFO or device fails in st_open, naming what it is */
        st = load_single_file(m, path, err);
    } else {
        st = wsd_fail(err, WSD_ERR_IO, "%s: no such file or directory", path);
    }
    if (st != WSD_OK) {
        model_free(m);
        return st;
    }
    *out = m;
    return WSD_OK;
}

wsd_status model_load_mem(const wsd_mem_file *files, size_t n, const char *name, wsd_model **out, wsd_err *err)
{
    *out = NULL;
    wsd_model *m = calloc(1, sizeof *m);
    if (!m) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    assign_uid(m);
    m->name = wsd_strdup(name ? name : "model");
    source s = {NULL, files, n};
    wsd_status st = load_diffusers(m, &s, err);
    if (st != WSD_OK) {
        model_free(m);
        return st;
    }
    *out = m;
    return WSD_OK;
}
