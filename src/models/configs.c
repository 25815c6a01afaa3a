/* Model hyper-parameters from config.json, with every value range-checked so
 * a broken or hostile config fails with a message instead of a huge graph. */
#include "models/models.h"

#include <string.h>

#define GET_INT(key, def, lo, hi, dst)                                                            \
    do {                                                                                          \
        long v_;                                                                                  \
        WSD_TRY(json_get_int(cfg, key, def, &v_, what, err));                                     \
        if (v_ < (lo) || v_ > (hi))                                                               \
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: \"%s\" = %ld is out of range [%ld, %ld]", what, key, v_, (long)(lo), (long)(hi)); \
        (dst) = (int)v_;                                                                          \
    } while (0)

static wsd_status get_float(const json_value *cfg, const char *key, double def, double lo, double hi, float *dst, const char *what, wsd_err *err)
{
    double v;
    WSD_TRY(json_get_num(cfg, key, def, &v, what, err));
    if (!(v >= lo && v <= hi))
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: \"%s\" = %g is out of range [%g, %g]", what, key, v, lo, hi);
    *dst = (float)v;
    return WSD_OK;
}

/* An int array (block_out_channels) or, where allowed, one int for every level. */
static wsd_status get_int_list(const json_value *cfg, const char *key, int n_expect, int lo, int hi, int *out, int *n_out, const char *what, wsd_err *err)
{
    const json_value *v = json_get(cfg, key);
    if (v && v->type == JSON_NUMBER && n_expect > 0) {
        if (!(v->number >= lo && v->number <= hi) || v->number != (int)v->number)
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: \"%s\" = %g is out of range", what, key, v->number);
        for (int i = 0; i < n_expect; i++) out[i] = (int)v->number;
        if (n_out) *n_out = n_expect;
        return WSD_OK;
    }
    if (!v || v->type != JSON_ARRAY || v->len == 0 || v->len > WSD_MAX_LEVELS)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: \"%s\" must be a list of 1 to %d integers", what, key, WSD_MAX_LEVELS);
    if (n_expect > 0 && (int)v->len != n_expect)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: \"%s\" has %zu entries, expected %d", what, key, v->len, n_expect);
    for (size_t i = 0; i < v->len; i++) {
        const json_value *e = v->items[i];
        if (e->type != JSON_NUMBER || !(e->number >= lo && e->number <= hi) || e->number != (int)e->number)
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: \"%s\"[%zu] is not an integer in [%d, %d]", what, key, i, lo, hi);
        out[i] = (int)e->number;
    }
    if (n_out) *n_out = (int)v->len;
    return WSD_OK;
}

wsd_status clip_config_parse(const json_value *cfg, const char *what, clip_config *c, wsd_err *err)
{
    memset(c, 0, sizeof *c);
    if (!cfg || cfg->type != JSON_OBJECT)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: not a JSON object", what);
    GET_INT("hidden_size", 768, 8, 8192, c->hidden);
    GET_INT("num_hidden_layers", 12, 1, 128, c->layers);
    GET_INT("num_attention_heads", 12, 1, 256, c->heads);
    GET_INT("intermediate_size", 3072, 8, 65536, c->intermediate);
    GET_INT("max_position_embeddings", 77, 77, 77, c->max_positions);
    GET_INT("vocab_size", 49408, 256, 1 << 20, c->vocab);
    WSD_TRY(get_float(cfg, "layer_norm_eps", 1e-5, 0, 1, &c->ln_eps, what, err));
    const char *act;
    WSD_TRY(json_get_str(cfg, "hidden_act", "quick_gelu", &act, what, err));
    if (!strcmp(act, "quick_gelu")) c->quick_gelu = 1;
    else if (!strcmp(act, "gelu")) c->quick_gelu = 0;
    else return wsd_fail(err, WSD_ERR_UNSUPPORTED, "%s: hidden_act \"%s\" is not supported (quick_gelu, gelu)", what, act);
    if (c->hidden % c->heads)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: hidden_size %d is not a multiple of num_attention_heads %d", what, c->hidden, c->heads);
    return WSD_OK;
}

