/* Every graph operator on the WebGPU backend against the CPU reference
 * backend, on small random inputs:
 *   - float32 weights, with the device's limits and with --gpu-limits default;
 *   - packed-f16 weights (the CPU then gets the same f16-rounded weights, so
 *     the storage path itself is checked at float32 bounds);
 *   - every kernel variant of conv2d, linear, attention and group norm (what
 *     the tuning database may pick) against the reference variant;
 *   - the big-tensor splitting paths, by lowering with tiny pretend limits.
 * Bounds: rel L2 <= 1e-5 and max abs <= 1e-4 * max(1, max|ref|).
 *
 * Runs on SwiftShader in CI: VK_ICD_FILENAMES is set to Chromium's
 * SwiftShader ICD when unset. If the WebGPU backend cannot start this test
 * FAILS (CI is supposed to have Dawn and SwiftShader). */
#include "backends/backend.h"
#include "backends/webgpu/lower.h"
#include "backends/webgpu/tuner.h"
#include "backends/webgpu/variants.h"
#include "backends/webgpu/webgpu_backend.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REL 1e-5
#define ABS 1e-4

/* ---- random data and named weights ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

#define MAX_W 16
typedef struct wtab {
    char name[MAX_W][32];
    float *data[MAX_W];
    float *data16[MAX_W]; /* the same values rounded through f16 */
    int n;
    int use16; /* serve data16 */
} wtab;

static wsd_status weight_fn(void *user, const char *name, int ndim, const int64_t *shape, const void **data,
                            wsd_dtype *dtype, wsd_err *err)
{
    wtab *w = user;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->name[i], name)) {
            *data = w->use16 ? w->data16[i] : w->data[i];
            *dtype = WSD_DT_F32;
            return WSD_OK;
        }
    if (w->n == MAX_W) return wsd_fail(err, WSD_ERR_INTERNAL, "too many weights");
    int i = w->n++;
    snprintf(w->name[i], sizeof w->name[i], "%s", name);
    w->data[i] = malloc((size_t)n * sizeof(float));
    w->data16[i] = malloc((size_t)n * sizeof(float));
    float scale = strstr(name, "gamma") ? 0.0f : 1.0f;
    for (int64_t k = 0; k < n; k++) {
        float v = scale == 0.0f ? 1.0f + 0.2f * frand() : frand() * 0.5f;
        w->data[i][k] = v;
        w->data16[i][k] = wsd_f16_to_f32(wsd_f32_to_f16(v));
    }
    *data = w->use16 ? w->data16[i] : w->data[i];
    *dtype = WSD_DT_F32;
    return WSD_OK;
}

/* Weight arrays stay allocated until exit: the GPU backend caches uploads
 * by data pointer (weights outlive backends in the engine), so freeing and
 * reallocating at the same address would serve it stale weights. */
static void *graveyard[4096];
static int n_graveyard;

static void wtab_free(wtab *w)
{
    for (int i = 0; i < w->n; i++) {
        if (n_graveyard + 2 <= (int)(sizeof graveyard / sizeof graveyard[0])) {
            graveyard[n_graveyard++] = w->data[i];
            graveyard[n_graveyard++] = w->data16[i];
        }
    }
    memset(w, 0, sizeof *w);
}

/* ---- test cases: a builder makes a graph with inputs "in0".. and output "out" ---- */

typedef int (*build_fn)(wg_graph *g);

typedef struct tcase {
    const char *name;
    build_fn build;
    const char *hot; /* "gemm", "attn", "gn" or NULL: which variant family to sweep */
} tcase;

#define S(...) WG_NDIM(__VA_ARGS__), WG_SHAPE(__VA_ARGS__)

