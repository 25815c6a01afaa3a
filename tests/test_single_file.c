/* Single-file SD 1.x checkpoints (CompVis names) load to the same model as
 * the diffusers folder.
 *
 * The test writes a single-file checkpoint from tiny-sd15's three diffusers
 * files with its OWN diffusers -> CompVis name mapping (written here from the
 * real SD 1.x checkpoint layout, independently of the loader's
 * compvis_to_diffusers, so a wrong mapping in either shows up), VAE attention
 * as [C,C,1,1] q/k/v/proj_out convolutions, an int64 position_ids tensor and
 * a few non-model tensors (betas, EMA copies) the loader must ignore. The
 * configs go into the metadata (text_encoder_config, unet_config, vae_config),
 * since tiny-sd15's are not all inferable from shapes (4 heads at width 64).
 *
 * Checks: the same weights under the same names (bytes compared), and the
 * outputs of the text encoder, UNet, VAE decoder and encoder bit-identical
 * (memcmp) between the folder and the single file. Then the same checkpoint
 * without metadata: configs inferred from shapes (UNet/VAE exactly the
 * folder's, CLIP width/layers/MLP read off, heads from the 64-wide rule), and
 * the UNet and VAE outputs again bit-identical. */
#include "backends/backend.h"
#include "io/file.h"
#include "io/safetensors.h"
#include "models/model.h"
#include "models/run.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------ diffusers -> CompVis names */

/* Replaces a leading `from` of s by `to`; returns 1 if it matched. */
static int swap_prefix(const char *s, const char *from, const char *to, char *out, size_t cap)
{
    size_t n = strlen(from);
    if (strncmp(s, from, n)) return 0;
    snprintf(out, cap, "%s%s", to, s + n);
    return 1;
}

/* UNet ResNet inner names (diffusers ResnetBlock2D -> CompVis ResBlock). */
static int unet_resnet(const char *r, char *out, size_t cap)
{
    return swap_prefix(r, "norm1.", "in_layers.0.", out, cap) || swap_prefix(r, "conv1.", "in_layers.2.", out, cap) ||
           swap_prefix(r, "time_emb_proj.", "emb_layers.1.", out, cap) || swap_prefix(r, "norm2.", "out_layers.0.", out, cap) ||
           swap_prefix(r, "conv2.", "out_layers.3.", out, cap) || swap_prefix(r, "conv_shortcut.", "skip_connection.", out, cap);
}

/* up_has_attn[i]: diffusers up block i has attentions (CrossAttnUpBlock2D). */
static int unet_to_compvis(const char *n, const int *up_has_attn, char *out, size_t cap)
{
    char inner[512];
    int i, j, k = 0;
    const char *P = "model.diffusion_model.";
    if (swap_prefix(n, "time_embedding.linear_1.", "time_embed.0.", inner, sizeof inner) ||
        swap_prefix(n, "time_embedding.linear_2.", "time_embed.2.", inner, sizeof inner) ||
        swap_prefix(n, "conv_in.", "input_blocks.0.0.", inner, sizeof inner) ||
        swap_prefix(n, "conv_norm_out.", "out.0.", inner, sizeof inner) || swap_prefix(n, "conv_out.", "out.2.", inner, sizeof inner)) {
        snprintf(out, cap, "%s%s", P, inner);
        return 1;
    }
    if (sscanf(n, "down_blocks.%d.resnets.%d.%n", &i, &j, &k) == 2 && k && unet_resnet(n + k, inner, sizeof inner)) {
        snprintf(out, cap, "%sinput_blocks.%d.0.%s", P, 3 * i + j + 1, inner);
        return 1;
    }
    k = 0;
    if (sscanf(n, "down_blocks.%d.attentions.%d.%n", &i, &j, &k) == 2 && k) {
        snprintf(out, cap, "%sinput_blocks.%d.1.%s", P, 3 * i + j + 1, n + k);
        return 1;
    }
    k = 0;
    if (sscanf(n, "down_blocks.%d.downsamplers.0.conv.%n", &i, &k) == 1 && k) {
        snprintf(out, cap, "%sinput_blocks.%d.0.op.%s", P, 3 * (i + 1), n + k);
        return 1;
    }
    k = 0;
    if (sscanf(n, "mid_block.resnets.%d.%n", &i, &k) == 1 && k && unet_resnet(n + k, inner, sizeof inner)) {
        snprintf(out, cap, "%smiddle_block.%d.%s", P, i == 0 ? 0 : 2, inner);
        return 1;
    }
    if (swap_prefix(n, "mid_block.attentions.0.", "middle_block.1.", inner, sizeof inner)) {
        snprintf(out, cap, "%s%s", P, inner);
        return 1;
    }
    k = 0;
    if (sscanf(n, "up_blocks.%d.resnets.%d.%n", &i, &j, &k) == 2 && k && unet_resnet(n + k, inner, sizeof inner)) {
        snprintf(out, cap, "%soutput_blocks.%d.0.%s", P, 3 * i + j, inner);
        return 1;
    }
    k = 0;
    if (sscanf(n, "up_blocks.%d.attentions.%d.%n", &i, &j, &k) == 2 && k) {
        snprintf(out, cap, "%soutput_blocks.%d.1.%s", P, 3 * i + j, n + k);
        return 1;
    }
    k = 0;
    if (sscanf(n, "up_blocks.%d.upsamplers.0.conv.%n", &i, &k) == 1 && k) {
        /* the last ResNet of the block is output_blocks.3i+2.0; the upsampler
         * follows it, after the attention where the block has one */
        snprintf(out, cap, "%soutput_blocks.%d.%d.conv.%s", P, 3 * i + 2, up_has_attn[i] ? 2 : 1, n + k);
        return 1;
    }
    return 0;
}

