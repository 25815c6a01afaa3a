/* Building blocks shared by the UNet and the VAE: ResNet blocks, attention
 * and transformer blocks, down/up-sampling. `p` is the weight-name prefix of
 * the block (e.g. "down_blocks.0.resnets.1"). */
#ifndef WSD_MODELS_BLOCKS_H
#define WSD_MODELS_BLOCKS_H

#include "graph/graph.h"

/* Weight `p`.`suffix` with the given shape. */
int blk_weight(wg_graph *g, const char *p, const char *suffix, int ndim, const int64_t *shape);

/* Conv2d named p (p.weight [co,ci,k,k], p.bias [co]), stride and symmetric padding. */
int blk_conv(wg_graph *g, const char *p, int x, int co, int k, int stride, int pad);
/* Linear named p: p.weight [out,in] and p.bias [out] when bias. */
int blk_linear(wg_graph *g, const char *p, int x, int out, int bias);
/* GroupNorm named p (p.weight, p.bias [C]). */
int blk_group_norm(wg_graph *g, const char *p, int x, int groups, float eps, int silu);
int blk_layer_norm(wg_graph *g, const char *p, int x, float eps);

/* ResnetBlock2D: x [B,Ci,H,W] -> [B,co,H,W]. emb_silu = SiLU(time embedding)
 * [B,E] or -1 (the VAE has none). */
int blk_resnet(wg_graph *g, const char *p, int x, int emb_silu, int co, int groups, float eps);

/* Attention (diffusers Attention): q from x [B,T,C], k/v from ctx [B,S,Cc]
 * (ctx = x for self-attention). to_q/to_k/to_v with bias `qkv_bias`,
 * to_out.0 with bias. */
int blk_attention(wg_graph *g, const char *p, int x, int ctx, int heads, int qkv_bias);

/* Transformer2DModel with `depth` BasicTransformerBlocks: x [B,C,H,W] ->
 * same; ctx [B,S,Cc]. `dbg` names intermediates for the goldens (or NULL). */
int blk_transformer2d(wg_graph *g, const char *p, int x, int ctx, int heads, int depth, int groups, int linear_proj, int debug);

/* VAE mid-block attention: GroupNorm(eps) + single-head attention over
 * all channels + residual, on [B,C,H,W]. */
int blk_vae_attention(wg_graph *g, const char *p, int x, int groups, float eps);

#endif