static int b_conv3(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 5, 9, 7));
    int w = wg_weight(g, "w", S(6, 5, 3, 3)), b = wg_weight(g, "b", S(6));
    return wg_conv2d(g, x, w, b, 1, 1, 1, 1, 1);
}
static int b_conv_wide(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(1, 16, 12, 11));
    int w = wg_weight(g, "w", S(70, 16, 3, 3)), b = wg_weight(g, "b", S(70));
    return wg_conv2d(g, x, w, b, 1, 1, 1, 1, 1);
}
static int b_conv_down(wg_graph *g) /* VAE-encoder downsample: pad bottom/right only, stride 2 */
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(1, 4, 8, 10));
    int w = wg_weight(g, "w", S(4, 4, 3, 3)), b = wg_weight(g, "b", S(4));
    return wg_conv2d(g, x, w, b, 2, 0, 0, 1, 1);
}
static int b_conv_s2(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 3, 9, 9));
    int w = wg_weight(g, "w", S(5, 3, 3, 3)), b = wg_weight(g, "b", S(5));
    return wg_conv2d(g, x, w, b, 2, 1, 1, 1, 1);
}
static int b_conv1(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 8, 6, 6));
    int w = wg_weight(g, "w", S(10, 8, 1, 1));
    return wg_conv2d(g, x, w, -1, 1, 0, 0, 0, 0);
}
static int b_linear(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 7, 24));
    int w = wg_weight(g, "w", S(33, 24)), b = wg_weight(g, "b", S(33));
    return wg_linear(g, x, w, b);
}
/* residual adds, which the WebGPU lowering folds into the GEMM's store (or its split-K reduction) */
static int b_linear_res(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 7, 24)), r = wg_input(g, "in1", WSD_DT_F32, S(2, 7, 33));
    int w = wg_weight(g, "w", S(33, 24)), b = wg_weight(g, "b", S(33));
    return wg_add(g, wg_linear(g, x, w, b), r);
}
/* k and n multiples of 4: the vec4 tiles' 16-byte loads and stores (VIEW4), with a residual */
static int b_linear_res4(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 67, 40)), r = wg_input(g, "in1", WSD_DT_F32, S(2, 67, 36));
    int w = wg_weight(g, "w", S(36, 40)), b = wg_weight(g, "b", S(36));
    return wg_add(g, wg_linear(g, x, w, b), r);
}
/* two rows, as the time embedding's projections (the gemv kernel's shape) */
static int b_linear_rows2(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 300));
    return wg_linear(g, x, wg_weight(g, "w", S(45, 300)), wg_weight(g, "b", S(45)));
}
static int b_linear_rows2_res(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 1, 70)), r = wg_input(g, "in1", WSD_DT_F32, S(2, 1, 9));
    return wg_add(g, r, wg_linear(g, x, wg_weight(g, "w", S(9, 70)), -1));
}
static int b_conv_res(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 5, 9, 7)), r = wg_input(g, "in1", WSD_DT_F32, S(2, 6, 9, 7));
    int w = wg_weight(g, "w", S(6, 5, 3, 3)), b = wg_weight(g, "b", S(6));
    return wg_add(g, r, wg_conv2d(g, x, w, b, 1, 1, 1, 1, 1)); /* the residual first */
}
/* pixels and k multiples of 4: the vec4 weight loads and epilogue (VIEW4), with a folded norm and a residual */
static int b_gn_conv_res4(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 8, 8, 8)), r = wg_input(g, "in1", WSD_DT_F32, S(2, 12, 8, 8));
    int ga = wg_weight(g, "gamma", S(8)), be = wg_weight(g, "beta", S(8));
    int n = wg_group_norm(g, x, ga, be, 4, 1e-6f, 1);
    return wg_add(g, wg_conv2d(g, n, wg_weight(g, "w", S(12, 8, 3, 3)), wg_weight(g, "b", S(12)), 1, 1, 1, 1, 1), r);
}
/* a 1x1 conv through a folded norm (no SiLU), pixels in quads of 4 */
static int b_gn_conv1_4(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 8, 4, 8));
    int ga = wg_weight(g, "gamma", S(8)), be = wg_weight(g, "beta", S(8));
    int n = wg_group_norm(g, x, ga, be, 2, 1e-6f, 0);
    return wg_conv2d(g, n, wg_weight(g, "w", S(12, 8, 1, 1)), wg_weight(g, "b", S(12)), 1, 0, 0, 0, 0);
}
static int b_conv_shortcut(wg_graph *g) /* a ResNet's end: conv3x3(x) + conv1x1(x), the later GEMM adds */
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 5, 9, 7));
    int w = wg_weight(g, "w", S(6, 5, 3, 3)), b = wg_weight(g, "b", S(6));
    int ws = wg_weight(g, "ws", S(6, 5, 1, 1)), bs = wg_weight(g, "bs", S(6));
    int h = wg_conv2d(g, x, w, b, 1, 1, 1, 1, 1);
    return wg_add(g, h, wg_conv2d(g, x, ws, bs, 1, 0, 0, 0, 0));
}
static int b_linear_tall(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(1, 150, 40));
    int w = wg_weight(g, "w", S(72, 40));
    return wg_linear(g, x, w, -1);
}
static int b_gn(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 8, 5, 6));
    int ga = wg_weight(g, "gamma", S(8)), be = wg_weight(g, "beta", S(8));
    return wg_group_norm(g, x, ga, be, 4, 1e-5f, 0);
}
static int b_gn_silu(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(1, 12, 70, 90));
    int ga = wg_weight(g, "gamma", S(12)), be = wg_weight(g, "beta", S(12));
    /* offset the input so a naive E[x^2]-E[x]^2 would lose precision */
    int xs = wg_scale(g, x, 1.0f, 3.0f);
    return wg_group_norm(g, xs, ga, be, 3, 1e-6f, 1);
}
static int b_gn3d(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 8, 30));
    int ga = wg_weight(g, "gamma", S(8)), be = wg_weight(g, "beta", S(8));
    return wg_group_norm(g, x, ga, be, 2, 1e-5f, 1);
}
static int b_ln(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(3, 5, 40));
    int ga = wg_weight(g, "gamma", S(40)), be = wg_weight(g, "beta", S(40));
    return wg_layer_norm(g, x, ga, be, 1e-5f);
}
static int b_attn(wg_graph *g)
{
    int q = wg_input(g, "in0", WSD_DT_F32, S(2, 13, 16));
    int k = wg_input(g, "in1", WSD_DT_F32, S(2, 11, 16));
    int v = wg_input(g, "in2", WSD_DT_F32, S(2, 11, 24));
    return wg_attention(g, q, k, v, 4, 0, 0.5f);
}
static int b_attn_causal(wg_graph *g)
{
    int q = wg_input(g, "in0", WSD_DT_F32, S(1, 37, 32));
    int k = wg_input(g, "in1", WSD_DT_F32, S(1, 37, 32));
    int v = wg_input(g, "in2", WSD_DT_F32, S(1, 37, 32));
    return wg_attention(g, q, k, v, 2, 1, 0.25f);
}
static int b_attn_wide(wg_graph *g) /* one head over many channels, as in the VAE */
{
    int q = wg_input(g, "in0", WSD_DT_F32, S(1, 40, 72));
    int k = wg_input(g, "in1", WSD_DT_F32, S(1, 40, 72));
    int v = wg_input(g, "in2", WSD_DT_F32, S(1, 40, 72));
    return wg_attention(g, q, k, v, 1, 0, 0.117851f);
}
static int b_attn_self(wg_graph *g) /* the same tensor as q, k and v */
{
    int q = wg_input(g, "in0", WSD_DT_F32, S(2, 9, 8));
    return wg_attention(g, q, q, q, 2, 0, 0.5f);
}
static int b_silu(wg_graph *g) { return wg_unary(g, WG_OP_SILU, wg_input(g, "in0", WSD_DT_F32, S(3, 100))); }
static int b_gelu(wg_graph *g)
{
    int x = wg_scale(g, wg_input(g, "in0", WSD_DT_F32, S(3, 100)), 6.0f, 0.0f);
    return wg_unary(g, WG_OP_GELU, x);
}
static int b_qgelu(wg_graph *g)
{
    int x = wg_scale(g, wg_input(g, "in0", WSD_DT_F32, S(3, 100)), 6.0f, 0.0f);
    return wg_unary(g, WG_OP_QUICK_GELU, x);
}
static int b_geglu(wg_graph *g)
{
    int x = wg_scale(g, wg_input(g, "in0", WSD_DT_F32, S(2, 5, 24)), 4.0f, 0.0f);
    return wg_unary(g, WG_OP_GEGLU, x);
}
static int b_softmax(wg_graph *g)
{
    int x = wg_scale(g, wg_input(g, "in0", WSD_DT_F32, S(4, 37)), 8.0f, 0.0f);
    return wg_unary(g, WG_OP_SOFTMAX, x);
}
static int b_add_bcast(wg_graph *g)
{
    int a = wg_input(g, "in0", WSD_DT_F32, S(2, 6, 4, 5)), b = wg_input(g, "in1", WSD_DT_F32, S(6, 1, 1));
    return wg_add(g, a, b);
}
static int b_mul_bcast(wg_graph *g)
{
    int a = wg_input(g, "in0", WSD_DT_F32, S(2, 6, 4, 5)), b = wg_input(g, "in1", WSD_DT_F32, S(2, 6, 1, 5));
    return wg_mul(g, a, b);
}
static int b_add_same(wg_graph *g)
{
    int a = wg_input(g, "in0", WSD_DT_F32, S(2, 3, 50)), b = wg_input(g, "in1", WSD_DT_F32, S(2, 3, 50));
    int s = wg_add(g, a, b);
    return wg_add(g, s, s); /* the same tensor twice */
}
static int b_add_weight(wg_graph *g) /* a weight as the broadcast operand (position embeddings) */
{
    int a = wg_input(g, "in0", WSD_DT_F32, S(2, 5, 12)), w = wg_weight(g, "pos", S(1, 5, 12));
    return wg_add(g, a, w);
}
static int b_scale_clamp(wg_graph *g)
{
    int x = wg_scale(g, wg_input(g, "in0", WSD_DT_F32, S(5, 41)), 3.0f, 0.25f);
    return wg_clamp(g, x, -1.0f, 1.5f);
}
static int b_inplace_chain(wg_graph *g) /* element-wise chain the planner runs in place */
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 4, 33));
    int y = wg_linear(g, x, wg_weight(g, "w", S(33, 33)), -1);
    y = wg_unary(g, WG_OP_SILU, y);
    y = wg_scale(g, y, 2.0f, -0.5f);
    y = wg_add(g, y, x);
    return wg_mul(g, y, wg_weight(g, "b", S(33)));
}
static int b_concat1(wg_graph *g)
{
    int a = wg_input(g, "in0", WSD_DT_F32, S(2, 3, 4, 5)), b = wg_input(g, "in1", WSD_DT_F32, S(2, 2, 4, 5));
    return wg_concat(g, a, b, 1);
}
static int b_concat_many(wg_graph *g) /* > 64 blocks: the copy kernel instead of buffer copies */
{
    int a = wg_input(g, "in0", WSD_DT_F32, S(2, 40, 3)), b = wg_input(g, "in1", WSD_DT_F32, S(2, 40, 5));
    return wg_concat(g, a, b, 2);
}
static int b_slice(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 7, 4, 3));
    return wg_slice(g, x, 1, 2, 4);
}
static int b_slice_last(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(3, 30, 10));
    return wg_slice(g, x, 2, 5, 5);
}
static int b_upsample2(wg_graph *g)
{
    return wg_upsample_nearest(g, wg_input(g, "in0", WSD_DT_F32, S(1, 3, 4, 5)), 8, 10);
}
static int b_upsample_odd(wg_graph *g)
{
    return wg_upsample_nearest(g, wg_input(g, "in0", WSD_DT_F32, S(2, 2, 5, 6)), 7, 9);
}
static int b_embedding(wg_graph *g)
{
    int ids = wg_input(g, "in0", WSD_DT_I32, S(2, 5));
    return wg_embedding(g, ids, wg_weight(g, "table", S(50, 12)));
}
static int b_tstep(wg_graph *g) { return wg_timestep_embed(g, wg_input(g, "in0", WSD_DT_F32, S(4)), 64, 1, 0.0f); }
static int b_tstep2(wg_graph *g) { return wg_timestep_embed(g, wg_input(g, "in0", WSD_DT_F32, S(4)), 32, 0, 1.0f); }
static int b_transpose(wg_graph *g) { return wg_transpose(g, wg_input(g, "in0", WSD_DT_F32, S(2, 17, 19))); }
static int b_reshape(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 6, 10));
    int r = wg_reshape(g, x, S(2, 60));
    return wg_linear(g, r, wg_weight(g, "w", S(7, 60)), wg_weight(g, "b", S(7)));
}

