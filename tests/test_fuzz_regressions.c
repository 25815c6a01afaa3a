/* Every input a fuzz target (fuzz/fuzz_*.c) found to crash, leak or break an
 * invariant, replayed with the expected outcome. The same inputs sit in the
 * fuzz seed corpora (fuzz/corpus/NAME/regression_*), so the fuzz smoke runs
 * them too; this test needs no clang and also runs under ASan/UBSan
 * (tests/sanitizers.sh), where a regression shows as a sanitizer report. */
#include "io/safetensors.h"
#include "models/model.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static void expect(const char *label, wsd_status got, const wsd_err *err, wsd_status want, const char *needle)
{
    int ok = got == want && (!needle || strstr(err->msg, needle));
    tu_checks++;
    if (!ok) tu_failures++;
    fprintf(ok ? stdout : stderr, "%-4s %-56s %s: %s\n", ok ? "ok" : "FAIL", label, wsd_status_name(got), err->msg);
}

static uint8_t *with_prefix(const char *header, size_t data_bytes, size_t *n)
{
    size_t h = strlen(header);
    *n = 8 + h + data_bytes;
    uint8_t *b = calloc(1, *n);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    return b;
}

/* fuzz_safetensors: a second "__metadata__" object was written past the
 * arrays sized for the first one (heap-buffer-overflow in parse_header). */
static void duplicate_metadata(void)
{
    const char *hdrs[] = {
        "{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\"},\"__metadata__\":{\"c\":\"3\"},\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        "{\"__metadata__\":{},\"__metadata__\":{\"c\":\"3\",\"d\":\"4\",\"e\":\"5\"}}",
    };
    for (int k = 0; k < 2; k++) {
        size_t n;
        uint8_t *b = with_prefix(hdrs[k], 4, &n);
        st_file f;
        wsd_err err = {0};
        expect(k ? "__metadata__ twice (first empty)" : "__metadata__ twice", st_open_buffer(b, n, "dup.safetensors", &f, &err), &err,
               WSD_ERR_FORMAT, "dup.safetensors: __metadata__ appears twice");
        free(b);
    }
    /* the committed seed (fuzz/corpus/safetensors/regression_two_metadata) */
    st_file f;
    wsd_err err = {0};
    const char *seed = WSD_SOURCE_DIR "/fuzz/corpus/safetensors/regression_two_metadata";
    expect("fuzz corpus file regression_two_metadata", st_open(seed, &f, &err), &err, WSD_ERR_FORMAT, "__metadata__ appears twice");
}

int main(void)
{
    duplicate_metadata();
    return tu_finish();
}
