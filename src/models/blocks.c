#include "models/blocks.h"

#include <math.h>
#include <stdio.h>

#define SH(...) WG_NDIM(__VA_ARGS__), WG_SHAPE(__VA_ARGS__)

int blk_weight(wg_graph *g, const char *p, const char *suffix, int ndim, const int64_t *shape)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", p, suffix);
    return wg_weight(g, name, ndim, shape);
}

static int64_t dim(wg_graph *g, int t, int d) { return t >= 0 ? g->t[t].shape[d] : 1; }
static int ndim_of(wg_graph *g, int t) { return t >= 0 ? g->t[t].ndim : 1; }

int blk_conv(wg_graph *g, const char *p, int x, int co, int k, int stride, int pad)
{
    int64_t ci = dim(g, x, 1);
    int w = blk_weight(g, p, "weight", SH(co, ci, k, k));
    int b = blk_weight(g, p, "bias", SH(co));
    return wg_conv2d(g, x, w, b, stride, pad, pad, pad, pad);
}

int blk_linear(wg_graph *g, const char *p, int x, int out, int bias)
{
    int64_t in = dim(g, x, ndim_of(g, x) - 1);
    int w = blk_weight(g, p, "weight", SH(out, in));
    int b = bias ? blk_weight(g, p, "bias", SH(out)) : -1;
    return wg_linear(g, x, w, b);
}

int blk_group_norm(wg_graph *g, const char *p, int x, int groups, float eps, int silu)
{
    int64_t c = dim(g, x, 1);
    int gw = blk_weight(g, p, "weight", SH(c));
    int gb = blk_weight(g, p, "bias", SH(c));
    return wg_group_norm(g, x, gw, gb, groups, eps, silu);
}

int blk_layer_norm(wg_graph *g, const char *p, int x, float eps)
{
    int64_t c = dim(g, x, ndim_of(g, x) - 1);
    int gw = blk_weight(g, p, "weight", SH(c));
    int gb = blk_weight(g, p, "bias", SH(c));
    return wg_layer_norm(g, x, gw, gb, eps);
}

int blk_resnet(wg_graph *g, const char *p, int x, int emb_silu, int co, int groups, float eps)
{
    char q[256];
    int64_t ci = dim(g, x, 1);
    snprintf(q, sizeof q, "%s.norm1", p);
    int h = blk_group_norm(g, q, x, groups, eps, 1);
    snprintf(q, sizeof q, "%s.conv1", p);
    h = blk_conv(g, q, h, co, 3, 1, 1);
    if (emb_silu >= 0) {
        snprintf(q, sizeof q, "%s.time_emb_proj", p);
        int t = blk_linear(g, q, emb_silu, co, 1);                 /* [B, co] */
        t = wg_reshape(g, t, 4, WG_SHAPE(dim(g, t, 0), co, 1, 1)); /* broadcast over H, W */
        h = wg_add(g, h, t);
    }
    snprintf(q, sizeof q, "%s.norm2", p);
    h = blk_group_norm(g, q, h, groups, eps, 1);
    snprintf(q, sizeof q, "%s.conv2", p);
    h = blk_conv(g, q, h, co, 3, 1, 1);
    if (ci != co) {
        snprintf(q, sizeof q, "%s.conv_shortcut", p);
        x = blk_conv(g, q, x, co, 1, 1, 0);
    }
    return wg_add(g, x, h);
}

int blk_attention(wg_graph *g, const char *p, int x, int ctx, int heads, int qkv_bias)
{
    char q[256];
    int64_t c = dim(g, x, 2);
    snprintf(q, sizeof q, "%s.to_q", p);
    int qq = blk_linear(g, q, x, (int)c, qkv_bias);
    snprintf(q, sizeof q, "%s.to_k", p);
    int kk = blk_linear(g, q, ctx, (int)c, qkv_bias);
    snprintf(q, sizeof q, "%s.to_v", p);
    int vv = blk_linear(g, q, ctx, (int)c, qkv_bias);
    float scale = 1.0f / sqrtf((float)(c / heads));
    int a = wg_attention(g, qq, kk, vv, heads, 0, scale);
    snprintf(q, sizeof q, "%s.to_out.0", p);
    return blk_linear(g, q, a, (int)c, 1);
}

