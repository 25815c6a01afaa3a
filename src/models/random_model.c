/* Random-weight models with the real architecture (see random_model.h).
 * The weight list comes from the graph builders themselves: each network is
 * built once at a tiny size with a callback that records every weight's name
 * and shape, so the model always matches what the builders ask for. */
#include "models/random_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__wasm__)
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#define RM_HAVE_MMAP 1
#endif

typedef struct {
    char *name;
    int ndim;
    int64_t shape[WG_MAX_DIMS];
} rec_weight;

typedef struct {
    rec_weight *w;
    size_t n, cap;
    int oom;
} recorder;

static wsd_status record_fn(void *user, const char *name, int ndim, const int64_t *shape, const void **data, wsd_dtype *dtype, wsd_err *err)
{
    recorder *r = user;
    *data = NULL;
    *dtype = WSD_DT_F32;
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->w[i].name, name)) return WSD_OK;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        rec_weight *nw = realloc(r->w, cap * sizeof *nw);
        if (!nw) { r->oom = 1; return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory"); }
        r->w = nw;
        r->cap = cap;
    }
    rec_weight *w = &r->w[r->n];
    w->name = wsd_strdup(name);
    if (!w->name) { r->oom = 1; return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory"); }
    w->ndim = ndim;
    for (int d = 0; d < WG_MAX_DIMS; d++) w->shape[d] = d < ndim ? shape[d] : 1;
    r->n++;
    return WSD_OK;
}

static void recorder_free(recorder *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->w[i].name);
    free(r->w);
    memset(r, 0, sizeof *r);
}

static int cmp_rec(const void *a, const void *b) { return strcmp(((const rec_weight *)a)->name, ((const rec_weight *)b)->name); }

/* ---- deterministic numbers ---- */
static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Float to half, round to nearest even: the common normal range by bit
 * arithmetic, everything else by the exact routine. */
static inline uint16_t to_f16(float v)
{
    uint32_t x;
    memcpy(&x, &v, 4);
    uint32_t a = x & 0x7FFFFFFFu;
    if (a >= 0x38800000u && a < 0x477FE000u)
        return (uint16_t)(((x >> 16) & 0x8000u) | (((a + 0x0FFFu + ((a >> 13) & 1u)) >> 13) - (112u << 10)));
    return wsd_f32_to_f16(v);
}

/* Fills values [start, start + n) of a tensor's stream (start a multiple of
 * 4): uniform in [-1, 1) (16-bit steps) times `amp`, plus `center`. Any
 * range can be made on its own: value i comes from splitmix step i / 4. */
static void fill_range(void *dst, wsd_dtype dt, size_t start, size_t n, uint64_t seed, float center, float amp)
{
    uint64_t s = seed + (uint64_t)(start / 4) * 0x9E3779B97F4A7C15ull;
    const float k = amp / 32768.0f;
    for (size_t i = 0; i < n; i += 4) {
        uint64_t r = splitmix(&s);
        for (int h = 0; h < 4 && i + (size_t)h < n; h++) {
            float v = center + k * (float)(int16_t)(uint16_t)(r >> (16 * h));
            size_t j = i + (size_t)h;
            if (dt == WSD_DT_F16) ((uint16_t *)dst)[j] = to_f16(v);
            else if (dt == WSD_DT_BF16) {
                uint32_t x;
                memcpy(&x, &v, 4);
                ((uint16_t *)dst)[j] = (uint16_t)((x + 0x7FFF + ((x >> 16) & 1)) >> 16);
            } else ((float *)dst)[j] = v;
        }
    }
}

/* Values [start, start + n) of weight w (start a multiple of 4). */
static void init_weight_range(const rec_weight *w, void *dst, wsd_dtype dt, uint64_t seed, size_t start, size_t n)
{
    size_t total = 1;
    for (int d = 0; d < w->ndim; d++) total *= (size_t)w->shape[d];
    uint64_t s = seed ^ name_hash(w->name);
    const float sqrt3 = 1.7320508f; /* uniform [-a, a) has std a / sqrt(3) */
    if (strstr(w->name, "embedding")) {
        fill_range(dst, dt, start, n, s, 0.0f, 0.02f * sqrt3);
    } else if (w->ndim == 1 || total == (size_t)w->shape[0]) {
        if (ends_with(w->name, ".weight")) fill_range(dst, dt, start, n, s, 1.0f, 0.1f * sqrt3); /* norm scales */
        else fill_range(dst, dt, start, n, s, 0.0f, 0.02f * sqrt3);                             /* biases */
    } else {
        size_t fan_in = total / (size_t)w->shape[0];
        fill_range(dst, dt, start, n, s, 0.0f, sqrt3 / sqrtf((float)fan_in));
    }
}

