/* Every input a fuzz target (fuzz/fuzz_*.c) found to crash, leak or break an
 * invariant, replayed with the expected outcome. The same inputs sit in the
 * fuzz seed corpora (fuzz/corpus/NAME/regression_*), so the fuzz smoke runs
 * them too; this test needs no clang and also runs under ASan/UBSan
 * (tests/sanitizers.sh), where a regression shows as a sanitizer report. */
#include "io/infotext.h"
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

/* fuzz_checkpoint: CompVis block numbers were used in int arithmetic as
 * parsed, so "input_blocks.-2147483648" computed INT_MIN - 1 and
 * "decoder.up.-2147483648" 3 - INT_MIN (signed overflow, UBSan). Negative or
 * out-of-range block numbers now make the name one wsd ignores. */
static void compvis_block_numbers(void)
{
    static const char *const names[] = {
        "model.diffusion_model.input_blocks.-2147483648.0.in_layers.0.weight",
        "model.diffusion_model.input_blocks.1.-2147483648.norm.weight",
        "model.diffusion_model.input_blocks.0.1.norm.weight",
        "model.diffusion_model.middle_block.-2147483648.in_layers.0.weight",
        "model.diffusion_model.output_blocks.-2147483648.0.in_layers.0.weight",
        "model.diffusion_model.output_blocks.2.-1.conv.weight",
        "first_stage_model.decoder.up.-2147483648.block.0.conv1.weight",
        "first_stage_model.decoder.up.4.block.0.conv1.weight",
        "first_stage_model.encoder.down.-1.block.0.conv1.weight",
        "first_stage_model.encoder.down.0.block.-2147483648.conv1.weight",
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        model_component c;
        char out[512];
        int r = compvis_to_diffusers(names[i], &c, out, sizeof out);
        tu_checks++;
        if (r != -1) tu_failures++;
        fprintf(r == -1 ? stdout : stderr, "%-4s %-56.56s ignored%s%s\n", r == -1 ? "ok" : "FAIL", names[i], r == -1 ? "" : ", mapped to ",
                r == -1 ? "" : out);
    }
    /* real names still map */
    model_component c;
    char out[512];
    CHECK(compvis_to_diffusers("model.diffusion_model.input_blocks.4.1.proj_in.weight", &c, out, sizeof out) == 0 && c == COMP_UNET &&
          !strcmp(out, "down_blocks.1.attentions.0.proj_in.weight"));
    CHECK(compvis_to_diffusers("first_stage_model.decoder.up.3.block.0.conv1.weight", &c, out, sizeof out) == 0 && c == COMP_VAE &&
          !strcmp(out, "decoder.up_blocks.0.resnets.0.conv1.weight"));
    /* the committed inputs, as single-file checkpoints */
    const char *seeds[] = {"regression_input_blocks_int_min", "regression_vae_up_int_min"};
    for (int k = 0; k < 2; k++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/fuzz/corpus/checkpoint/%s", WSD_SOURCE_DIR, seeds[k]);
        FILE *f = fopen(p, "rb");
        char hdr[4096];
        size_t n = f ? fread(hdr, 1, sizeof hdr - 1, f) : 0;
        if (f) fclose(f);
        CHECKF(n > 0, "%s unreadable", p);
        hdr[n] = 0;
        size_t total;
        uint8_t *b = with_prefix(hdr, 8, &total);
        snprintf(p, sizeof p, "%s/%s.safetensors", tu_tmpdir(), seeds[k]);
        wsd_err err = {0};
        FILE *o = fopen(p, "wb");
        if (o) {
            fwrite(b, 1, total, o);
            fclose(o);
        }
        free(b);
        wsd_model *m = NULL;
        expect(seeds[k], model_load_path(p, &m, &err), &err, WSD_ERR_FORMAT, "no SD 1.x");
        model_free(m);
    }
}

/* fuzz_infotext: a parameter value starting with '"' (here the sampler
 * name, read from a PNG), also after spaces, was written back unquoted, and
 * then read back as the start of a quoted value that swallowed "Steps" and
 * everything after. */
static void infotext_leading_quote(void)
{
    infotext it = {"a cat", NULL, 20, "  \"odd", 7.5f, 42, 64, 64, NULL, "m\"", 0, 0, NULL};
    char *text = NULL, *st = NULL;
    wsd_err err = {0};
    CHECK(infotext_format(&it, &text, &err) == WSD_OK);
    infotext back;
    CHECK(text && infotext_parse(text, &back, &st, &err) == WSD_OK);
    int ok = text && st && back.steps == 20 && back.seed == 42 && back.width == 64 && back.sampler && !strcmp(back.sampler, "  \"odd") &&
             back.model && !strcmp(back.model, "m\"");
    tu_checks++;
    if (!ok) tu_failures++;
    fprintf(ok ? stdout : stderr, "%-4s %-56s %s\n", ok ? "ok" : "FAIL", "values starting with a quote round-trip", text ? text : err.msg);
    free(text);
    free(st);
    /* the fuzzer's inputs: what they parse to formats and parses back alike */
    const char *seeds[] = {"regression_value_starting_with_quote", "regression_value_space_quote"};
    for (int k = 0; k < 2; k++) {
        char path[1024], buf[4096];
        snprintf(path, sizeof path, "%s/fuzz/corpus/infotext/%s", WSD_SOURCE_DIR, seeds[k]);
        FILE *f = fopen(path, "rb");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f) fclose(f);
        buf[n] = 0;
        CHECKF(n > 0, "%s unreadable", path);
        infotext a, c;
        char *s1 = NULL, *s2 = NULL;
        text = NULL;
        CHECK(infotext_parse(buf, &a, &s1, &err) == WSD_OK && infotext_format(&a, &text, &err) == WSD_OK &&
              infotext_parse(text, &c, &s2, &err) == WSD_OK);
        CHECKF(c.steps == a.steps && c.width == a.width && c.height == a.height, "steps %d -> %d after a round trip of %s", a.steps, c.steps,
               text ? text : "");
        free(s1);
        free(s2);
        free(text);
    }
}

int main(void)
{
    infotext_leading_quote();
    duplicate_metadata();
    compvis_block_numbers();
    return tu_finish();
}