/* fusions the lowering makes: group norm (+ SiLU) into the next conv,
 * 2x nearest upsampling into the next conv */
static int b_gn_conv(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 8, 7, 9));
    int ga = wg_weight(g, "gamma", S(8)), be = wg_weight(g, "beta", S(8));
    int n = wg_group_norm(g, wg_scale(g, x, 2.0f, 1.0f), ga, be, 4, 1e-6f, 1);
    return wg_conv2d(g, n, wg_weight(g, "w", S(12, 8, 3, 3)), wg_weight(g, "b", S(12)), 1, 1, 1, 1, 1);
}
static int b_gn_conv_reuse(wg_graph *g) /* the norm's input read again: the conv applies the norm itself */
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 8, 7, 9));
    int ga = wg_weight(g, "gamma", S(8)), be = wg_weight(g, "beta", S(8));
    int u = wg_scale(g, x, 2.0f, 1.0f);
    int n = wg_group_norm(g, u, ga, be, 4, 1e-6f, 1);
    int c = wg_conv2d(g, n, wg_weight(g, "w", S(8, 8, 3, 3)), wg_weight(g, "b", S(8)), 1, 1, 1, 1, 1);
    return wg_add(g, c, u);
}
static int b_gn_conv1(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(1, 16, 5, 6));
    int ga = wg_weight(g, "gamma", S(16)), be = wg_weight(g, "beta", S(16));
    int n = wg_group_norm(g, x, ga, be, 8, 1e-5f, 0);
    return wg_conv2d(g, n, wg_weight(g, "w", S(6, 16, 1, 1)), -1, 1, 0, 0, 0, 0);
}
static int b_up_conv(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 5, 6, 7));
    int u = wg_upsample_nearest(g, x, 12, 14);
    return wg_conv2d(g, u, wg_weight(g, "w", S(9, 5, 3, 3)), wg_weight(g, "b", S(9)), 1, 1, 1, 1, 1);
}
static int b_linear_geglu(wg_graph *g) /* the transformer feed-forward: linear -> geglu -> linear */
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 9, 16));
    int h = wg_linear(g, x, wg_weight(g, "w", S(2 * 20, 16)), wg_weight(g, "b", S(2 * 20)));
    h = wg_unary(g, WG_OP_GEGLU, h);
    return wg_linear(g, h, wg_weight(g, "w2", S(16, 20)), wg_weight(g, "b2", S(16)));
}
static int b_conv_deep(wg_graph *g) /* long K, small grid: split-K */
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 64, 4, 4));
    return wg_conv2d(g, x, wg_weight(g, "w", S(40, 64, 3, 3)), wg_weight(g, "b", S(40)), 1, 1, 1, 1, 1);
}
static int b_linear_deep(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(1, 5, 600));
    return wg_linear(g, x, wg_weight(g, "w", S(24, 600)), wg_weight(g, "b", S(24)));
}

