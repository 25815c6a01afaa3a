#include "io/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <unistd.h>
#if !defined(__wasm__)
#include <sys/mman.h>
#define WSD_HAVE_MMAP 1
#endif

/* What a path that is not a regular file is, for messages; NULL for a regular file. */
static const char *file_kind(mode_t m)
{
    if (S_ISREG(m)) return NULL;
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO (named pipe)";
    if (S_ISCHR(m)) return "a character device";
#ifdef S_ISSOCK
    if (S_ISSOCK(m)) return "a socket";
#endif
#ifdef S_ISBLK
    if (S_ISBLK(m)) return "a block device";
#endif
    return "not a regular file";
}

static wsd_status open_error(const char *path, wsd_err *err)
{
    int e = errno;
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) /* a socket fails to open with ENXIO, say what it is */
        return wsd_fail(err, WSD_ERR_IO, "%s: is %s, expected a file", path, file_kind(st.st_mode));
    return wsd_fail(err, WSD_ERR_IO, "%s: cannot open: %s", path, strerror(e));
}

/* Opens for reading without blocking on a FIFO that has no writer (open(2)
 * would wait for one forever), then makes reads blocking again. */
static int open_read(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -1;
    int fl = fcntl(fd, F_GETFL);
    if (fstat(fd, st) != 0 || fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

wsd_status wsd_read_file(const char *path, size_t max_size, wsd_file_bytes *out, wsd_err *err)
{
    memset(out, 0, sizeof *out);
#ifdef WSD_HAVE_MMAP
    struct stat st;
    int fd = open_read(path, &st);
    if (fd < 0)
        return open_error(path, err);
    /* Regular files and pipes only: a device reads endlessly (/dev/zero up
     * to the size limit, a disk as far as it goes) and is never what a user
     * means by an image or a config file. */
    if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode)) {
        close(fd);
        return wsd_fail(err, WSD_ERR_IO, "%s: is %s, expected a file", path, file_kind(st.st_mode));
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
#else
    if (wsd_path_is_dir(path))
        return wsd_fail(err, WSD_ERR_IO, "%s: is a directory, expected a file", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return open_error(path, err);
#endif
    size_t cap = 65536, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap >= max_size + 1) break;
            size_t ncap = cap * 2;
            if (ncap > max_size + 1) ncap = max_size + 1;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f), e = errno;
    fclose(f);
    if (bad) {
        free(buf);
        return wsd_fail(err, WSD_ERR_IO, "%s: read error: %s", path, strerror(e));
    }
#ifdef WSD_HAVE_MMAP
    if (n == 0 && S_ISFIFO(st.st_mode)) { /* a FIFO nobody writes to reads as empty */
        free(buf);
        return wsd_fail(err, WSD_ERR_IO, "%s: is a FIFO (named pipe) and nothing was written to it", path);
    }
#endif
    if (n > max_size) {
        free(buf);
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: file is larger than the %zu bytes allowed for it", path, max_size);
    }
    out->data = buf;
    out->size = n;
    return WSD_OK;
}

wsd_status wsd_map_file(const char *path, wsd_file_bytes *out, wsd_err *err)
{
#ifdef WSD_HAVE_MMAP
    memset(out, 0, sizeof *out);
    struct stat st;
    int fd = open_read(path, &st);
    if (fd < 0)
        return open_error(path, err);
    if (!S_ISREG(st.st_mode)) { /* mmap needs a regular file */
        close(fd);
        return wsd_fail(err, WSD_ERR_IO, "%s: is %s, expected a file", path, file_kind(st.st_mode));
    }
    if (st.st_size == 0) {
        close(fd);
        out->data = NULL;
        out->size = 0;
        return WSD_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return wsd_fail(err, WSD_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    out->data = p;
    out->size = (size_t)st.st_size;
    out->mapped = 1;
    return WSD_OK;
#else
    return wsd_read_file(path, SIZE_MAX - 1, out, err);
#endif
}

void wsd_file_bytes_free(wsd_file_bytes *fb)
{
    if (!fb || !fb->data)
        return;
#ifdef WSD_HAVE_MMAP
    if (fb->mapped)
        munmap(fb->data, fb->size);
    else
#endif
        free(fb->data);
    memset(fb, 0, sizeof *fb);
}

wsd_status wsd_reader_open(const char *path, wsd_file_reader *r, wsd_err *err)
{
    memset(r, 0, sizeof *r);
    r->fd = -1;
    if (wsd_path_is_dir(path))
        return wsd_fail(err, WSD_ERR_IO, "%s: is a directory, expected a file", path);
    r->path = wsd_strdup(path);
    if (!r->path)
        return wsd_fail(err, WSD_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    struct stat st;
    r->fd = open_read(path, &st); /* a FIFO would block open(2) */
    if (r->fd < 0) {
        wsd_status s = open_error(path, err);
        wsd_reader_close(r);
        return s;
    }
    if (!S_ISREG(st.st_mode)) {
        wsd_reader_close(r);
        return wsd_fail(err, WSD_ERR_IO, "%s: is %s, expected a file", path, file_kind(st.st_mode));
    }
    r->size = (uint64_t)st.st_size;
    return WSD_OK;
}

wsd_status wsd_reader_read(const wsd_file_reader *r, uint64_t offset, void *dst, size_t n, wsd_err *err)
{
    if (r->fd < 0)
        return wsd_fail(err, WSD_ERR_INTERNAL, "%s: read after close", r->path ? r->path : "(file)");
    if (offset > r->size || n > r->size - offset)
        return wsd_fail(err, WSD_ERR_IO, "%s: bytes %llu..%llu are past the end of the file (%llu bytes; did it change?)", r->path,
                        (unsigned long long)offset, (unsigned long long)(offset + n), (unsigned long long)r->size);
    uint8_t *p = dst;
    while (n) {
        ssize_t got = pread(r->fd, p, n > (1u << 30) ? (1u << 30) : n, (off_t)offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return wsd_fail(err, WSD_ERR_IO, "%s: read failed at byte %llu: %s", r->path, (unsigned long long)offset,
                            got < 0 ? strerror(errno) : "unexpected end of file");
        p += got;
        offset += (uint64_t)got;
        n -= (size_t)got;
    }
    return WSD_OK;
}

void wsd_reader_close(wsd_file_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    free(r->path);
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

wsd_status wsd_write_file(const char *path, const void *data, size_t size, wsd_err *err)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return wsd_fail(err, WSD_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    size_t w = size ? fwrite(data, 1, size, f) : 0;
    int bad = (w != size) | (fclose(f) != 0);
    if (bad)
        return wsd_fail(err, WSD_ERR_IO, "%s: write failed", path);
    return WSD_OK;
}

int wsd_path_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int wsd_path_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int wsd_path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

char *wsd_path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *r = malloc(la + lb + 2);
    if (!r)
        return NULL;
    memcpy(r, a, la);
    size_t n = la;
    if (n && r[n - 1] != '/')
        r[n++] = '/';
    memcpy(r + n, b, lb + 1);
    return r;
}
