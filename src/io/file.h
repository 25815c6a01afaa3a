/* Files: whole-file reads and read-only mappings, with errors that name the path. */
#ifndef WSD_IO_FILE_H
#define WSD_IO_FILE_H

#include "core/error.h"
#include <stddef.h>
#include <stdint.h>

typedef struct wsd_file_bytes {
    uint8_t *data;
    size_t size;
    int mapped; /* 1: mmap'ed (munmap on free), 0: malloc'ed */
} wsd_file_bytes;

/* Reads a whole file into memory; fails if it is larger than max_size. */
wsd_status wsd_read_file(const char *path, size_t max_size, wsd_file_bytes *out, wsd_err *err);
/* Maps a file read-only (falls back to reading where mmap is unavailable). */
wsd_status wsd_map_file(const char *path, wsd_file_bytes *out, wsd_err *err);
void wsd_file_bytes_free(wsd_file_bytes *fb);

/* A file kept open for reads at given offsets (pread): for weights that are
 * read piece by piece when they are needed instead of being mapped or read
 * whole (the browser build, where wasm has no mmap and a 4 GiB address
 * space). Owns the descriptor and a copy of the path (for messages). */
typedef struct wsd_file_reader {
    int fd;       /* -1 when closed */
    uint64_t size;
    char *path;
} wsd_file_reader;

wsd_status wsd_reader_open(const char *path, wsd_file_reader *r, wsd_err *err);
/* Reads exactly n bytes at `offset`; a short file is an error naming the path. */
wsd_status wsd_reader_read(const wsd_file_reader *r, uint64_t offset, void *dst, size_t n, wsd_err *err);
void wsd_reader_close(wsd_file_reader *r);

wsd_status wsd_write_file(const char *path, const void *data, size_t size, wsd_err *err);

int wsd_path_is_dir(const char *path);
int wsd_path_is_file(const char *path);
/* Anything at path (following symlinks): a file, a folder, a FIFO, a device... */
int wsd_path_exists(const char *path);
/* Joins a and b with '/'; caller frees. NULL on allocation failure. */
char *wsd_path_join(const char *a, const char *b);

#endif