/* shapes sized for the 4 KiB-binding / 16 KiB-buffer split test */
static int b_split_conv(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(1, 6, 24, 24));
    int w = wg_weight(g, "w", S(5, 6, 3, 3)), b = wg_weight(g, "b", S(5));
    return wg_conv2d(g, x, w, b, 1, 1, 1, 1, 1);
}
static int b_split_gn(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(2, 8, 16, 16));
    int ga = wg_weight(g, "gamma", S(8)), be = wg_weight(g, "beta", S(8));
    return wg_group_norm(g, x, ga, be, 4, 1e-6f, 1);
}
static int b_split_silu(wg_graph *g) { return wg_unary(g, WG_OP_SILU, wg_input(g, "in0", WSD_DT_F32, S(4, 1000))); }
static int b_split_add(wg_graph *g)
{
    int a = wg_input(g, "in0", WSD_DT_F32, S(2, 16, 10, 10)), b = wg_input(g, "in1", WSD_DT_F32, S(16, 1, 1));
    return wg_add(g, a, b);
}
static int b_split_up(wg_graph *g)
{
    return wg_upsample_nearest(g, wg_input(g, "in0", WSD_DT_F32, S(1, 3, 16, 16)), 24, 24);
}
static int b_split_embed(wg_graph *g)
{
    int ids = wg_input(g, "in0", WSD_DT_I32, S(2, 5));
    return wg_embedding(g, ids, wg_weight(g, "table", S(100, 12)));
}
static int b_split_linear(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(1, 90, 40));
    return wg_linear(g, x, wg_weight(g, "w", S(24, 40)), wg_weight(g, "b", S(24)));
}
static int b_split_linear_res(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(1, 90, 40)), r = wg_input(g, "in1", WSD_DT_F32, S(1, 90, 24));
    return wg_add(g, wg_linear(g, x, wg_weight(g, "w", S(24, 40)), wg_weight(g, "b", S(24))), r);
}
static int b_split_conv_res(wg_graph *g)
{
    int x = wg_input(g, "in0", WSD_DT_F32, S(1, 6, 24, 24)), r = wg_input(g, "in1", WSD_DT_F32, S(1, 5, 24, 24));
    int w = wg_weight(g, "w", S(5, 6, 3, 3)), b = wg_weight(g, "b", S(5));
    return wg_add(g, wg_conv2d(g, x, w, b, 1, 1, 1, 1, 1), r);
}