/* VAE ResNet inner names: only the shortcut is renamed. */
static void vae_resnet(const char *r, char *out, size_t cap)
{
    if (!swap_prefix(r, "conv_shortcut.", "nin_shortcut.", out, cap)) snprintf(out, cap, "%s", r);
}

/* *conv_attn: the tensor is an attention projection weight stored as a 1x1 conv. */
static int vae_to_compvis(const char *n, char *out, size_t cap, int *conv_attn)
{
    char inner[512], r2[512];
    int i, j, k = 0;
    const char *P = "first_stage_model.";
    *conv_attn = 0;
    if (!strncmp(n, "quant_conv.", 11) || !strncmp(n, "post_quant_conv.", 16)) {
        snprintf(out, cap, "%s%s", P, n);
        return 1;
    }
    const char *part = !strncmp(n, "encoder.", 8) ? "encoder" : !strncmp(n, "decoder.", 8) ? "decoder" : NULL;
    if (!part) return 0;
    const char *r = n + 8;
    if (!strncmp(r, "conv_in.", 8) || !strncmp(r, "conv_out.", 9)) {
        snprintf(out, cap, "%s%s", P, n);
        return 1;
    }
    if (swap_prefix(r, "conv_norm_out.", "norm_out.", inner, sizeof inner)) {
        snprintf(out, cap, "%s%s.%s", P, part, inner);
        return 1;
    }
    if (sscanf(r, "mid_block.resnets.%d.%n", &i, &k) == 1 && k) {
        vae_resnet(r + k, inner, sizeof inner);
        snprintf(out, cap, "%s%s.mid.block_%d.%s", P, part, i + 1, inner);
        return 1;
    }
    if (swap_prefix(r, "mid_block.attentions.0.", "", r2, sizeof r2)) {
        if (swap_prefix(r2, "group_norm.", "norm.", inner, sizeof inner)) {
        } else if (swap_prefix(r2, "to_q.", "q.", inner, sizeof inner) || swap_prefix(r2, "to_k.", "k.", inner, sizeof inner) ||
                   swap_prefix(r2, "to_v.", "v.", inner, sizeof inner) || swap_prefix(r2, "to_out.0.", "proj_out.", inner, sizeof inner)) {
            *conv_attn = strstr(inner, ".weight") != NULL;
        } else {
            return 0;
        }
        snprintf(out, cap, "%s%s.mid.attn_1.%s", P, part, inner);
        return 1;
    }
    k = 0;
    if (sscanf(r, "down_blocks.%d.resnets.%d.%n", &i, &j, &k) == 2 && k) {
        vae_resnet(r + k, inner, sizeof inner);
        snprintf(out, cap, "%s%s.down.%d.block.%d.%s", P, part, i, j, inner);
        return 1;
    }
    k = 0;
    if (sscanf(r, "down_blocks.%d.downsamplers.0.conv.%n", &i, &k) == 1 && k) {
        snprintf(out, cap, "%s%s.down.%d.downsample.conv.%s", P, part, i, r + k);
        return 1;
    }
    /* CompVis numbers the decoder's up blocks from the bottom (up.3 runs first) */
    k = 0;
    if (sscanf(r, "up_blocks.%d.resnets.%d.%n", &i, &j, &k) == 2 && k) {
        vae_resnet(r + k, inner, sizeof inner);
        snprintf(out, cap, "%s%s.up.%d.block.%d.%s", P, part, 3 - i, j, inner);
        return 1;
    }
    k = 0;
    if (sscanf(r, "up_blocks.%d.upsamplers.0.conv.%n", &i, &k) == 1 && k) {
        snprintf(out, cap, "%s%s.up.%d.upsample.conv.%s", P, part, 3 - i, r + k);
        return 1;
    }
    return 0;
}

