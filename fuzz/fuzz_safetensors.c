/* libFuzzer target: the safetensors header and tensor table (st_open_buffer).
 *
 * Any bytes either open or fail with a message, without a crash, leak or
 * sanitizer report. A file that opens must hold what the reader promises
 * (io/safetensors.h): every tensor's bytes inside the data section, not
 * overlapping another's, exactly numel * dtype size of them, numel the
 * product of the shape, names unique and sorted so st_find finds each one,
 * and every tensor readable as float32 (st_read_f32 touches every byte).
 * The same bytes, written to a file and opened through st_open (mmap) and
 * st_open_lazy (header only, tensors read on demand with pread), must give
 * the same verdict; a lazy file's tensors have the same offsets and read back
 * the same bytes, in pieces and whole. A violation traps, which libFuzzer
 * reports. */
#define _GNU_SOURCE /* memfd_create */
#include "io/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define REQUIRE(c)                                                                          \
    do {                                                                                    \
        if (!(c)) {                                                                         \
            fprintf(stderr, "fuzz_safetensors: invariant failed: %s (line %d)\n", #c, __LINE__); \
            __builtin_trap();                                                               \
        }                                                                                   \
    } while (0)

static int memfd = -1;
static char memfd_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    memfd = memfd_create("fuzz_safetensors", 0);
    if (memfd >= 0) snprintf(memfd_path, sizeof memfd_path, "/proc/self/fd/%d", memfd);
    return 0;
}

static int cmp_ptr(const void *a, const void *b)
{
    const st_tensor *x = *(st_tensor *const *)a, *y = *(st_tensor *const *)b;
    return x->data < y->data ? -1 : x->data > y->data;
}

static void check_open_file(const st_file *f, const uint8_t *data, size_t size)
{
    REQUIRE(size >= 10);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | data[i];
    REQUIRE(hlen <= size - 8);
    const uint8_t *lo = data + 8 + hlen, *hi = data + size;
    REQUIRE(f->count == 0 || f->tensors);
    st_tensor **by_off = malloc((f->count ? f->count : 1) * sizeof *by_off);
    REQUIRE(by_off);
    for (size_t i = 0; i < f->count; i++) {
        const st_tensor *t = &f->tensors[i];
        REQUIRE(t->name && t->ndim >= 0 && t->ndim <= ST_MAX_DIMS);
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            REQUIRE(t->shape[d] >= 0);
            numel *= (uint64_t)t->shape[d];
        }
        REQUIRE((uint64_t)t->numel == numel);
        REQUIRE(t->nbytes == numel * wsd_dtype_size(t->dtype));
        REQUIRE(t->data >= lo && t->data <= hi && t->nbytes <= (size_t)(hi - t->data));
        if (i) REQUIRE(strcmp(f->tensors[i - 1].name, t->name) < 0);
        REQUIRE(st_find(f, t->name) == t);
        by_off[i] = (st_tensor *)t;
        /* read every byte: an out-of-bounds span shows up under ASan */
        float *x = NULL;
        wsd_err err = {0};
        if (st_read_f32(f, t->name, t->ndim, t->shape, &x, &err) == WSD_OK) {
            volatile float sink = 0;
            for (int64_t k = 0; k < t->numel; k++) sink += x[k];
            (void)sink;
            free(x);
        } else {
            REQUIRE(x == NULL && err.msg[0]);
        }
        /* a wrong shape is refused, not read */
        int64_t wrong[ST_MAX_DIMS + 1];
        memcpy(wrong, t->shape, sizeof(int64_t) * (size_t)t->ndim);
        wrong[t->ndim] = 2;
        REQUIRE(st_read_f32(f, t->name, t->ndim + 1, wrong, &x, &err) == WSD_ERR_FORMAT && x == NULL);
    }
    qsort(by_off, f->count, sizeof *by_off, cmp_ptr);
    for (size_t i = 1; i < f->count; i++) {
        const st_tensor *a = by_off[i - 1], *b = by_off[i];
        REQUIRE(!a->nbytes || !b->nbytes || a->data + a->nbytes <= b->data);
    }
    free(by_off);
    for (size_t i = 0; i < f->meta_count; i++) {
        REQUIRE(f->meta_keys[i] && f->meta_values[i]);
        REQUIRE(st_meta(f, f->meta_keys[i]) != NULL);
    }
    REQUIRE(st_find(f, "\x01 no such tensor") == NULL);
}

/* A lazily opened file against the same bytes opened from memory (ok: f). */
static void check_lazy(const st_file *f, const st_file *lz, const uint8_t *buf)
{
    REQUIRE(lz->lazy && lz->count == f->count);
    for (size_t i = 0; i < lz->count; i++) {
        const st_tensor *a = &f->tensors[i], *b = &lz->tensors[i];
        REQUIRE(!strcmp(a->name, b->name) && a->dtype == b->dtype && a->nbytes == b->nbytes && a->numel == b->numel);
        REQUIRE(b->offset == (uint64_t)(a->data - buf) && b->data == NULL);
        wsd_err err = {0};
        uint8_t *x = malloc(b->nbytes + 1);
        REQUIRE(x);
        /* the second half, then the whole tensor through st_tensor_load */
        size_t half = b->nbytes / 2;
        REQUIRE(st_tensor_read(lz, b, half, x, b->nbytes - half, &err) == WSD_OK);
        REQUIRE(memcmp(x, a->data + half, b->nbytes - half) == 0);
        REQUIRE(st_tensor_read(lz, b, half, x, b->nbytes - half + 1, &err) != WSD_OK && err.msg[0]);
        free(x);
        REQUIRE(st_tensor_load(lz, b, &err) == WSD_OK && (b->data || !b->nbytes));
        REQUIRE(!b->nbytes || memcmp(b->data, a->data, b->nbytes) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly `size` bytes, so reading past the end is caught. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    st_file f;
    wsd_err err = {0};
    wsd_status s = st_open_buffer(buf, size, "fuzz", &f, &err);
    size_t count = f.count;
    if (s == WSD_OK) {
        check_open_file(&f, buf, size);
    } else {
        REQUIRE(err.msg[0] && err.code == (int)s);
        REQUIRE(s == WSD_ERR_FORMAT || s == WSD_ERR_UNSUPPORTED || s == WSD_ERR_OUT_OF_MEMORY);
        REQUIRE(f.tensors == NULL && f.doc == NULL && f.path == NULL);
    }
    /* the same bytes through a file (st_open maps it) */
    if (memfd >= 0 && ftruncate(memfd, 0) == 0 && pwrite(memfd, buf, size, 0) == (ssize_t)size) {
        wsd_err err2 = {0};
        st_file g;
        wsd_status s2 = st_open(memfd_path, &g, &err2);
        REQUIRE(s2 == s);
        if (s2 == WSD_OK) {
            REQUIRE(g.count == count);
            st_close(&g);
        }
        wsd_err err3 = {0};
        st_file lz;
        wsd_status s3 = st_open_lazy(memfd_path, &lz, &err3);
        REQUIRE(s3 == s);
        if (s3 == WSD_OK) {
            check_lazy(&f, &lz, buf);
            st_close(&lz);
        } else {
            REQUIRE(err3.msg[0]);
        }
    }
    if (s == WSD_OK) st_close(&f);
    free(buf);
    return 0;
}