static const tcase cases[] = {
    {"conv2d 3x3", b_conv3, "gemm"},
    {"conv2d 3x3 co=70", b_conv_wide, "gemm"},
    {"conv2d stride 2, pad b/r", b_conv_down, "gemm"},
    {"conv2d stride 2, pad 1", b_conv_s2, "gemm"},
    {"conv2d 1x1, no bias", b_conv1, "gemm"},
    {"linear", b_linear, "gemm"},
    {"linear 150 rows, no bias", b_linear_tall, "gemm"},
    {"linear + residual", b_linear_res, "gemm"},
    {"linear + residual, k and n multiples of 4", b_linear_res4, "gemm"},
    {"linear 2 rows", b_linear_rows2, "gemm"},
    {"linear 2 rows, no bias, + residual", b_linear_rows2_res, "gemm"},
    {"conv2d 3x3 + residual", b_conv_res, "gemm"},
    {"group_norm+silu -> conv2d 3x3 + residual, 8x8", b_gn_conv_res4, "gemm"},
    {"group_norm -> conv2d 1x1, 4x8", b_gn_conv1_4, "gemm"},
    {"conv2d 3x3 + conv2d 1x1 shortcut", b_conv_shortcut, "gemm"},
    {"group_norm+silu -> conv2d 3x3", b_gn_conv, "gemm"},
    {"group_norm+silu -> conv2d 3x3, input reused", b_gn_conv_reuse, "gemm"},
    {"group_norm -> conv2d 1x1", b_gn_conv1, "gemm"},
    {"upsample x2 -> conv2d", b_up_conv, "gemm"},
    {"conv2d K=576, 4x4", b_conv_deep, "gemm"},
    {"linear -> geglu -> linear", b_linear_geglu, "gemm"},
    {"linear K=600", b_linear_deep, "gemm"},
    {"group_norm", b_gn, "gn"},
    {"group_norm + silu, offset input", b_gn_silu, "gn"},
    {"group_norm 3-D + silu", b_gn3d, "gn"},
    {"layer_norm", b_ln, NULL},
    {"attention 4 heads", b_attn, "attn"},
    {"attention causal", b_attn_causal, "attn"},
    {"attention 1 head, 72 channels", b_attn_wide, "attn"},
    {"attention q=k=v", b_attn_self, "attn"},
    {"silu", b_silu, NULL},
    {"gelu", b_gelu, NULL},
    {"quick_gelu", b_qgelu, NULL},
    {"geglu", b_geglu, NULL},
    {"softmax", b_softmax, NULL},
    {"add broadcast", b_add_bcast, NULL},
    {"mul broadcast", b_mul_bcast, NULL},
    {"add same shape, x + x", b_add_same, NULL},
    {"add weight", b_add_weight, NULL},
    {"scale, clamp", b_scale_clamp, NULL},
    {"in-place chain", b_inplace_chain, NULL},
    {"concat dim 1", b_concat1, NULL},
    {"concat last dim (kernel)", b_concat_many, NULL},
    {"slice dim 1", b_slice, NULL},
    {"slice last dim (kernel)", b_slice_last, NULL},
    {"upsample x2", b_upsample2, NULL},
    {"upsample 5x6 -> 7x9", b_upsample_odd, NULL},
    {"embedding", b_embedding, NULL},
    {"timestep embed flip", b_tstep, NULL},
    {"timestep embed shift 1", b_tstep2, NULL},
    {"transpose", b_transpose, NULL},
    {"reshape", b_reshape, NULL},
    {"split conv2d", b_split_conv, NULL},
    {"split group_norm", b_split_gn, NULL},
    {"split silu", b_split_silu, NULL},
    {"split add", b_split_add, NULL},
    {"split upsample", b_split_up, NULL},
    {"split embedding", b_split_embed, NULL},
    {"split linear", b_split_linear, NULL},
    {"split linear + residual", b_split_linear_res, NULL},
    {"split conv2d + residual", b_split_conv_res, NULL},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* ---- running ---- */

typedef struct result {
    float *out;
    size_t n;
} result;

static void fill_inputs(wg_graph *g, int case_idx, float **bufs, size_t *sizes, int *ids, int *n_in)
{
    uint64_t save = rng;
    rng = 0x1234567ull + (uint64_t)case_idx * 7919u;
    *n_in = 0;
    for (int k = 0; k < 3; k++) {
        char nm[8];
        snprintf(nm, sizeof nm, "in%d", k);
        int t = wg_find(g, nm);
        if (t < 0) break;
        size_t n = (size_t)wg_numel(&g->t[t]);
        bufs[k] = malloc(n * 4);
        if (g->t[t].dtype == WSD_DT_I32) {
            int32_t *iv = (int32_t *)bufs[k];
            for (size_t i = 0; i < n; i++) iv[i] = (int32_t)((i * 37u + 11u) % (strstr(cases[case_idx].name, "split") ? 100u : 50u));
        } else if (!strcmp(cases[case_idx].name, "timestep embed flip") || !strcmp(cases[case_idx].name, "timestep embed shift 1")) {
            const float tv[4] = {981.0f, 1.0f, 500.5f, 946.4197f};
            memcpy(bufs[k], tv, sizeof tv);
        } else {
            for (size_t i = 0; i < n; i++) bufs[k][i] = frand();
        }
        sizes[k] = n * 4;
        ids[k] = t;
        (*n_in)++;
    }
    rng = save;
}

/* Builds case c, runs it on `be`, returns the output (NULL on failure, with a message). */
static float *run_case(wsd_backend *be, int c, wtab *w, size_t *n_out, char *why, size_t why_cap)
{
    wsd_err err = {0};
    wg_graph *g = wg_new(weight_fn, w);
    /* Each case frees its weights, so a later case's weights can land at the
     * same addresses: give every graph its own weight-set id, as every loaded
     * model has, so the backend's weight cache never serves a stale layout. */
    static uint64_t next_uid = 1000;
    if (g) g->weights_uid = ++next_uid;
    int out = cases[c].build(g);
    if (out >= 0) wg_output(g, out, "out");
    if (wg_status(g, &err) != WSD_OK) {
        snprintf(why, why_cap, "build: %s", err.msg);
        wg_free(g);
        return NULL;
    }
    wg_plan plan = {0};
    float *res = NULL;
    wsd_exec *ex = NULL;
    float *in[3] = {0};
    size_t sz[3];
    int ids[3], n_in = 0;
    if (wg_plan_memory(g, &plan, &err) != WSD_OK || be->iface->compile(be, g, &plan, &ex, &err) != WSD_OK) {
        snprintf(why, why_cap, "compile: %s", err.msg);
        goto done;
    }
    fill_inputs(g, c, in, sz, ids, &n_in);
    for (int k = 0; k < n_in; k++)
        if (be->iface->set_input(ex, ids[k], in[k], sz[k], &err) != WSD_OK) {
            snprintf(why, why_cap, "set_input: %s", err.msg);
            goto done;
        }
    if (be->iface->run(ex, NULL, NULL, &err) != WSD_OK) {
        snprintf(why, why_cap, "run: %s", err.msg);
        goto done;
    }
    *n_out = (size_t)wg_numel(&g->t[out]);
    res = malloc(*n_out * 4);
    if (be->iface->get_output(ex, out, res, *n_out * 4, &err) != WSD_OK) {
        snprintf(why, why_cap, "get_output: %s", err.msg);
        free(res);
        res = NULL;
    }
done:
    for (int k = 0; k < n_in; k++) free(in[k]);
    if (ex) be->iface->exec_free(ex);
    wg_free(g);
    return res;
}

static void check_case(wsd_backend *cpu, wsd_backend *gpu, int c, int use16, const char *label)
{
    wtab w = {0};
    w.use16 = use16;
    char why[1200] = "";
    size_t n1 = 0, n2 = 0;
    float *ref = run_case(cpu, c, &w, &n1, why, sizeof why);
    CHECKF(ref != NULL, "%s cpu: %s", cases[c].name, why);
    float *got = ref ? run_case(gpu, c, &w, &n2, why, sizeof why) : NULL;
    char what[160];
    snprintf(what, sizeof what, "%s [%s]", cases[c].name, label);
    CHECKF(!ref || got != NULL, "%s: %s", what, why);
    if (ref && got) {
        if (n1 != n2)
            CHECKF(0, "%s: sizes differ", what);
        else
            tu_check_close(what, got, ref, n1, REL, ABS);
    }
    free(ref);
    free(got);
    wtab_free(&w);
}

/* A held input (wg_held_nodes): after the first run the WebGPU exec skips
 * the nodes that read only it, until it is set again. Three runs: (x1, c1),
 * (x2, c1: the held result is reused), (x2, c2: recomputed), each against
 * the CPU, which runs every node every time. */
static void check_held(wsd_backend *cpu, wsd_backend *gpu)
{
    wsd_backend *be[2] = {cpu, gpu};
    float x[2][80], c[2][80], out[2][3][80];
    uint32_t s = 12345;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 80; i++) {
            s = s * 1664525u + 1013904223u;
            x[k][i] = (float)(s >> 8) / 16777216.0f - 0.5f;
            s = s * 1664525u + 1013904223u;
            c[k][i] = (float)(s >> 8) / 16777216.0f - 0.5f;
        }
    int ok = 1, n_held = -1;
    wtab w = {0}; /* both backends get the same weights */
    for (int b = 0; b < 2 && ok; b++) {
        wsd_err err = {0};
        wg_graph *g = wg_new(weight_fn, &w);
        static uint64_t uid = 0x4E1D000ull;
        g->weights_uid = ++uid;
        int xi = wg_input(g, "x", WSD_DT_F32, S(2, 5, 8)), ci = wg_input(g, "ctx", WSD_DT_F32, S(2, 5, 8));
        g->t[ci].held = 1;
        int kv = wg_linear(g, ci, wg_weight(g, "w", S(8, 8)), wg_weight(g, "b", S(8)));
        int y = wg_mul(g, xi, wg_unary(g, WG_OP_SILU, kv)); /* the silu is held too */
        wg_output(g, y, "y");
        wg_plan plan = {0};
        wsd_exec *ex = NULL;
        ok = wg_status(g, &err) == WSD_OK && wg_plan_memory(g, &plan, &err) == WSD_OK &&
             be[b]->iface->compile(be[b], g, &plan, &ex, &err) == WSD_OK;
        if (ok && b == 1) {
            const wgl_prog *p = wsd_webgpu_exec_prog(ex);
            n_held = 0;
            for (int i = 0; i < p->n_cmds; i++) n_held += p->cmds[i].held;
        }
        static const int which[3][2] = {{0, 0}, {1, 0}, {1, 1}}; /* (x, ctx) per run */
        for (int r = 0; r < 3 && ok; r++) {
            ok = be[b]->iface->set_input(ex, xi, x[which[r][0]], sizeof x[0], &err) == WSD_OK;
            if (ok && (r == 0 || which[r][1] != which[r - 1][1]))
                ok = be[b]->iface->set_input(ex, ci, c[which[r][1]], sizeof c[0], &err) == WSD_OK;
            ok = ok && be[b]->iface->run(ex, NULL, NULL, &err) == WSD_OK &&
                 be[b]->iface->get_output(ex, y, out[b][r], sizeof out[b][r], &err) == WSD_OK;
        }
        CHECKF(ok, "held input, %s: %s", b ? "webgpu" : "cpu", err.msg);
        if (ex) be[b]->iface->exec_free(ex);
        wg_free(g);
    }
    wtab_free(&w);
    CHECKF(n_held > 0, "held input: the WebGPU program marks %d commands held", n_held);
    for (int r = 0; r < 3 && ok; r++) {
        char what[64];
        snprintf(what, sizeof what, "held input, run %d", r + 1);
        tu_check_close(what, out[1][r], out[0][r], 80, REL, ABS);
    }
}