static int text_to_compvis(const char *n, char *out, size_t cap)
{
    snprintf(out, cap, "cond_stage_model.transformer.%s%s", strncmp(n, "text_model.", 11) ? "text_model." : "", n);
    return 1;
}

/* ------------------------------------------------------------ checkpoint */

static char *read_text(const char *path)
{
    wsd_file_bytes fb;
    wsd_err err = {0};
    if (wsd_read_file(path, 1 << 20, &fb, &err) != WSD_OK) {
        CHECKF(0, "%s", err.msg);
        return NULL;
    }
    char *s = wsd_strndup((const char *)fb.data, fb.size);
    wsd_file_bytes_free(&fb);
    return s;
}

/* Writes the tiny-sd15 checkpoint in CompVis layout to `path`. */
static int write_checkpoint(const char *path, int with_metadata)
{
    static const char *const files[3] = {"reference/tiny-sd15/text_encoder/model.safetensors",
                                         "reference/tiny-sd15/unet/diffusion_pytorch_model.safetensors",
                                         "reference/tiny-sd15/vae/diffusion_pytorch_model.safetensors"};
    static const char *const configs[3][2] = {{"text_encoder_config", "reference/tiny-sd15/text_encoder/config.json"},
                                              {"unet_config", "reference/tiny-sd15/unet/config.json"},
                                              {"vae_config", "reference/tiny-sd15/vae/config.json"}};
    wsd_err err = {0};
    st_writer *w = st_writer_new();
    int ok = w != NULL, mapped = 0, conv_attn_count = 0;
    for (int c = 0; ok && c < 3; c++) {
        st_file f;
        if (st_open(tu_shared(files[c]), &f, &err) != WSD_OK) {
            CHECKF(0, "%s", err.msg);
            ok = 0;
            break;
        }
        int up_has_attn[8] = {0};
        for (int i = 0; c == 1 && i < 8; i++) {
            char nm[128];
            snprintf(nm, sizeof nm, "up_blocks.%d.attentions.0.norm.weight", i);
            up_has_attn[i] = st_find(&f, nm) != NULL;
        }
        for (size_t i = 0; ok && i < f.count; i++) {
            const st_tensor *t = &f.tensors[i];
            char name[600];
            int conv_attn = 0, m;
            if (c == 0) m = text_to_compvis(t->name, name, sizeof name);
            else if (c == 1) m = unet_to_compvis(t->name, up_has_attn, name, sizeof name);
            else m = vae_to_compvis(t->name, name, sizeof name, &conv_attn);
            CHECKF(m, "%s: no CompVis name for \"%s\"", files[c], t->name);
            if (!m) { ok = 0; break; }
            int64_t shape[4];
            int ndim = t->ndim;
            memcpy(shape, t->shape, sizeof(int64_t) * (size_t)(ndim < 4 ? ndim : 4));
            if (conv_attn) { /* [C, C] -> [C, C, 1, 1] */
                CHECK(ndim == 2);
                shape[2] = shape[3] = 1;
                ndim = 4;
                conv_attn_count++;
            }
            ok = st_writer_add(w, name, t->dtype, ndim, shape, t->data, &err) == WSD_OK;
            mapped++;
        }
        st_close(&f);
    }
    CHECKF(conv_attn_count == 8, "%d VAE attention projection weights stored as 1x1 convs, expected 8 (q, k, v, proj_out in encoder and decoder)", conv_attn_count);
    /* tensors the loader must ignore */
    int64_t pos[77];
    for (int i = 0; i < 77; i++) pos[i] = i;
    float betas[1000], decay = 0.9999f, ema[4] = {1, 2, 3, 4};
    for (int i = 0; i < 1000; i++) betas[i] = 0.00085f + 0.0000112f * (float)i;
    if (ok) ok = st_writer_add(w, "cond_stage_model.transformer.text_model.embeddings.position_ids", WSD_DT_I64, 2, (const int64_t[]){1, 77}, pos, &err) == WSD_OK;
    if (ok) ok = st_writer_add(w, "betas", WSD_DT_F32, 1, (const int64_t[]){1000}, betas, &err) == WSD_OK;
    if (ok) ok = st_writer_add(w, "model_ema.decay", WSD_DT_F32, 0, NULL, &decay, &err) == WSD_OK;
    if (ok) ok = st_writer_add(w, "model_ema.diffusion_modelinput_blocks00bias", WSD_DT_F32, 1, (const int64_t[]){4}, ema, &err) == WSD_OK;
    for (int c = 0; ok && with_metadata && c < 3; c++) {
        char *text = read_text(tu_shared(configs[c][1]));
        ok = text && st_writer_add_meta(w, configs[c][0], text, &err) == WSD_OK;
        free(text);
    }
    if (ok) ok = st_writer_save(w, path, &err) == WSD_OK;
    CHECKF(ok, "writing %s: %s", path, err.msg);
    st_writer_free(w);
    printf("wrote %s: %d model tensors in CompVis layout + 4 to ignore%s\n", path, mapped, with_metadata ? ", configs in the metadata" : ", no metadata");
    return ok;
}

