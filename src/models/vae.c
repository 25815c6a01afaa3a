/* AutoencoderKL decoder and encoder as graphs.
 *
 * Decoder: latents [B,4,h,w] -> post_quant_conv -> conv_in -> mid (ResNet,
 *   attention, ResNet) -> up blocks (ResNet x (layers+1), nearest x2 + conv)
 *   -> GroupNorm+SiLU -> conv_out -> image [B,3,8h,8w]
 * Encoder: image [B,3,H,W] -> conv_in -> down blocks (ResNet x layers; pad
 *   right/bottom by 1 then 3x3 stride-2 conv) -> mid -> GroupNorm+SiLU ->
 *   conv_out [B,2*4,..] -> quant_conv -> mean, clamp(logvar, -30, 20)
 * Every GroupNorm here uses eps 1e-6.
 */
#include "models/blocks.h"
#include "models/models.h"

#include <stdio.h>

#define SH(...) WG_NDIM(__VA_ARGS__), WG_SHAPE(__VA_ARGS__)
#define VAE_EPS 1e-6f

static int mid_block(wg_graph *g, const char *part, int x, const vae_config *c)
{
    char p[256];
    int ch = c->block_out[c->levels - 1];
    snprintf(p, sizeof p, "%s.mid_block.resnets.0", part);
    x = blk_resnet(g, p, x, -1, ch, c->groups, VAE_EPS);
    if (c->mid_attention) {
        snprintf(p, sizeof p, "%s.mid_block.attentions.0", part);
        x = blk_vae_attention(g, p, x, c->groups, VAE_EPS);
    }
    snprintf(p, sizeof p, "%s.mid_block.resnets.1", part);
    return blk_resnet(g, p, x, -1, ch, c->groups, VAE_EPS);
}

int vae_decoder_build(wg_graph *g, const vae_config *c, int batch, int h, int w, const build_opts *o)
{
    int debug = o && o->debug_outputs;
    char p[256];
    int x = wg_input(g, "latents", WSD_DT_F32, SH(batch, c->latent_channels, h, w));
    if (c->use_post_quant_conv) {
        x = blk_conv(g, "post_quant_conv", x, c->latent_channels, 1, 1, 0);
        if (debug) wg_output(g, x, "post_quant_conv");
    }
    x = blk_conv(g, "decoder.conv_in", x, c->block_out[c->levels - 1], 3, 1, 1);
    if (debug) wg_output(g, x, "decoder.conv_in");
    int ch = c->block_out[c->levels - 1];
    snprintf(p, sizeof p, "decoder.mid_block.resnets.0");
    x = blk_resnet(g, p, x, -1, ch, c->groups, VAE_EPS);
    if (c->mid_attention) {
        x = blk_vae_attention(g, "decoder.mid_block.attentions.0", x, c->groups, VAE_EPS);
        if (debug) wg_output(g, x, "decoder.mid_block.attentions.0");
    }
    x = blk_resnet(g, "decoder.mid_block.resnets.1", x, -1, ch, c->groups, VAE_EPS);
    if (debug) wg_output(g, x, "decoder.mid_block");
    for (int i = 0; i < c->levels; i++) {
        int co = c->block_out[c->levels - 1 - i];
        for (int j = 0; j < c->layers_per_block + 1; j++) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.resnets.%d", i, j);
            x = blk_resnet(g, p, x, -1, co, c->groups, VAE_EPS);
        }
        if (i != c->levels - 1 && !wg_failed(g)) {
            const wg_tensor *t = &g->t[x];
            x = wg_upsample_nearest(g, x, 2 * t->shape[2], 2 * t->shape[3]);
            snprintf(p, sizeof p, "decoder.up_blocks.%d.upsamplers.0.conv", i);
            x = blk_conv(g, p, x, co, 3, 1, 1);
        }
        if (debug) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d", i);
            wg_output(g, x, p);
        }
    }
    x = blk_group_norm(g, "decoder.conv_norm_out", x, c->groups, VAE_EPS, !debug);
    if (debug) { /* recorded before its SiLU in the goldens */
        wg_output(g, x, "decoder.conv_norm_out");
        x = wg_unary(g, WG_OP_SILU, x);
    }
    x = blk_conv(g, "decoder.conv_out", x, c->out_channels, 3, 1, 1);
    wg_output(g, x, "image");
    return x;
}

int vae_encoder_build(wg_graph *g, const vae_config *c, int batch, int H, int W, const build_opts *o)
{
    int debug = o && o->debug_outputs;
    char p[256];
    int x = wg_input(g, "image", WSD_DT_F32, SH(batch, c->in_channels, H, W));
    x = blk_conv(g, "encoder.conv_in", x, c->block_out[0], 3, 1, 1);
    if (debug) wg_output(g, x, "encoder.conv_in");
    for (int i = 0; i < c->levels; i++) {
        int co = c->block_out[i];
        for (int j = 0; j < c->layers_per_block; j++) {
            snprintf(p, sizeof p, "encoder.down_blocks.%d.resnets.%d", i, j);
            x = blk_resnet(g, p, x, -1, co, c->groups, VAE_EPS);
        }
        if (i != c->levels - 1) {
            /* diffusers pads (0, 1, 0, 1): right and bottom only */
            snprintf(p, sizeof p, "encoder.down_blocks.%d.downsamplers.0.conv", i);
            int64_t ci = x >= 0 ? g->t[x].shape[1] : 1;
            int wt = blk_weight(g, p, "weight", SH(co, ci, 3, 3));
            int bs = blk_weight(g, p, "bias", SH(co));
            x = wg_conv2d(g, x, wt, bs, 2, 0, 0, 1, 1);
        }
        if (debug) {
            snprintf(p, sizeof p, "encoder.down_blocks.%d", i);
            wg_output(g, x, p);
        }
    }
    x = mid_block(g, "encoder", x, c);
    if (debug) wg_output(g, x, "encoder.mid_block");
    x = blk_group_norm(g, "encoder.conv_norm_out", x, c->groups, VAE_EPS, 1);
    x = blk_conv(g, "encoder.conv_out", x, 2 * c->latent_channels, 3, 1, 1);
    if (debug) wg_output(g, x, "encoder.conv_out");
    if (c->use_quant_conv) {
        x = blk_conv(g, "quant_conv", x, 2 * c->latent_channels, 1, 1, 0);
        if (debug) wg_output(g, x, "quant_conv");
    }
    int mean = wg_slice(g, x, 1, 0, c->latent_channels);
    int logvar = wg_clamp(g, wg_slice(g, x, 1, c->latent_channels, c->latent_channels), -30.0f, 20.0f);
    wg_output(g, mean, "mean");
    wg_output(g, logvar, "logvar");
    return mean;
}