static void init_weight(const rec_weight *w, void *dst, wsd_dtype dt, uint64_t seed)
{
    size_t total = 1;
    for (int d = 0; d < w->ndim; d++) total *= (size_t)w->shape[d];
    init_weight_range(w, dst, dt, seed, 0, total);
}

static uint64_t random_uid(void)
{
    static _Atomic uint64_t counter = 0;
    return (1ull << 62) | ++counter; /* apart from model.c's counter */
}

#ifdef RM_HAVE_MMAP
/* Writes every tensor into an unlinked temporary file and maps it. */
static wsd_status map_component(recorder *r, const size_t *offs, size_t total, wsd_dtype dt, uint64_t seed, wsd_file_bytes *fb, wsd_err *err)
{
    const char *dir = getenv("TMPDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/wsd-random-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) return wsd_fail(err, WSD_ERR_IO, "random model: cannot create a temporary file in %s", dir && *dir ? dir : "/tmp");
    unlink(path);
    size_t esz = wsd_dtype_size(dt);
    wsd_status st = WSD_OK;
    if (ftruncate(fd, (off_t)total) != 0) st = wsd_fail(err, WSD_ERR_IO, "random model: cannot size a %zu-byte temporary file", total);
    /* in 1 MiB pieces, so making the model leaves no large freed blocks behind */
    const size_t chunk = (size_t)1 << 18; /* values, a multiple of 4 */
    unsigned char *buf = malloc(chunk * esz);
    if (!buf && st == WSD_OK) st = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; st == WSD_OK && i < r->n; i++) {
        size_t n = 1;
        for (int d = 0; d < r->w[i].ndim; d++) n *= (size_t)r->w[i].shape[d];
        for (size_t v0 = 0; st == WSD_OK && v0 < n; v0 += chunk) {
            size_t cnt = n - v0 < chunk ? n - v0 : chunk, done = 0;
            init_weight_range(&r->w[i], buf, dt, seed, v0, cnt);
            while (done < cnt * esz) {
                ssize_t k = pwrite(fd, buf + done, cnt * esz - done, (off_t)(offs[i] + v0 * esz + done));
                if (k <= 0) {
                    st = wsd_fail(err, WSD_ERR_IO, "random model: cannot write the temporary file (disk full?)");
                    break;
                }
                done += (size_t)k;
            }
        }
    }
    free(buf);
    if (st == WSD_OK) {
        void *map = mmap(NULL, total ? total : 1, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) st = wsd_fail(err, WSD_ERR_IO, "random model: cannot map the temporary file");
        else {
            fb->data = map;
            fb->size = total;
            fb->mapped = 1;
        }
    }
    close(fd);
    return st;
}
#endif

/* One component: a block holding every tensor (64-byte aligned), a sorted
 * st_file index and the comp_weights the graphs read through. */
static wsd_status make_component(wsd_model *m, model_component c, recorder *r, wsd_dtype dt, uint64_t seed, int mapped,
                                 const char *label, wsd_err *err)
{
    if (!r->n) return WSD_OK;
    qsort(r->w, r->n, sizeof *r->w, cmp_rec);
    size_t esz = wsd_dtype_size(dt), total = 0;
    size_t *offs = malloc(r->n * sizeof *offs);
    if (!offs) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    for (size_t i = 0; i < r->n; i++) {
        size_t n = 1;
        for (int d = 0; d < r->w[i].ndim; d++) n *= (size_t)r->w[i].shape[d];
        offs[i] = total;
        total += (n * esz + 63) & ~(size_t)63;
    }
    st_file *f = &m->files[c];
    comp_weights *cw = &m->w[c];
    f->path = wsd_strdup(label);
    f->tensors = calloc(r->n, sizeof *f->tensors);
    cw->names = calloc(r->n, sizeof *cw->names);
    cw->tensors = calloc(r->n, sizeof *cw->tensors);
    cw->label = wsd_strdup(label);
    cw->file = f;
    if (!f->path || !f->tensors || !cw->names || !cw->tensors || !cw->label) {
        free(offs);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (mapped) {
#ifdef RM_HAVE_MMAP
        wsd_status st = map_component(r, offs, total, dt, seed, &f->bytes, err);
        if (st != WSD_OK) {
            free(offs);
            return st;
        }
#else
        free(offs);
        return wsd_fail(err, WSD_ERR_UNSUPPORTED, "random model: mapped weights need mmap");
#endif
    } else {
        f->bytes.data = aligned_alloc(64, total ? total : 64);
        f->bytes.size = total;
        f->bytes.mapped = 0;
        if (!f->bytes.data) {
            free(offs);
            return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "random model: out of memory for %zu bytes of %s weights", total, label);
        }
    }
    for (size_t i = 0; i < r->n; i++) {
        st_tensor *t = &f->tensors[i];
        size_t n = 1;
        for (int d = 0; d < r->w[i].ndim; d++) n *= (size_t)r->w[i].shape[d];
        if (!mapped) init_weight(&r->w[i], f->bytes.data + offs[i], dt, seed);
        cw->names[i] = r->w[i].name; /* ownership moves to the model */
        r->w[i].name = NULL;
        t->name = cw->names[i];
        t->dtype = dt;
        t->ndim = r->w[i].ndim;
        for (int d = 0; d < t->ndim; d++) t->shape[d] = r->w[i].shape[d];
        t->numel = (int64_t)n;
        t->data = f->bytes.data + offs[i];
        t->nbytes = n * esz;
        cw->tensors[i] = t;
        cw->count++;
        f->count++;
    }
    free(offs);
    return WSD_OK;
}