/* ------------------------------------------------------------ comparisons */

/* Same diffusers names, same bytes, per component. */
static void same_weights(const wsd_model *a, const wsd_model *b, const char *label)
{
    static const char *const comp[3] = {"text encoder", "unet", "vae"};
    for (int c = 0; c < COMP_COUNT; c++) {
        const comp_weights *x = &a->w[c], *y = &b->w[c];
        CHECKF(x->count == y->count, "%s %s: %zu weights in the folder, %zu in the single file", label, comp[c], x->count, y->count);
        size_t n = x->count < y->count ? x->count : y->count, diff = 0;
        for (size_t i = 0; i < n; i++) {
            /* lazily opened files (WSD_LAZY_WEIGHTS=1, the browser's way) hold no bytes until loaded */
            wsd_err le = {0};
            CHECKF(st_tensor_load(x->file, x->tensors[i], &le) == WSD_OK && st_tensor_load(y->file, y->tensors[i], &le) == WSD_OK,
                   "%s %s: %s", label, comp[c], le.msg);
            if (!x->tensors[i]->data || !y->tensors[i]->data) continue;
            int same = !strcmp(x->names[i], y->names[i]) && x->tensors[i]->nbytes == y->tensors[i]->nbytes &&
                       x->tensors[i]->dtype == y->tensors[i]->dtype && !memcmp(x->tensors[i]->data, y->tensors[i]->data, x->tensors[i]->nbytes);
            if (!same && diff++ < 5)
                fprintf(stderr, "%s %s: folder \"%s\" vs single file \"%s\" (%s)\n", label, comp[c], x->names[i], y->names[i], y->tensors[i]->name);
        }
        CHECKF(diff == 0, "%s %s: %zu weights differ", label, comp[c], diff);
    }
}

/* Runs component c of both models on the same input and compares every output bit for bit. */
static void same_outputs(wsd_backend *be_a, const wsd_model *a, wsd_backend *be_b, const wsd_model *b, run_component c, const st_file *in, const char *label)
{
    wsd_err err = {0};
    char pa[1200], pb[1200];
    snprintf(pa, sizeof pa, "%s/%s_folder.safetensors", tu_tmpdir(), run_component_name(c));
    snprintf(pb, sizeof pb, "%s/%s_single.safetensors", tu_tmpdir(), run_component_name(c));
    build_opts o = {1, 0}; /* with the intermediates: more to compare */
    st_writer *wa = st_writer_new(), *wb = st_writer_new();
    wsd_status sa = run_component_exec(be_a, a, c, in, &o, wa, &err);
    CHECKF(sa == WSD_OK, "%s folder: %s", run_component_name(c), err.msg);
    wsd_status sb = run_component_exec(be_b, b, c, in, &o, wb, &err);
    CHECKF(sb == WSD_OK, "%s %s: %s", run_component_name(c), label, err.msg);
    if (sa == WSD_OK && sb == WSD_OK) {
        CHECK(st_writer_save(wa, pa, &err) == WSD_OK && st_writer_save(wb, pb, &err) == WSD_OK);
        st_file fa, fb;
        if (st_open(pa, &fa, &err) == WSD_OK && st_open(pb, &fb, &err) == WSD_OK) {
            CHECKF(fa.count == fb.count && fa.count > 0, "%s: %zu vs %zu outputs", run_component_name(c), fa.count, fb.count);
            size_t differ = 0;
            for (size_t i = 0; i < fa.count; i++) {
                const st_tensor *x = &fa.tensors[i], *y = st_find(&fb, x->name);
                if (!y || x->nbytes != y->nbytes || memcmp(x->data, y->data, x->nbytes)) {
                    differ++;
                    fprintf(stderr, "%s %s: output \"%s\" differs\n", run_component_name(c), label, x->name);
                }
            }
            CHECKF(differ == 0, "%s %s: %zu of %zu outputs not bit-identical", run_component_name(c), label, differ, fa.count);
            if (!differ) printf("ok   %-13s %s: %zu outputs bit-identical to the folder's\n", run_component_name(c), label, fa.count);
            st_close(&fa);
            st_close(&fb);
        } else {
            CHECKF(0, "%s", err.msg);
        }
    }
    st_writer_free(wa);
    st_writer_free(wb);
}