/* A linear program over linked state (wg_linprog + wg_link: the denoising
 * step's tail): three runs with different programs (every op kind, a clamp,
 * a guidance combine), the state carried from run to run by the link and the
 * model output fed back as in the pipeline; each run against the CPU. */
static void check_linprog(wsd_backend *cpu, wsd_backend *gpu)
{
    enum { L = 70, NS = 3, REGS = NS + 2 + 1 + 1 };
    wsd_backend *be[2] = {cpu, gpu};
    float st0[NS * L], outv[2 * L], noise[L], res[2][3][NS * L];
    uint32_t s = 777;
    for (int i = 0; i < NS * L; i++) {
        s = s * 1664525u + 1013904223u;
        st0[i] = (float)(s >> 8) / 16777216.0f * 4.0f - 2.0f;
    }
    for (int i = 0; i < 2 * L; i++) {
        s = s * 1664525u + 1013904223u;
        outv[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
    for (int i = 0; i < L; i++) noise[i] = 0.01f * (float)(i % 13) - 0.06f;
    /* registers: 0..2 state, 3..4 the two outputs, 5 noise, 6 scratch */
    float prog[3][WG_LINPROG_LEN];
    memset(prog, 0, sizeof prog);
    for (int r = 0; r < 3; r++) {
        float *p = prog[r], *op;
        int k = 0;
        op = p + 1 + k++ * WG_LINPROG_OPW; /* r6 = r3 + g (r4 - r3) */
        op[0] = 1, op[1] = 6, op[2] = 2, op[4] = 3, op[5] = 7.5f - (float)r, op[6] = 4;
        op = p + 1 + k++ * WG_LINPROG_OPW; /* r1 = clamp(0.9 r0 - 0.3 r6 + r5, 1.5) */
        op[0] = 0, op[1] = 1, op[2] = 3, op[3] = r == 1 ? 1.5f : 0.0f;
        op[4] = 0, op[5] = 0.9f, op[6] = 6, op[7] = -0.3f, op[8] = 5, op[9] = 1.0f;
        op = p + 1 + k++ * WG_LINPROG_OPW; /* r0 = 0.5 r1 + 0.25 r2 + 0.125 r0 */
        op[0] = 0, op[1] = 0, op[2] = 3, op[4] = 1, op[5] = 0.5f, op[6] = 2, op[7] = 0.25f, op[8] = 0, op[9] = 0.125f;
        op = p + 1 + k++ * WG_LINPROG_OPW; /* r2 = r0 / 1.7 */
        op[0] = 2, op[1] = 2, op[2] = 1, op[4] = 0, op[5] = 1.7f + (float)r;
        p[0] = (float)k;
    }
    int ok = 1;
    for (int b = 0; b < 2 && ok; b++) {
        wsd_err err = {0};
        wg_graph *g = wg_new(NULL, NULL);
        int pi = wg_input(g, "prog", WSD_DT_F32, S(WG_LINPROG_LEN));
        int si = wg_input(g, "state", WSD_DT_F32, S(NS, 2, 5, 7));
        int oi = wg_input(g, "model", WSD_DT_F32, S(2, 2, 5, 7));
        int ni = wg_input(g, "noise", WSD_DT_F32, S(1, 2, 5, 7));
        int y = wg_linprog(g, pi, si, oi, ni, 1);
        wg_output(g, y, "y");
        wg_link(g, y, si);
        wg_plan plan = {0};
        wsd_exec *ex = NULL;
        ok = wg_status(g, &err) == WSD_OK && wg_plan_memory(g, &plan, &err) == WSD_OK &&
             be[b]->iface->compile(be[b], g, &plan, &ex, &err) == WSD_OK &&
             be[b]->iface->set_input(ex, si, st0, sizeof st0, &err) == WSD_OK &&
             be[b]->iface->set_input(ex, oi, outv, sizeof outv, &err) == WSD_OK &&
             be[b]->iface->set_input(ex, ni, noise, sizeof noise, &err) == WSD_OK;
        for (int r = 0; r < 3 && ok; r++)
            ok = be[b]->iface->set_input(ex, pi, prog[r], sizeof prog[r], &err) == WSD_OK &&
                 be[b]->iface->run(ex, NULL, NULL, &err) == WSD_OK && be[b]->iface->wait(ex, 0, &err) == WSD_OK &&
                 be[b]->iface->get_output(ex, y, res[b][r], sizeof res[b][r], &err) == WSD_OK;
        CHECKF(ok, "linprog, %s: %s", b ? "webgpu" : "cpu", err.msg);
        if (ex) be[b]->iface->exec_free(ex);
        wg_free(g);
    }
    /* the CPU result is the reference program run by hand, run after run */
    float ref[NS * L], nxt[NS * L];
    memcpy(ref, st0, sizeof ref);
    for (int r = 0; r < 3 && ok; r++) {
        wg_linprog_run(prog[r], ref, NS, outv, 2, noise, 1, nxt, L);
        memcpy(ref, nxt, sizeof ref);
        char what[64];
        snprintf(what, sizeof what, "linprog cpu, run %d", r + 1);
        CHECKF(memcmp(res[0][r], ref, sizeof ref) == 0, "%s differs from wg_linprog_run", what);
        snprintf(what, sizeof what, "linprog, run %d", r + 1);
        tu_check_close(what, res[1][r], res[0][r], NS * L, REL, ABS);
    }
    /* a malformed program is an error on the CPU, not a crash */
    {
        char msg[160];
        float badp[WG_LINPROG_LEN] = {1, 0, 9, 1};
        CHECK(wg_linprog_check(badp, REGS, msg, sizeof msg) != 0 && strstr(msg, "malformed"));
    }
}

static wsd_backend *make_gpu(int default_limits, wsd_gpu_weights wt, uint64_t max_binding, uint64_t max_buffer)
{
    wsd_err err = {0};
    wsd_backend_options bo = {1, default_limits};
    wsd_webgpu_options wo = {0};
    wo.weights = wt;
    wo.no_tune_db = 1;
    wo.max_binding_override = max_binding;
    wo.max_buffer_override = max_buffer;
    wsd_backend *be = NULL;
    if (wsd_backend_webgpu_create_ex(&bo, &wo, &be, &err) != WSD_OK) {
        tu_webgpu_unavailable("webgpu backend", err.msg);
        return NULL;
    }
    return be;
}

/* A tuner on one case's graph (the in-step one, or the one-node one that
 * `wsd tune` runs): it must write one entry for the graph's hot signature,
 * naming a variant that exists and fits (never "ref" in step: it is not
 * timed there), and that variant must compute what the CPU does. */
static void check_tune(wsd_backend *cpu, wsd_backend *gpu, const char *case_name, int in_step)
{
    const char *how = in_step ? "in-step" : "one-node";
    int c = 0;
    while (c < N_CASES && strcmp(cases[c].name, case_name)) c++;
    if (c == N_CASES) {
        CHECKF(0, "no case %s", case_name);
        return;
    }
    wtab w = {0};
    wg_graph *g = wg_new(weight_fn, &w);
    static uint64_t uid = 0x5157E9000ull;
    g->weights_uid = ++uid;
    int out = cases[c].build(g);
    if (out >= 0) wg_output(g, out, "out");
    wsd_err err = {0};
    CHECKF(wg_status(g, &err) == WSD_OK, "%s: build: %s", case_name, err.msg);
    const gpu_caps *caps = gpu_get_caps(wsd_backend_webgpu_device(gpu));
    char key[64], sig[200] = "";
    wsd_tune_adapter_key(caps, key, sizeof key);
    int fam = WGL_HOT_NONE;
    for (int i = 0; i < g->n_nodes && fam == WGL_HOT_NONE; i++) fam = wgl_node_signature(g, &g->nodes[i], 0, sig, sizeof sig);
    wsd_tune_db *db = wsd_tune_db_load(NULL, 0);
    /* in step, only two tiles (of which one double-buffered) may be picked: the filter is checked too */
    static const char *const allowed = "m32n32k16t2x2,m128n64k8vb";
    wsd_tune_opts o = {30.0, 0, NULL, NULL, in_step ? allowed : NULL};
    int nt = 0;
    wsd_status st = !db       ? WSD_ERR_OUT_OF_MEMORY
                    : in_step ? wsd_webgpu_tune_graph_in_step(gpu, g, db, &o, &nt, &err)
                              : wsd_webgpu_tune_graph(gpu, g, db, &o, &nt, &err);
    CHECKF(st == WSD_OK && nt == 1, "%s: %s tuning: status %d, %d signatures: %s", case_name, how, (int)st, nt, err.msg);
    const char *pick = db ? wsd_tune_db_lookup(db, key, sig) : NULL;
    int known = 0;
    if (pick && fam == WGL_HOT_GEMM) {
        gemm_pick gp = gemm_pick_parse(pick);
        known = gp.v && !(in_step && gp.v->ref) && gemm_variant_fits(gp.v, caps);
        CHECKF(!in_step || (gp.v && (!strcmp(gp.v->name, "m32n32k16t2x2") || !strcmp(gp.v->name, "m128n64k8vb"))),
               "%s: in-step pick %s is not one of %s", case_name, pick, allowed);
    } else if (pick && fam == WGL_HOT_ATTN) {
        for (int v = 0; v < n_attn_variants; v++)
            known |= !strcmp(attn_variants[v].name, pick) && !(in_step && attn_variants[v].kind == ATTN_REF);
    }
    CHECKF(known, "%s: %s tuning picked %s for %s", case_name, how, pick ? pick : "nothing", sig);
    printf("%s tuning: %s -> %s\n", how, sig, pick ? pick : "(none)");
    if (known) {
        wsd_backend_webgpu_set_variant(gpu, pick);
        char label[80];
        snprintf(label, sizeof label, "%s pick %s", how, pick);
        check_case(cpu, gpu, c, 0, label);
        wsd_backend_webgpu_set_variant(gpu, NULL);
    }
    wsd_tune_db_free(db);
    wg_free(g);
    wtab_free(&w);
}

int main(int argc, char **argv)
{
    if (!getenv("VK_ICD_FILENAMES") && access("/usr/lib/chromium/vk_swiftshader_icd.json", R_OK) == 0)
        setenv("VK_ICD_FILENAMES", "/usr/lib/chromium/vk_swiftshader_icd.json", 1);
    const char *only = argc > 1 ? argv[1] : NULL; /* substring filter on case names */
    wsd_err err = {0};
    wsd_backend *cpu = NULL;
    wsd_backend_options bo = {1, 0};
    CHECKF(wsd_backend_cpu_create(&bo, &cpu, &err) == WSD_OK, "cpu: %s", err.msg);
    wsd_backend *gpu = make_gpu(0, WSD_GPU_WEIGHTS_F32, 0, 0);
    if (!cpu || !gpu) return tu_finish();
    const gpu_caps *caps = gpu_get_caps(wsd_backend_webgpu_device(gpu));
    printf("adapter: %s (%s)\n", caps->adapter, caps->backend);

    /* 1. float32 weights, device limits */
    for (int c = 0; c < N_CASES; c++)
        if (!only || strstr(cases[c].name, only)) check_case(cpu, gpu, c, 0, "f32");

    /* 2. every variant of the hot operators against the CPU (and so against "ref") */
    for (int c = 0; c < N_CASES; c++) {
        if (!cases[c].hot || (only && !strstr(cases[c].name, only))) continue;
        if (!strcmp(cases[c].hot, "gemm")) {
            for (int v = 0; v < n_gemm_variants; v++) {
                /* 3x3 stride-1 pad-1 convolutions: the cases named "3x3", the upsampling one and K=576 */
                int conv3s1 = strstr(cases[c].name, "3x3") || strstr(cases[c].name, "upsample") ||
                              strstr(cases[c].name, "K=576");
                /* gemv: linear layers only (ones with more rows fall back to the default tile) */
                int applies = gemm_variants[v].gemv ? !strncmp(cases[c].name, "linear", 6)
                                                    : gemm_variant_applies(&gemm_variants[v], conv3s1);
                if (!gemm_variant_fits(&gemm_variants[v], caps) || !applies) continue;
                wsd_backend_webgpu_set_variant(gpu, gemm_variants[v].name);
                check_case(cpu, gpu, c, 0, gemm_variants[v].name);
            }
            /* split-K (partial sums in scratch, then a reduction) */
            static const char *const splits[] = {"m32n32k16t2x2/s2", "m64n64k16t4x4/s3", "m16n64k16t1x4/s8",
                                                 "m128n64k8vb/s3", "m128n128k16v/s2", "p128h8w16/s2", "p64h8w16/s3",
                                                 "w128n128k8v/s3", "w64n128k8v/s2"};
            int conv3s1 = strstr(cases[c].name, "3x3") || strstr(cases[c].name, "upsample") ||
                          strstr(cases[c].name, "K=576");
            for (size_t v = 0; v < sizeof splits / sizeof splits[0]; v++) {
                if ((splits[v][0] == 'p' || splits[v][0] == 'w') && !conv3s1) continue;
                wsd_backend_webgpu_set_variant(gpu, splits[v]);
                check_case(cpu, gpu, c, 0, splits[v]);
            }
        } else if (!strcmp(cases[c].hot, "attn")) {
            /* head sizes (d, dv) of the attention cases: variants that do not fit them would run the default */
            uint32_t hd = 16, hdv = 16;
            if (!strcmp(cases[c].name, "attention 4 heads")) hd = 4, hdv = 6;
            if (!strcmp(cases[c].name, "attention 1 head, 72 channels")) hd = hdv = 72;
            if (!strcmp(cases[c].name, "attention q=k=v")) hd = hdv = 4;
            for (int v = 0; v < n_attn_variants; v++) {
                if ((attn_variants[v].kind == ATTN_FAST || attn_variants[v].kind == ATTN_REG || attn_variants[v].kind == ATTN_PAIR) &&
                    !attn_variant_fits2(&attn_variants[v], hd, hdv, caps))
                    continue;
                wsd_backend_webgpu_set_variant(gpu, attn_variants[v].name);
                check_case(cpu, gpu, c, 0, attn_variants[v].name);
            }
        } else {
            for (int v = 0; v < n_gn_variants; v++) {
                wsd_backend_webgpu_set_variant(gpu, gn_variants[v].name);
                check_case(cpu, gpu, c, 0, gn_variants[v].name);
            }
        }
        wsd_backend_webgpu_set_variant(gpu, NULL);
    }
    wsd_backend_destroy(gpu);

    /* 3. packed-f16 weights (CPU gets the same rounded weights) */
    gpu = make_gpu(0, WSD_GPU_WEIGHTS_F16, 0, 0);
    if (gpu) {
        for (int c = 0; c < N_CASES; c++)
            if (!only || strstr(cases[c].name, only)) check_case(cpu, gpu, c, 1, "f16 weights");
        /* the Winograd kernels combine packed-f16 filter taps themselves */
        static const char *const wino_f16[] = {"w128n128k8v", "w64n128k8v/s2"};
        for (size_t v = 0; v < sizeof wino_f16 / sizeof wino_f16[0]; v++) {
            wsd_backend_webgpu_set_variant(gpu, wino_f16[v]);
            for (int c = 0; c < N_CASES; c++)
                if ((strstr(cases[c].name, "3x3") || strstr(cases[c].name, "upsample x2 ->")) &&
                    (!only || strstr(cases[c].name, only))) {
                    char label[48];
                    snprintf(label, sizeof label, "f16 weights, %s", wino_f16[v]);
                    check_case(cpu, gpu, c, 1, label);
                }
        }
        wsd_backend_webgpu_set_variant(gpu, NULL);
        wsd_backend_destroy(gpu);
    }

    /* 4. spec-default limits */
    gpu = make_gpu(1, WSD_GPU_WEIGHTS_F32, 0, 0);
    if (gpu) {
        const gpu_caps *dc = gpu_get_caps(wsd_backend_webgpu_device(gpu));
        CHECKF(dc->max_storage_binding == (128ull << 20) && dc->max_buffer == (256ull << 20),
               "--gpu-limits default gave binding %llu, buffer %llu", (unsigned long long)dc->max_storage_binding,
               (unsigned long long)dc->max_buffer);
        for (int c = 0; c < N_CASES; c++)
            if (!only || strstr(cases[c].name, only)) check_case(cpu, gpu, c, 0, "default limits");
        wsd_backend_destroy(gpu);
    }

    /* 4a. a held input: its nodes are skipped until it changes */
    if (!only || strstr("held input", only)) {
        gpu = make_gpu(0, WSD_GPU_WEIGHTS_F32, 0, 0);
        if (gpu) {
            check_held(cpu, gpu);
            wsd_backend_destroy(gpu);
        }
    }

    /* 4a'. a linear program over linked state (the denoising step's tail) */
    if (!only || strstr("linprog", only)) {
        gpu = make_gpu(0, WSD_GPU_WEIGHTS_F32, 0, 0);
        if (gpu) {
            check_linprog(cpu, gpu);
            wsd_backend_destroy(gpu);
        }
    }

    /* 4b. both tuners (a gemm with a second split-K pass, an attention) */
    if (!only || strstr("in-step tuning, one-node tuning", only)) {
        gpu = make_gpu(0, WSD_GPU_WEIGHTS_F32, 0, 0);
        if (gpu) {
            for (int in_step = 0; in_step < 2; in_step++) {
                check_tune(cpu, gpu, "linear K=600", in_step);
                check_tune(cpu, gpu, "attention causal", in_step);
            }
            wsd_backend_destroy(gpu);
        }
    }

    /* 5. pretend limits of 4 KiB per binding and 16 KiB per buffer: the
     * splitting paths (conv channel chunks with accumulation, group-norm
     * segment ranges, element-wise pieces, row pieces, embedding table parts,
     * arenas over several buffers) run on the "split" cases. */
    gpu = make_gpu(1, WSD_GPU_WEIGHTS_F32, 4096, 16384);
    if (gpu) {
        for (int c = 0; c < N_CASES; c++) {
            if (strncmp(cases[c].name, "split ", 6) || (only && !strstr(cases[c].name, only))) continue;
            check_case(cpu, gpu, c, 0, "4 KiB bindings");
        }
        /* Winograd products over several chunks of tiles (each chunk's
         * scratch within one 4 KiB binding) */
        wsd_backend_webgpu_set_variant(gpu, "w128n128k8v/s2");
        for (int c = 0; c < N_CASES; c++)
            if ((!strcmp(cases[c].name, "conv2d 3x3") || !strcmp(cases[c].name, "upsample x2 -> conv2d")) &&
                (!only || strstr(cases[c].name, only)))
                check_case(cpu, gpu, c, 0, "4 KiB bindings, w128n128k8v/s2, chunks");
        wsd_backend_webgpu_set_variant(gpu, NULL);
        wsd_backend_destroy(gpu);
    }
    wsd_backend_destroy(cpu);
    for (int i = 0; i < n_graveyard; i++) free(graveyard[i]);
    return tu_finish();
}
