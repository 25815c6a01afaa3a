/* For the fuzz targets that build networks (fuzz_json, fuzz_model,
 * fuzz_checkpoint): a graph either builds and plans its memory, or fails
 * with a message. Include after defining REQUIRE. */
#ifndef WSD_FUZZ_GRAPHS_H
#define WSD_FUZZ_GRAPHS_H

#include "graph/graph.h"

/* Checks and frees g (NULL: allocation failed, nothing to check). */
static void fuzz_check_graph(wg_graph *g)
{
    if (!g) return;
    wsd_err err = {0};
    if (wg_status(g, &err) == WSD_OK) {
        wg_plan plan = {0};
        if (wg_plan_memory(g, &plan, &err) != WSD_OK) REQUIRE(err.msg[0]);
    } else {
        REQUIRE(err.msg[0]);
    }
    wg_free(g);
}

#ifdef WSD_MODELS_MODEL_H
/* Every network of a loaded model on its weights, at the smallest sizes its
 * levels allow. */
static void fuzz_build_all(const wsd_model *m)
{
    for (int k = 0; k < 4; k++) {
        model_component c = k == 0 ? COMP_TEXT_ENCODER : k == 1 ? COMP_UNET : COMP_VAE;
        wg_graph *g = model_graph_new(m, c);
        if (!g) continue;
        if (k == 0) clip_build(g, &m->clip, 1, NULL);
        else if (k == 1) unet_build(g, &m->unet, 1, 1 << (m->unet.levels - 1), 1 << (m->unet.levels - 1), m->clip.max_positions, NULL);
        else if (k == 2) vae_decoder_build(g, &m->vae, 1, 1, 1, NULL);
        else vae_encoder_build(g, &m->vae, 1, 8, 8, NULL);
        fuzz_check_graph(g);
    }
}
#endif

#endif
