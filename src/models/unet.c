/* UNet2DConditionModel (SD 1.x / 2.x) as a graph.
 *
 *   sample [B,4,h,w], timestep [B], encoder_hidden_states [B,77,D]
 *   -> time_proj -> time_embedding (Linear-SiLU-Linear) -> emb [B,4*C0]
 *   -> conv_in -> down blocks (ResNet [+ Transformer]) x layers, downsample
 *   -> mid (ResNet, Transformer, ResNet)
 *   -> up blocks: concat [hidden, skip] (skips popped last-in first-out),
 *      ResNet [+ Transformer] x (layers+1), upsample to the skip's size
 *   -> GroupNorm+SiLU -> conv_out -> out [B,4,h,w]
 */
#include "models/blocks.h"
#include "models/models.h"

#include <stdio.h>

#define SH(...) WG_NDIM(__VA_ARGS__), WG_SHAPE(__VA_ARGS__)
#define MAX_SKIPS 64

int unet_build(wg_graph *g, const unet_config *c, int batch, int h, int w, int ctx_len, const build_opts *o)
{
    int debug = o && o->debug_outputs;
    char p[256];
    int c0 = c->block_out[0], temb_dim = 4 * c0;
    int sample = wg_input(g, "sample", WSD_DT_F32, SH(batch, c->in_channels, h, w));
    int tstep = wg_input(g, "timestep", WSD_DT_F32, SH(batch));
    int ctx = wg_input(g, "encoder_hidden_states", WSD_DT_F32, SH(batch, ctx_len, c->cross_dim));
    /* set once per image: the cross-attention keys and values computed from
     * it need not be recomputed on every step (wg_held_nodes) */
    if (ctx >= 0) g->t[ctx].held = 1;

    int tp = wg_timestep_embed(g, tstep, c0, c->flip_sin_to_cos, c->freq_shift);
    if (debug) wg_output(g, tp, "time_proj");
    int emb = blk_linear(g, "time_embedding.linear_1", tp, temb_dim, 1);
    emb = wg_unary(g, WG_OP_SILU, emb);
    emb = blk_linear(g, "time_embedding.linear_2", emb, temb_dim, 1);
    if (debug) wg_output(g, emb, "time_embedding");
    int emb_silu = wg_unary(g, WG_OP_SILU, emb); /* every ResNet applies SiLU to emb first */

    int x = blk_conv(g, "conv_in", sample, c0, 3, 1, 1);
    if (debug) wg_output(g, x, "conv_in");
    int skips[MAX_SKIPS], ns = 0;
    skips[ns++] = x;

    for (int i = 0; i < c->levels; i++) {
        int co = c->block_out[i];
        for (int j = 0; j < c->layers_per_block; j++) {
            snprintf(p, sizeof p, "down_blocks.%d.resnets.%d", i, j);
            x = blk_resnet(g, p, x, emb_silu, co, c->groups, c->norm_eps);
            if (debug && i == 0 && j == 0) wg_output(g, x, "down_blocks.0.resnets.0");
            if (c->down_cross[i]) {
                snprintf(p, sizeof p, "down_blocks.%d.attentions.%d", i, j);
                x = blk_transformer2d(g, p, x, ctx, c->heads[i], c->transformer_depth, c->groups, c->linear_projection, debug && i == 0 && j == 0);
                if (debug && i == 0 && j == 0) wg_output(g, x, "down_blocks.0.attentions.0");
            }
            if (ns < MAX_SKIPS) skips[ns++] = x;
        }
        if (i != c->levels - 1) {
            snprintf(p, sizeof p, "down_blocks.%d.downsamplers.0.conv", i);
            x = blk_conv(g, p, x, co, 3, 2, 1);
            if (ns < MAX_SKIPS) skips[ns++] = x;
        }
        if (debug) {
            snprintf(p, sizeof p, "down_blocks.%d", i);
            wg_output(g, x, p);
        }
    }

    int top = c->block_out[c->levels - 1];
    x = blk_resnet(g, "mid_block.resnets.0", x, emb_silu, top, c->groups, c->norm_eps);
    x = blk_transformer2d(g, "mid_block.attentions.0", x, ctx, c->heads[c->levels - 1], c->transformer_depth, c->groups, c->linear_projection, 0);
    x = blk_resnet(g, "mid_block.resnets.1", x, emb_silu, top, c->groups, c->norm_eps);
    if (debug) wg_output(g, x, "mid_block");

    for (int i = 0; i < c->levels; i++) {
        int level = c->levels - 1 - i; /* the down level this up block mirrors */
        int co = c->block_out[level];
        for (int j = 0; j < c->layers_per_block + 1; j++) {
            if (ns <= 0) return wg_concat(g, -1, -1, 1); /* cannot happen with a valid config */
            x = wg_concat(g, x, skips[--ns], 1);
            snprintf(p, sizeof p, "up_blocks.%d.resnets.%d", i, j);
            x = blk_resnet(g, p, x, emb_silu, co, c->groups, c->norm_eps);
            if (c->up_cross[i]) {
                snprintf(p, sizeof p, "up_blocks.%d.attentions.%d", i, j);
                x = blk_transformer2d(g, p, x, ctx, c->heads[level], c->transformer_depth, c->groups, c->linear_projection, 0);
            }
        }
        if (i != c->levels - 1 && ns > 0 && !wg_failed(g)) {
            /* upsample to the next skip's size (x2 unless a side was odd) */
            const wg_tensor *s = &g->t[skips[ns - 1]];
            x = wg_upsample_nearest(g, x, s->shape[2], s->shape[3]);
            snprintf(p, sizeof p, "up_blocks.%d.upsamplers.0.conv", i);
            x = blk_conv(g, p, x, co, 3, 1, 1);
        }
        if (debug) {
            snprintf(p, sizeof p, "up_blocks.%d", i);
            wg_output(g, x, p);
        }
    }
    /* the goldens record conv_norm_out before its SiLU, so debug builds keep them apart */
    x = blk_group_norm(g, "conv_norm_out", x, c->groups, c->norm_eps, !debug);
    if (debug) {
        wg_output(g, x, "conv_norm_out");
        x = wg_unary(g, WG_OP_SILU, x);
    }
    x = blk_conv(g, "conv_out", x, c->out_channels, 3, 1, 1);
    wg_output(g, x, "out");
    return x;
}
