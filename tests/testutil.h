/* Minimal test harness: CHECK macros that count failures, golden comparisons
 * with the bounds of shared/reference/README.md, and paths to shared data. */
#ifndef WSD_TESTUTIL_H
#define WSD_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern int tu_failures;
extern int tu_checks;

#define CHECK(cond)                                                              \
    do {                                                                         \
        tu_checks++;                                                             \
        if (!(cond)) {                                                           \
            tu_failures++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                        \
    } while (0)

#define CHECKF(cond, ...)                                                        \
    do {                                                                         \
        tu_checks++;                                                             \
        if (!(cond)) {                                                           \
            tu_failures++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
        }                                                                        \
    } while (0)

/* Path of a file under shared/ (the WSD_SHARED environment variable, else the
 * directory beside the checkout). Returns a static buffer per call slot. */
const char *tu_shared(const char *rel);
/* A fresh scratch directory for this test (under the build tree). */
const char *tu_tmpdir(void);

typedef struct {
    double max_abs, rel_l2, ref_max_abs;
} tu_diff;

tu_diff tu_compare(const float *got, const float *ref, size_t n);
/* Checks got against ref with the float32 bounds (rel L2 <= rel, max abs <=
 * abs_scale * max(1, max|ref|)) and prints one line either way. Returns 1 if ok. */
int tu_check_close(const char *what, const float *got, const float *ref, size_t n, double rel, double abs_scale);

/* Reads tensor `name` of a safetensors file as f32 (any dtype, any shape);
 * counts a failed check naming it and returns NULL when it is missing or
 * unreadable. The caller frees the result; *n (optional) gets its size. */
struct st_file;
float *tu_read_f32(const struct st_file *f, const char *name, size_t *n);

/* The WebGPU backend did not start where a test needs it: says loudly what
 * CI must provide and counts a failed check (a WebGPU test never passes by
 * skipping). `what` names the attempt, `why` is the error message. */
void tu_webgpu_unavailable(const char *what, const char *why);

/* Prints the summary line and returns the process exit code. */
int tu_finish(void);

#endif