/* Input files for the four components, from the goldens. */
static int make_inputs(st_file in[RUN_COUNT])
{
    wsd_err err = {0};
    static const struct { const char *gold, *from, *to; } src[RUN_COUNT] = {
        {"reference/golden/text_encoder.safetensors", "input_ids", "input_ids"},
        {"reference/golden/unet.safetensors", "sample", "sample"},
        {"reference/golden/vae.safetensors", "dec_input", "latents"},
        {"reference/golden/vae.safetensors", "enc_input", "image"},
    };
    for (int c = 0; c < RUN_COUNT; c++) {
        st_file g;
        if (st_open(tu_shared(src[c].gold), &g, &err) != WSD_OK) { CHECKF(0, "%s", err.msg); return 0; }
        st_writer *w = st_writer_new();
        const st_tensor *t = st_find(&g, src[c].from);
        CHECK(t && st_writer_add(w, src[c].to, t->dtype, t->ndim, t->shape, t->data, &err) == WSD_OK);
        if (c == RUN_UNET) {
            const st_tensor *e = st_find(&g, "encoder_hidden_states"), *ts = st_find(&g, "timesteps_mixed");
            CHECK(e && st_writer_add(w, "encoder_hidden_states", e->dtype, e->ndim, e->shape, e->data, &err) == WSD_OK);
            CHECK(ts && st_writer_add(w, "timestep", ts->dtype, ts->ndim, ts->shape, ts->data, &err) == WSD_OK);
        }
        char path[1200];
        snprintf(path, sizeof path, "%s/in_%s.safetensors", tu_tmpdir(), run_component_name((run_component)c));
        CHECK(st_writer_save(w, path, &err) == WSD_OK);
        st_writer_free(w);
        st_close(&g);
        if (st_open(path, &in[c], &err) != WSD_OK) { CHECKF(0, "%s", err.msg); return 0; }
    }
    return 1;
}

static void same_unet_config(const unet_config *a, const unet_config *b)
{
    CHECK(a->in_channels == b->in_channels && a->out_channels == b->out_channels);
    CHECKF(a->levels == b->levels, "levels %d vs %d", a->levels, b->levels);
    for (int i = 0; i < a->levels; i++) {
        CHECKF(a->block_out[i] == b->block_out[i], "block_out[%d] %d vs %d", i, a->block_out[i], b->block_out[i]);
        CHECKF(a->down_cross[i] == b->down_cross[i] && a->up_cross[i] == b->up_cross[i], "cross attention at level %d", i);
        CHECKF(a->heads[i] == b->heads[i], "heads[%d] %d vs %d", i, a->heads[i], b->heads[i]);
    }
    CHECK(a->layers_per_block == b->layers_per_block && a->transformer_depth == b->transformer_depth);
    CHECKF(a->cross_dim == b->cross_dim, "cross_dim %d vs %d", a->cross_dim, b->cross_dim);
    CHECK(a->groups == b->groups && a->norm_eps == b->norm_eps && a->linear_projection == b->linear_projection);
    CHECK(a->flip_sin_to_cos == b->flip_sin_to_cos && a->freq_shift == b->freq_shift);
}

static void same_vae_config(const vae_config *a, const vae_config *b)
{
    CHECK(a->in_channels == b->in_channels && a->out_channels == b->out_channels);
    CHECKF(a->latent_channels == b->latent_channels, "latent channels %d vs %d", a->latent_channels, b->latent_channels);
    CHECK(a->levels == b->levels && a->layers_per_block == b->layers_per_block && a->groups == b->groups);
    for (int i = 0; i < a->levels; i++) CHECKF(a->block_out[i] == b->block_out[i], "vae block_out[%d] %d vs %d", i, a->block_out[i], b->block_out[i]);
    CHECK(a->scaling_factor == b->scaling_factor);
    CHECK(a->use_quant_conv == b->use_quant_conv && a->use_post_quant_conv == b->use_post_quant_conv && a->mid_attention == b->mid_attention);
}