wsd_status unet_config_parse(const json_value *cfg, const char *what, unet_config *c, wsd_err *err)
{
    memset(c, 0, sizeof *c);
    if (!cfg || cfg->type != JSON_OBJECT)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: not a JSON object", what);
    GET_INT("in_channels", 4, 1, 64, c->in_channels);
    GET_INT("out_channels", 4, 1, 64, c->out_channels);
    WSD_TRY(get_int_list(cfg, "block_out_channels", 0, 1, 8192, c->block_out, &c->levels, what, err));
    GET_INT("layers_per_block", 2, 1, 16, c->layers_per_block);
    GET_INT("cross_attention_dim", 768, 1, 8192, c->cross_dim);
    GET_INT("norm_num_groups", 32, 1, 1024, c->groups);
    GET_INT("sample_size", 64, 1, 4096, c->sample_size);
    GET_INT("transformer_layers_per_block", 1, 1, 16, c->transformer_depth);
    WSD_TRY(get_float(cfg, "norm_eps", 1e-5, 0, 1, &c->norm_eps, what, err));
    WSD_TRY(get_float(cfg, "freq_shift", 0, -1e6, 1e6, &c->freq_shift, what, err));
    WSD_TRY(json_get_bool(cfg, "flip_sin_to_cos", 1, &c->flip_sin_to_cos, what, err));
    WSD_TRY(json_get_bool(cfg, "use_linear_projection", 0, &c->linear_projection, what, err));
    /* diffusers: attention_head_dim is really the head count when num_attention_heads is null */
    const char *heads_key = json_is_null(json_get(cfg, "num_attention_heads")) ? "attention_head_dim" : "num_attention_heads";
    if (json_is_null(json_get(cfg, heads_key))) {
        for (int i = 0; i < c->levels; i++) c->heads[i] = 8;
    } else {
        WSD_TRY(get_int_list(cfg, heads_key, c->levels, 1, 1024, c->heads, NULL, what, err));
    }
    const json_value *down = json_get(cfg, "down_block_types"), *up = json_get(cfg, "up_block_types");
    if (!down || down->type != JSON_ARRAY || (int)down->len != c->levels || !up || up->type != JSON_ARRAY || (int)up->len != c->levels)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: down_block_types/up_block_types must list %d blocks", what, c->levels);
    for (int i = 0; i < c->levels; i++) {
        const json_value *d = down->items[i], *u = up->items[i];
        if (d->type != JSON_STRING || u->type != JSON_STRING)
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: block types must be strings", what);
        if (!strcmp(d->str, "CrossAttnDownBlock2D")) c->down_cross[i] = 1;
        else if (strcmp(d->str, "DownBlock2D")) return wsd_fail(err, WSD_ERR_UNSUPPORTED, "%s: down block \"%s\" is not supported", what, d->str);
        if (!strcmp(u->str, "CrossAttnUpBlock2D")) c->up_cross[i] = 1;
        else if (strcmp(u->str, "UpBlock2D")) return wsd_fail(err, WSD_ERR_UNSUPPORTED, "%s: up block \"%s\" is not supported", what, u->str);
    }
    const char *mid;
    WSD_TRY(json_get_str(cfg, "mid_block_type", "UNetMidBlock2DCrossAttn", &mid, what, err));
    if (strcmp(mid, "UNetMidBlock2DCrossAttn"))
        return wsd_fail(err, WSD_ERR_UNSUPPORTED, "%s: mid block \"%s\" is not supported", what, mid);
    const char *tet;
    WSD_TRY(json_get_str(cfg, "time_embedding_type", "positional", &tet, what, err));
    if (strcmp(tet, "positional"))
        return wsd_fail(err, WSD_ERR_UNSUPPORTED, "%s: time_embedding_type \"%s\" is not supported", what, tet);
    for (int i = 0; i < c->levels; i++) {
        if (c->block_out[i] % c->groups)
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: block_out_channels[%d] = %d is not a multiple of norm_num_groups %d", what, i, c->block_out[i], c->groups);
        if (c->block_out[i] % c->heads[i])
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: block_out_channels[%d] = %d does not split into %d heads", what, i, c->block_out[i], c->heads[i]);
    }
    if (c->block_out[0] % 2)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: block_out_channels[0] must be even", what);
    return WSD_OK;
}

