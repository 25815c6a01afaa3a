/* libFuzzer target: single-file SD 1.x checkpoints (CompVis names), from a
 * forum, through model_load_path: the safetensors tensor table meets the
 * CompVis -> diffusers name mapping and the inference of every config from
 * tensor shapes (or from configs in the metadata).
 *
 * The input is the JSON header only; the harness writes [length][header] to a
 * memory file and extends it with zeros to the largest data_offsets end (at
 * most 256 MiB, sparse: no bytes are written), so the fuzzer spends its time
 * on tables, not on tensor bytes. Whatever the table says, loading fails with
 * a message or gives a model whose networks build at small sizes (or fail
 * with a message) and whose configs are inside the ranges the config readers
 * enforce for diffusers folders. */
#define _GNU_SOURCE /* memfd_create */
#include "graph/graph.h"
#include "io/json.h"
#include "models/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define REQUIRE(c)                                                                           \
    do {                                                                                     \
        if (!(c)) {                                                                          \
            fprintf(stderr, "fuzz_checkpoint: invariant failed: %s (line %d)\n", #c, __LINE__); \
            __builtin_trap();                                                                \
        }                                                                                    \
    } while (0)

#include "fuzz_graphs.h"

static int memfd = -1;
static char memfd_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    memfd = memfd_create("checkpoint.safetensors", 0);
    if (memfd >= 0) snprintf(memfd_path, sizeof memfd_path, "/proc/self/fd/%d", memfd);
    return 0;
}

/* Largest data_offsets end in the header (0 if it is not JSON). */
static uint64_t data_needed(const char *text, size_t n)
{
    json_doc *doc;
    wsd_err err = {0};
    if (json_parse(text, n, "fuzz", &doc, &err) != WSD_OK) return 0;
    const json_value *root = json_root(doc);
    uint64_t end = 0;
    for (size_t i = 0; root->type == JSON_OBJECT && i < root->len; i++) {
        const json_value *off = json_at(json_get(root->items[i], "data_offsets"), 1);
        if (off && off->type == JSON_NUMBER && off->number > (double)end && off->number < 1e18) end = (uint64_t)off->number;
    }
    json_free(doc);
    return end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memfd < 0) return 0;
    uint64_t need = data_needed((const char *)data, size);
    if (need > (256u << 20)) need = 256u << 20;
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)size >> (8 * i));
    if (ftruncate(memfd, 0) != 0 || pwrite(memfd, len, 8, 0) != 8 || pwrite(memfd, data, size, 8) != (ssize_t)size ||
        ftruncate(memfd, (off_t)(8 + size + need)) != 0)
        return 0;
    wsd_model *m = (wsd_model *)1;
    wsd_err err = {0};
    wsd_status s = model_load_path(memfd_path, &m, &err);
    if (s != WSD_OK) {
        REQUIRE(m == NULL && err.msg[0] && err.code == (int)s);
        return 0;
    }
    REQUIRE(m->single_file);
    /* what a config.json would have had to satisfy */
    REQUIRE(m->clip.hidden >= 1 && m->clip.layers >= 1 && m->clip.heads >= 1 && m->clip.hidden % m->clip.heads == 0);
    REQUIRE(m->unet.levels >= 1 && m->unet.levels <= WSD_MAX_LEVELS);
    for (int i = 0; i < m->unet.levels; i++) REQUIRE(m->unet.block_out[i] >= 1 && m->unet.heads[i] >= 1);
    REQUIRE(m->vae.latent_channels >= 1);
    wsd_err e2 = {0};
    if (model_check_components(m, &e2) != WSD_OK) REQUIRE(e2.msg[0]);
    fuzz_build_all(m);
    model_free(m);
    return 0;
}