int main(void)
{
    wsd_err err = {0};
    char with_meta[1200], no_meta[1200];
    snprintf(with_meta, sizeof with_meta, "%s/tiny-sd15-single.safetensors", tu_tmpdir());
    snprintf(no_meta, sizeof no_meta, "%s/tiny-sd15-single-nometa.safetensors", tu_tmpdir());
    if (!write_checkpoint(with_meta, 1) || !write_checkpoint(no_meta, 0)) return tu_finish();

    wsd_model *folder = NULL, *single = NULL, *inferred = NULL;
    CHECKF(model_load_path(tu_shared("reference/tiny-sd15"), &folder, &err) == WSD_OK, "%s", err.msg);
    CHECKF(model_load_path(with_meta, &single, &err) == WSD_OK, "%s", err.msg);
    CHECKF(model_load_path(no_meta, &inferred, &err) == WSD_OK, "%s", err.msg);
    if (!folder || !single || !inferred) {
        model_free(folder);
        model_free(single);
        model_free(inferred);
        return tu_finish();
    }
    CHECK(!folder->single_file && single->single_file && inferred->single_file);

    /* configs from the metadata: exactly the folder's */
    CHECK(!memcmp(&single->clip, &folder->clip, sizeof folder->clip));
    CHECK(!memcmp(&single->unet, &folder->unet, sizeof folder->unet));
    CHECK(!memcmp(&single->vae, &folder->vae, sizeof folder->vae));
    same_weights(folder, single, "single file");
    same_weights(folder, inferred, "single file without metadata");

    /* One backend per model (backends cache weights by address), one thread
     * each so that both run the same summation order by construction. */
    wsd_backend *be[3] = {NULL, NULL, NULL};
    wsd_backend_options bo = {1, 0};
    for (int i = 0; i < 3; i++) CHECKF(wsd_backend_create("cpu", &bo, &be[i], &err) == WSD_OK, "%s", err.msg);
    st_file in[RUN_COUNT];
    memset(in, 0, sizeof in);
    if (be[0] && be[1] && be[2] && make_inputs(in)) {
        for (int c = 0; c < RUN_COUNT; c++) same_outputs(be[0], folder, be[1], single, (run_component)c, &in[c], "single file");

        /* without metadata: configs read off the tensor shapes */
        same_unet_config(&inferred->unet, &folder->unet);
        same_vae_config(&inferred->vae, &folder->vae);
        CHECKF(inferred->clip.hidden == 64 && inferred->clip.layers == 4 && inferred->clip.intermediate == 256 && inferred->clip.vocab == 49408 &&
                   inferred->clip.max_positions == 77 && inferred->clip.quick_gelu == 1,
               "inferred CLIP: hidden %d, layers %d, mlp %d, vocab %d", inferred->clip.hidden, inferred->clip.layers, inferred->clip.intermediate,
               inferred->clip.vocab);
        CHECKF(inferred->clip.heads == 1, "inferred CLIP heads %d (64-wide heads at width 64: 1; the real 4 are not inferable)", inferred->clip.heads);
        printf("inferred without metadata: CLIP hidden %d, %d layers, MLP %d, %d heads; UNet and VAE configs equal the folder's\n",
               inferred->clip.hidden, inferred->clip.layers, inferred->clip.intermediate, inferred->clip.heads);
        for (int c = RUN_UNET; c < RUN_COUNT; c++) same_outputs(be[0], folder, be[2], inferred, (run_component)c, &in[c], "no metadata");
        /* the text encoder still runs with the inferred (wrong head count) config */
        st_writer *w = st_writer_new();
        build_opts o = {0, 0};
        CHECKF(run_component_exec(be[2], inferred, RUN_TEXT_ENCODER, &in[RUN_TEXT_ENCODER], &o, w, &err) == WSD_OK, "%s", err.msg);
        st_writer_free(w);
    }
    for (int c = 0; c < RUN_COUNT; c++) st_close(&in[c]);
    for (int i = 0; i < 3; i++) wsd_backend_destroy(be[i]);
    model_free(folder);
    model_free(single);
    model_free(inferred);
    return tu_finish();
}
