/* safetensors reader and writer.
 *
 * Reader: everything in the header is validated before any tensor is handed
 * out: header length within the file and below 100 MiB, well-formed JSON,
 * known dtypes, shapes whose byte size equals the data_offsets span, spans
 * inside the data section and not overlapping, no integer overflow.
 *
 * Two ways to hold the data:
 *  - st_open / st_open_buffer: the whole file is in memory (mapped natively;
 *    a caller's buffer) and every tensor's `data` points into it;
 *  - st_open_lazy: only the header is read and kept; the file stays open and
 *    tensor bytes are read when asked for (st_tensor_read: any byte range,
 *    into the caller's memory, which the caller owns; st_tensor_load: the
 *    whole tensor, kept by the st_file until st_close). Until loaded, a lazy
 *    tensor's `data` is NULL. This is how the browser build keeps a model's
 *    weights out of wasm memory: its WebGPU backend streams each weight in
 *    small pieces straight into GPU buffers. */
#ifndef WSD_IO_SAFETENSORS_H
#define WSD_IO_SAFETENSORS_H

#include "core/dtype.h"
#include "core/error.h"
#include "io/file.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER (100u << 20)

typedef struct st_tensor {
    const char *name;
    wsd_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const uint8_t *data; /* inside the file's bytes (may be unaligned); lazy files: NULL until st_tensor_load */
    size_t nbytes;
    uint64_t offset;     /* of the data in the file */
} st_tensor;

typedef struct st_file {
    char *path;              /* for error messages */
    wsd_file_bytes bytes;    /* owned unless borrowed; lazy files: the header only */
    int borrowed;
    int lazy;                /* opened with st_open_lazy: tensor data read on demand */
    wsd_file_reader reader;  /* lazy files: the open file */
    st_tensor *tensors;      /* sorted by name */
    size_t count;
    char **meta_keys, **meta_values; /* __metadata__ */
    size_t meta_count;
    void *doc;               /* keeps the names alive */
} st_file;

/* Opens and validates a file (mmap'ed where possible). Caller: st_close. */
wsd_status st_open(const char *path, st_file *out, wsd_err *err);
/* Validates a buffer the caller keeps alive until st_close. `what` names it in errors. */
wsd_status st_open_buffer(const uint8_t *data, size_t size, const char *what, st_file *out, wsd_err *err);
/* Reads and validates only the header; the file stays open until st_close. */
wsd_status st_open_lazy(const char *path, st_file *out, wsd_err *err);
void st_close(st_file *f);

/* Copies bytes [offset, offset + n) of tensor t's data into dst (any file kind). */
wsd_status st_tensor_read(const st_file *f, const st_tensor *t, size_t offset, void *dst, size_t n, wsd_err *err);
/* Makes t->data valid: a no-op unless the file is lazy, where the tensor is
 * read whole into memory owned by f (freed by st_close). Not thread-safe. */
wsd_status st_tensor_load(const st_file *f, const st_tensor *t, wsd_err *err);

const st_tensor *st_find(const st_file *f, const char *name);
const char *st_meta(const st_file *f, const char *key);

/* Loads tensor `name` as float32 (F32/F16/BF16 widen; I64/I32/U8 convert).
 * Checks the shape when `shape` is not NULL. Caller frees *out with free(). */
wsd_status st_read_f32(const st_file *f, const char *name, int ndim, const int64_t *shape, float **out, wsd_err *err);

/* ---- writer ---- */
typedef struct st_writer st_writer;
st_writer *st_writer_new(void);
/* Copies the data. Returns WSD_ERR_OUT_OF_MEMORY on failure. */
wsd_status st_writer_add(st_writer *w, const char *name, wsd_dtype dtype, int ndim, const int64_t *shape, const void *data, wsd_err *err);
wsd_status st_writer_add_meta(st_writer *w, const char *key, const char *value, wsd_err *err);
wsd_status st_writer_save(st_writer *w, const char *path, wsd_err *err);
void st_writer_free(st_writer *w);

#endif
