/* CLIP text encoder (transformers CLIPTextModel) as a graph.
 *
 *   input_ids [B,77] -> token_embedding + position_embedding -> [B,77,D]
 *   -> layers x (x + attn(LN1 x, causal); x + fc2(act(fc1(LN2 x))))
 *   -> final_layer_norm -> last_hidden_state [B,77,D]
 * No padding mask (as the SD pipelines): pad tokens attend to everything before them.
 */
#include "models/blocks.h"
#include "models/models.h"

#include <math.h>
#include <stdio.h>

#define SH(...) WG_NDIM(__VA_ARGS__), WG_SHAPE(__VA_ARGS__)

int clip_build(wg_graph *g, const clip_config *c, int batch, const build_opts *o)
{
    int debug = o && o->debug_outputs;
    int T = c->max_positions, D = c->hidden;
    char p[256];
    int ids = wg_input(g, "input_ids", WSD_DT_I32, SH(batch, T));
    int tok = wg_embedding(g, ids, wg_weight(g, "text_model.embeddings.token_embedding.weight", SH(c->vocab, D)));
    if (debug) wg_output(g, tok, "embeddings_token");
    int pos = wg_weight(g, "text_model.embeddings.position_embedding.weight", SH(T, D));
    int x = wg_add(g, tok, pos);
    if (debug) wg_output(g, x, "hidden_states.0");
    int stop = c->layers - (o ? o->clip_skip : 0);
    float scale = 1.0f / sqrtf((float)(D / c->heads));
    for (int l = 0; l < stop; l++) {
        char q[256];
        snprintf(p, sizeof p, "text_model.encoder.layers.%d", l);
        snprintf(q, sizeof q, "%s.layer_norm1", p);
        int h = blk_layer_norm(g, q, x, c->ln_eps);
        snprintf(q, sizeof q, "%s.self_attn.q_proj", p);
        int qq = blk_linear(g, q, h, D, 1);
        snprintf(q, sizeof q, "%s.self_attn.k_proj", p);
        int kk = blk_linear(g, q, h, D, 1);
        snprintf(q, sizeof q, "%s.self_attn.v_proj", p);
        int vv = blk_linear(g, q, h, D, 1);
        h = wg_attention(g, qq, kk, vv, c->heads, 1, scale);
        snprintf(q, sizeof q, "%s.self_attn.out_proj", p);
        h = blk_linear(g, q, h, D, 1);
        x = wg_add(g, x, h);
        snprintf(q, sizeof q, "%s.layer_norm2", p);
        h = blk_layer_norm(g, q, x, c->ln_eps);
        snprintf(q, sizeof q, "%s.mlp.fc1", p);
        h = blk_linear(g, q, h, c->intermediate, 1);
        h = wg_unary(g, c->quick_gelu ? WG_OP_QUICK_GELU : WG_OP_GELU, h);
        snprintf(q, sizeof q, "%s.mlp.fc2", p);
        h = blk_linear(g, q, h, D, 1);
        x = wg_add(g, x, h);
        if (debug) {
            snprintf(q, sizeof q, "hidden_states.%d", l + 1);
            wg_output(g, x, q);
        }
    }
    x = blk_layer_norm(g, "text_model.final_layer_norm", x, c->ln_eps);
    wg_output(g, x, "last_hidden_state");
    return x;
}