void random_model_default_opts(random_model_opts *o)
{
    memset(o, 0, sizeof *o);
    o->dtype = WSD_DT_F16;
    o->text_encoder = o->unet = o->vae_decoder = o->vae_encoder = 1;
}

wsd_status random_model_create(const clip_config *clip, const unet_config *unet, const vae_config *vae,
                               uint64_t seed, wsd_model **out, wsd_err *err)
{
    random_model_opts o;
    random_model_default_opts(&o);
    return random_model_create_ex(clip, unet, vae, seed, &o, out, err);
}

wsd_status random_model_create_ex(const clip_config *clip, const unet_config *unet, const vae_config *vae,
                                  uint64_t seed, const random_model_opts *opts, wsd_model **out, wsd_err *err)
{
    *out = NULL;
    random_model_opts o;
    if (opts) o = *opts;
    else random_model_default_opts(&o);
    if (o.dtype != WSD_DT_F16 && o.dtype != WSD_DT_F32 && o.dtype != WSD_DT_BF16)
        return wsd_fail(err, WSD_ERR_INVALID_ARGUMENT, "random model: weights must be F32, F16 or BF16");
    wsd_model *m = calloc(1, sizeof *m);
    if (!m) return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    if (clip) m->clip = *clip; else clip_config_sd15(&m->clip);
    if (unet) m->unet = *unet; else unet_config_sd15(&m->unet);
    if (vae) m->vae = *vae; else vae_config_sd15(&m->vae);
    m->name = wsd_strdup("random");
    uint64_t uid = random_uid();
    for (int c = 0; c < COMP_COUNT; c++) m->w[c].uid = uid;

    wsd_status st = m->name ? WSD_OK : wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory");
    for (int c = 0; st == WSD_OK && c < COMP_COUNT; c++) {
        recorder r = {0};
        wg_graph *g = wg_new(record_fn, &r);
        if (!g) { st = wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "out of memory"); break; }
        /* Tiny sizes: the weights do not depend on them. */
        int lat = 1 << (m->unet.levels > 1 ? m->unet.levels - 1 : 0), img = 8 << (m->vae.levels > 1 ? m->vae.levels - 1 : 0);
        if (c == COMP_TEXT_ENCODER && o.text_encoder) clip_build(g, &m->clip, 1, NULL);
        if (c == COMP_UNET && o.unet) unet_build(g, &m->unet, 1, lat, lat, 1, NULL);
        if (c == COMP_VAE && o.vae_decoder) vae_decoder_build(g, &m->vae, 1, 1, 1, NULL);
        if (c == COMP_VAE && o.vae_encoder && !wg_failed(g)) vae_encoder_build(g, &m->vae, 1, img, img, NULL);
        st = wg_status(g, err);
        wg_free(g);
        static const char *const labels[COMP_COUNT] = {"(random)/text_encoder", "(random)/unet", "(random)/vae"};
        if (st == WSD_OK) st = make_component(m, (model_component)c, &r, o.dtype, seed, o.mapped, labels[c], err);
        recorder_free(&r);
    }
    if (st != WSD_OK) {
        model_free(m);
        return st;
    }
    *out = m;
    return WSD_OK;
}