static void dbg(wg_graph *g, int debug, int t, const char *p, const char *suffix)
{
    if (!debug)
        return;
    char name[256];
    snprintf(name, sizeof name, "%s%s", p, suffix);
    wg_output(g, t, name);
}

int blk_transformer2d(wg_graph *g, const char *p, int x, int ctx, int heads, int depth, int groups, int linear_proj, int debug)
{
    char q[256];
    int64_t B = dim(g, x, 0), C = dim(g, x, 1), H = dim(g, x, 2), W = dim(g, x, 3);
    snprintf(q, sizeof q, "%s.norm", p);
    int h = blk_group_norm(g, q, x, groups, 1e-6f, 0);
    dbg(g, debug, h, p, ".norm");
    snprintf(q, sizeof q, "%s.proj_in", p);
    if (!linear_proj) {
        h = blk_conv(g, q, h, (int)C, 1, 1, 0);
        dbg(g, debug, h, p, ".proj_in");
        h = wg_transpose(g, wg_reshape(g, h, 3, WG_SHAPE(B, C, H * W))); /* [B, HW, C] */
    } else {
        h = wg_transpose(g, wg_reshape(g, h, 3, WG_SHAPE(B, C, H * W)));
        h = blk_linear(g, q, h, (int)C, 1);
    }
    for (int d = 0; d < depth; d++) {
        char tb[256];
        snprintf(tb, sizeof tb, "%s.transformer_blocks.%d", p, d);
        snprintf(q, sizeof q, "%s.norm1", tb);
        int n = blk_layer_norm(g, q, h, 1e-5f);
        snprintf(q, sizeof q, "%s.attn1", tb);
        int a = blk_attention(g, q, n, n, heads, 0);
        if (d == 0) dbg(g, debug, a, tb, ".attn1");
        h = wg_add(g, a, h);
        snprintf(q, sizeof q, "%s.norm2", tb);
        n = blk_layer_norm(g, q, h, 1e-5f);
        snprintf(q, sizeof q, "%s.attn2", tb);
        a = blk_attention(g, q, n, ctx, heads, 0);
        if (d == 0) dbg(g, debug, a, tb, ".attn2");
        h = wg_add(g, a, h);
        snprintf(q, sizeof q, "%s.norm3", tb);
        n = blk_layer_norm(g, q, h, 1e-5f);
        snprintf(q, sizeof q, "%s.ff.net.0.proj", tb);
        int f = blk_linear(g, q, n, (int)(8 * C), 1);
        f = wg_unary(g, WG_OP_GEGLU, f);
        snprintf(q, sizeof q, "%s.ff.net.2", tb);
        f = blk_linear(g, q, f, (int)C, 1);
        if (d == 0) dbg(g, debug, f, tb, ".ff");
        h = wg_add(g, f, h);
    }
    snprintf(q, sizeof q, "%s.proj_out", p);
    if (linear_proj) {
        h = blk_linear(g, q, h, (int)C, 1);
        h = wg_reshape(g, wg_transpose(g, h), 4, WG_SHAPE(B, C, H, W));
    } else {
        h = wg_reshape(g, wg_transpose(g, h), 4, WG_SHAPE(B, C, H, W));
        h = blk_conv(g, q, h, (int)C, 1, 1, 0);
    }
    return wg_add(g, h, x);
}

int blk_vae_attention(wg_graph *g, const char *p, int x, int groups, float eps)
{
    char q[256];
    int64_t B = dim(g, x, 0), C = dim(g, x, 1), H = dim(g, x, 2), W = dim(g, x, 3);
    snprintf(q, sizeof q, "%s.group_norm", p);
    int h = blk_group_norm(g, q, x, groups, eps, 0);
    h = wg_transpose(g, wg_reshape(g, h, 3, WG_SHAPE(B, C, H * W)));
    h = blk_attention(g, p, h, h, 1, 1);
    h = wg_reshape(g, wg_transpose(g, h), 4, WG_SHAPE(B, C, H, W));
    return wg_add(g, h, x);
}