wsd_status vae_config_parse(const json_value *cfg, const char *what, vae_config *c, wsd_err *err)
{
    memset(c, 0, sizeof *c);
    if (!cfg || cfg->type != JSON_OBJECT)
        return wsd_fail(err, WSD_ERR_FORMAT, "%s: not a JSON object", what);
    GET_INT("in_channels", 3, 1, 16, c->in_channels);
    GET_INT("out_channels", 3, 1, 16, c->out_channels);
    GET_INT("latent_channels", 4, 1, 64, c->latent_channels);
    WSD_TRY(get_int_list(cfg, "block_out_channels", 0, 1, 8192, c->block_out, &c->levels, what, err));
    GET_INT("layers_per_block", 2, 1, 16, c->layers_per_block);
    GET_INT("norm_num_groups", 32, 1, 1024, c->groups);
    GET_INT("sample_size", 512, 1, 65536, c->sample_size);
    WSD_TRY(get_float(cfg, "scaling_factor", 0.18215, 1e-6, 1e6, &c->scaling_factor, what, err));
    WSD_TRY(json_get_bool(cfg, "use_quant_conv", 1, &c->use_quant_conv, what, err));
    WSD_TRY(json_get_bool(cfg, "use_post_quant_conv", 1, &c->use_post_quant_conv, what, err));
    WSD_TRY(json_get_bool(cfg, "mid_block_add_attention", 1, &c->mid_attention, what, err));
    if (c->levels != 4)
        return wsd_fail(err, WSD_ERR_UNSUPPORTED, "%s: %d VAE levels (wsd supports the 8x VAE with 4)", what, c->levels);
    for (int i = 0; i < c->levels; i++)
        if (c->block_out[i] % c->groups)
            return wsd_fail(err, WSD_ERR_FORMAT, "%s: block_out_channels[%d] = %d is not a multiple of norm_num_groups %d", what, i, c->block_out[i], c->groups);
    return WSD_OK;
}

void clip_config_sd15(clip_config *c)
{
    *c = (clip_config){.hidden = 768, .layers = 12, .heads = 12, .intermediate = 3072, .max_positions = 77, .vocab = 49408, .quick_gelu = 1, .ln_eps = 1e-5f};
}

void unet_config_sd15(unet_config *c)
{
    *c = (unet_config){.in_channels = 4, .out_channels = 4, .levels = 4, .block_out = {320, 640, 1280, 1280},
                       .down_cross = {1, 1, 1, 0}, .up_cross = {0, 1, 1, 1}, .heads = {8, 8, 8, 8},
                       .layers_per_block = 2, .transformer_depth = 1, .cross_dim = 768, .groups = 32, .norm_eps = 1e-5f,
                       .linear_projection = 0, .flip_sin_to_cos = 1, .freq_shift = 0, .sample_size = 64};
}

void vae_config_sd15(vae_config *c)
{
    *c = (vae_config){.in_channels = 3, .out_channels = 3, .latent_channels = 4, .levels = 4, .block_out = {128, 256, 512, 512},
                      .layers_per_block = 2, .groups = 32, .scaling_factor = 0.18215f, .sample_size = 512,
                      .use_quant_conv = 1, .use_post_quant_conv = 1, .mid_attention = 1};
}
