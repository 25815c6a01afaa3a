#include "testutil.h"
#include "io/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tu_failures = 0;
int tu_checks = 0;

const char *tu_shared(const char *rel)
{
    static char bufs[8][1024];
    static int slot = 0;
    char *b = bufs[slot++ % 8];
    const char *base = getenv("WSD_SHARED");
    if (!base || !*base) base = WSD_SHARED_DEFAULT;
    snprintf(b, 1024, "%s/%s", base, rel);
    return b;
}

const char *tu_tmpdir(void)
{
    static char dir[1024];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/test-tmp/%d", WSD_BINARY_DIR, (int)getpid());
        char parent[1024];
        snprintf(parent, sizeof parent, "%s/test-tmp", WSD_BINARY_DIR);
        mkdir(parent, 0755);
        mkdir(dir, 0755);
    }
    return dir;
}

tu_diff tu_compare(const float *got, const float *ref, size_t n)
{
    tu_diff d = {0, 0, 0};
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)got[i] - (double)ref[i];
        if (!(fabs(e) <= d.max_abs)) d.max_abs = fabs(e); /* NaN propagates */
        if (fabs(ref[i]) > d.ref_max_abs) d.ref_max_abs = fabs(ref[i]);
        num += e * e;
        den += (double)ref[i] * ref[i];
    }
    d.rel_l2 = den > 0 ? sqrt(num / den) : sqrt(num);
    return d;
}

int tu_check_close(const char *what, const float *got, const float *ref, size_t n, double rel, double abs_scale)
{
    tu_diff d = tu_compare(got, ref, n);
    double abs_bound = abs_scale * (d.ref_max_abs > 1 ? d.ref_max_abs : 1);
    int ok = d.rel_l2 <= rel && d.max_abs <= abs_bound;
    tu_checks++;
    if (!ok) tu_failures++;
    printf("%-4s %-60s rel_l2 %.3e (<= %.0e)  max_abs %.3e (<= %.1e)\n", ok ? "ok" : "FAIL", what, d.rel_l2, rel, d.max_abs, abs_bound);
    return ok;
}

void tu_webgpu_unavailable(const char *what, const char *why)
{
    fprintf(stderr,
            "\n*** The WebGPU backend could not start: %s\n"
            "*** CI must provide Dawn (scripts/get_dawn.sh) and SwiftShader (Debian's chromium package).\n\n",
            why);
    CHECKF(0, "%s: %s", what, why);
}

int tu_finish(void)
{
    printf("%d checks, %d failed\n", tu_checks, tu_failures);
    return tu_failures ? 1 : 0;
}

float *tu_read_f32(const st_file *f, const char *name, size_t *n)
{
    wsd_err err = {0};
    const st_tensor *t = st_find(f, name);
    float *x = NULL;
    if (!t || st_read_f32(f, name, 0, NULL, &x, &err) != WSD_OK) {
        CHECKF(0, "golden tensor %s: %s", name, t ? err.msg : "missing");
        return NULL;
    }
    if (n) *n = (size_t)t->numel;
    return x;
}
